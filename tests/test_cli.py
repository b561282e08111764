"""The command line's own options: version, and defaults shown in --help (fit/predict: test_cli_geo.py)."""

import re

import pytest

from hyperspectral_cl import __version__
from hyperspectral_cl.cli import build_parser


def test_version(capsys):
    with pytest.raises(SystemExit) as excinfo:
        build_parser().parse_args(["--version"])
    assert excinfo.value.code == 0 and capsys.readouterr().out.strip() == f"hyperspectral-cl {__version__}"


def test_reproduce_help_shows_every_default(capsys):
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["reproduce", "--help"])
    text = capsys.readouterr().out
    # each option's entry: from its "--name" line to the next option; flags (no METAVAR) need no default
    entries = re.split(r"\n  (?=-)", text.split("options:", 1)[1])
    valued = [e for e in entries if re.match(r"--[a-z-]+ [A-Z{]", e)]
    assert len(valued) >= 10
    for entry in valued:
        assert "default" in " ".join(entry.split()), entry
    assert "cached" in text


def test_every_command_keeps_freed_memory_before_it_runs(tmp_path, monkeypatch, capsys):
    import hyperspectral_cl.cli as cli

    calls = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append(True))
    missing = str(tmp_path / "missing")
    code = cli.main(["predict", "--model", missing, "--image", missing, "--out", str(tmp_path / "map.tif")])
    assert code == 2 and calls == [True]  # before the command's own work, even one that fails
    assert "hyperspectral-cl predict: error" in capsys.readouterr().err
