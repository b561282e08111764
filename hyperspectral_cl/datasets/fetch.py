"""Public scenes, downloaded once into a data home, as scikit-learn's ``fetch_*`` functions bring theirs.

Each file is pinned to a commit of the public repository that holds it and to its
SHA-256 digest: a download that does not match is refused and removed, so a later
call never reads a partial or altered file. Nothing is downloaded when the file is
already in the data home (or when ``download_if_missing=False``).
"""

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .samson import load_samson
from .usgs import load_usgs_library

__all__ = ["RemoteFile", "SAMSON", "USGS_LIBRARY", "fetch_samson", "fetch_usgs_library", "get_data_home"]

#: Environment variable naming the data home (a folder with ``samson/`` and ``usgs_library/``).
DATA_HOME_ENV = "HYPERSPECTRAL_CL_DATA"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """A file of a public dataset: where it is published, where it goes, what it must hash to.

    Attributes
    ----------
    folder : str
        Sub-folder of the data home (``samson``, ``usgs_library``).
    filename : str
        Name of the file in that folder.
    url : str
        Where it is downloaded from (pinned to a commit, so the bytes cannot change).
    sha256 : str
        Hex SHA-256 digest of the file.
    """

    folder: str
    filename: str
    url: str
    sha256: str


#: Samson (95 x 95 pixels, 156 bands, abundances of soil, tree and water): the copy published with
#: Palsson et al.'s hyperspectral unmixing autoencoders (cube ``Y``, abundances ``S_GT``, endmembers ``GT``).
SAMSON = RemoteFile(
    "samson", "Samson.mat",
    "https://raw.githubusercontent.com/burknipalsson/hu_autoencoders/"
    "b445c364e3303305bb025c1923b486a13453b589/Datasets/Samson.mat",
    "49530e80d0dabf6b1fb9cde2d6cf257f89a344afe9c13b2cc912eb22f344de18",
)
#: The USGS 1995 spectral library at the 224 AVIRIS bands (498 spectra), as MUA_SparseUnmixing publishes it.
USGS_LIBRARY = RemoteFile(
    "usgs_library", "USGS_1995_Library.mat",
    "https://raw.githubusercontent.com/ricardoborsoi/MUA_SparseUnmixing/"
    "57802d5b2f77649fb32c2e4c75258f8d91084f7d/USGS_1995_Library.mat",
    "fe2be84e4da2abf6ab00091b36f30a1a8dd247d18a78146f61235c8b5229da63",
)


def get_data_home(data_home=None):
    """The folder fetched files go to.

    Parameters
    ----------
    data_home : str, path-like or None, default=None
        None: the ``HYPERSPECTRAL_CL_DATA`` environment variable, else
        ``~/hyperspectral_cl_data``.

    Returns
    -------
    Path
        The folder (not created here).
    """
    if data_home is None:
        data_home = os.environ.get(DATA_HOME_ENV) or Path.home() / "hyperspectral_cl_data"
    return Path(data_home).expanduser()


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(remote, data_home, download_if_missing, timeout):
    """The local path of ``remote``, downloading and verifying it first when it is missing."""
    path = get_data_home(data_home) / remote.folder / remote.filename
    if path.is_file():
        return path
    if not download_if_missing:
        raise FileNotFoundError(f"{path} does not exist and download_if_missing=False")
    path.parent.mkdir(parents=True, exist_ok=True)
    # download next to the target, then rename: an interrupted download never looks like the file
    fd, partial = tempfile.mkstemp(prefix=f".{remote.filename}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(remote.url, timeout=timeout) as response:
            shutil.copyfileobj(response, out, _CHUNK)
        digest = _sha256(partial)
        if digest != remote.sha256:
            raise OSError(
                f"the file downloaded from {remote.url} has SHA-256 {digest}, expected {remote.sha256}; it was "
                "not kept. The server may have returned an error page: try again later, or download the file "
                f"yourself, check its digest and put it at {path}"
            )
        os.replace(partial, path)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise OSError(
            f"could not download {remote.filename} from {remote.url} ({reason}). Without internet access, "
            f"download it elsewhere and put it at {path} (SHA-256 {remote.sha256}), or pass data_home= a folder "
            f"holding {remote.folder}/{remote.filename}"
        ) from None
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return path


def fetch_samson(data_home=None, *, download_if_missing=True, timeout=60):
    """The Samson scene (95 x 95 pixels, 156 bands, 3 abundance maps), downloaded once.

    The file (3.7 MB) goes to ``<data_home>/samson/Samson.mat`` and is
    checked against its SHA-256 digest; later calls read it from there. Any
    Samson copy :func:`~hyperspectral_cl.datasets.load_samson` reads works
    the same way.

    Parameters
    ----------
    data_home : str, path-like or None, default=None
        Folder for the data (see :func:`get_data_home`).
    download_if_missing : bool, default=True
        False raises FileNotFoundError instead of downloading.
    timeout : float, default=60
        Seconds to wait for the server.

    Returns
    -------
    scene : Scene
        As :func:`~hyperspectral_cl.datasets.load_samson` returns it: ``cube``
        (95, 95, 156), ``targets`` (95, 95, 3) abundances of soil, tree and water.

    Raises
    ------
    FileNotFoundError
        When the file is missing and ``download_if_missing=False``.
    OSError
        When the download fails (the message says where to put the file by
        hand) or the downloaded bytes do not match the digest.

    Examples
    --------
    >>> from hyperspectral_cl.datasets import fetch_samson
    >>> scene = fetch_samson()  # doctest: +SKIP
    >>> scene.cube.shape  # doctest: +SKIP
    (95, 95, 156)
    """
    return load_samson(_fetch(SAMSON, data_home, download_if_missing, timeout))


def fetch_usgs_library(data_home=None, *, download_if_missing=True, timeout=60):
    """The USGS 1995 spectral library at the 224 AVIRIS bands (498 spectra), downloaded once.

    The file (0.4 MB) goes to ``<data_home>/usgs_library/USGS_1995_Library.mat``
    and is checked against its SHA-256 digest. The reproduction's synthetic
    scenes draw their endmembers from it (``hyperspectral-cl reproduce --usgs``,
    or a data folder holding ``usgs_library/``).

    Parameters
    ----------
    data_home : str, path-like or None, default=None
        Folder for the data (see :func:`get_data_home`).
    download_if_missing : bool, default=True
        False raises FileNotFoundError instead of downloading.
    timeout : float, default=60
        Seconds to wait for the server.

    Returns
    -------
    library : SpectralLibrary
        As :func:`~hyperspectral_cl.datasets.load_usgs_library` returns it.

    Raises
    ------
    FileNotFoundError
        When the file is missing and ``download_if_missing=False``.
    OSError
        When the download fails or the downloaded bytes do not match the digest.
    """
    return load_usgs_library(_fetch(USGS_LIBRARY, data_home, download_if_missing, timeout))
