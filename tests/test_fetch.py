"""fetch_samson / fetch_usgs_library against a local HTTP server on 127.0.0.1 (never the internet)."""

import hashlib
import http.server
import socket
import threading
from dataclasses import replace

import numpy as np
import pytest
from scipy.io import savemat

from hyperspectral_cl.datasets import fetch, fetch_samson, fetch_usgs_library, get_data_home


@pytest.fixture
def server(tmp_path):
    """Serve ``tmp_path / 'served'`` on a free local port; yields (folder, base URL)."""
    root = tmp_path / "served"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def tiny_samson(path, rows=4, cols=5, bands=6):
    """A Samson-layout file (Palsson's copy: Y bands x pixels, S_GT image, GT endmembers); returns cube, abundances."""
    rng = np.random.default_rng(0)
    abundances = rng.dirichlet(np.ones(3), size=(rows, cols))
    endmembers = rng.uniform(0.1, 0.9, size=(3, bands))
    cube = abundances @ endmembers
    savemat(path, {"Y": cube.reshape(rows * cols, bands, order="F").T, "S_GT": abundances, "GT": endmembers,
                   "lines": rows, "cols": cols})
    return cube, abundances


def serve(monkeypatch, root, base, remote_name, filename):
    digest = hashlib.sha256((root / filename).read_bytes()).hexdigest()
    remote = replace(getattr(fetch, remote_name), url=f"{base}/{filename}", sha256=digest)
    monkeypatch.setattr(fetch, remote_name, remote)
    return remote


def test_fetch_samson_downloads_verifies_and_then_reads_locally(server, tmp_path, monkeypatch):
    root, base = server
    cube, abundances = tiny_samson(root / "Samson.mat")
    remote = serve(monkeypatch, root, base, "SAMSON", "Samson.mat")
    home = tmp_path / "home"
    scene = fetch_samson(data_home=home)
    np.testing.assert_allclose(scene.cube, cube, rtol=1e-6)
    np.testing.assert_allclose(scene.targets, abundances, rtol=1e-6)
    stored = home / "samson" / "Samson.mat"
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == remote.sha256
    assert sorted(p.name for p in stored.parent.iterdir()) == ["Samson.mat"]  # no partial file left
    (root / "Samson.mat").unlink()  # the server no longer has it: the second call must not ask
    np.testing.assert_array_equal(fetch_samson(data_home=home).cube, scene.cube)


def test_fetch_refuses_a_file_with_the_wrong_digest(server, tmp_path, monkeypatch):
    root, base = server
    tiny_samson(root / "Samson.mat")
    remote = serve(monkeypatch, root, base, "SAMSON", "Samson.mat")
    monkeypatch.setattr(fetch, "SAMSON", replace(remote, sha256="0" * 64))
    home = tmp_path / "home"
    with pytest.raises(OSError, match=f"has SHA-256 {remote.sha256}, expected 0000"):
        fetch_samson(data_home=home)
    assert list((home / "samson").iterdir()) == []  # nothing kept, not even the partial download


def test_fetch_offline_says_where_to_put_the_file(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(fetch, "USGS_LIBRARY", replace(fetch.USGS_LIBRARY, url=f"http://127.0.0.1:{port}/lib.mat"))
    home = tmp_path / "home"
    expected = str(home / "usgs_library" / "USGS_1995_Library.mat")
    with pytest.raises(OSError, match="could not download USGS_1995_Library.mat") as excinfo:
        fetch_usgs_library(data_home=home, timeout=5)
    assert expected in str(excinfo.value) and fetch.USGS_LIBRARY.sha256 in str(excinfo.value)
    assert list((home / "usgs_library").iterdir()) == []


def test_fetch_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="download_if_missing=False"):
        fetch_samson(data_home=tmp_path, download_if_missing=False)


def test_get_data_home(tmp_path, monkeypatch):
    monkeypatch.delenv(fetch.DATA_HOME_ENV, raising=False)
    assert get_data_home().name == "hyperspectral_cl_data"
    monkeypatch.setenv(fetch.DATA_HOME_ENV, str(tmp_path))
    assert get_data_home() == tmp_path
    assert get_data_home(tmp_path / "x") == tmp_path / "x"


def test_pinned_files_match_the_shared_copies():
    # the digests pinned in the package are those of the copies in ../shared/data, where present
    from conftest import SHARED_DATA

    pairs = [(fetch.SAMSON, SHARED_DATA / "samson" / "Samson_palsson_hu_autoencoders.mat"),
             (fetch.USGS_LIBRARY, SHARED_DATA / "usgs_library" / "USGS_1995_Library.mat")]
    if not all(path.is_file() for _, path in pairs):
        pytest.skip("../shared/data absent")
    for remote, path in pairs:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == remote.sha256
