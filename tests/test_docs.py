"""The README's and the user guide's Python blocks run as written, in order, page by page.

Each page's ```python blocks share one namespace (a page reads as one session) and run in a fresh
temporary directory, with matplotlib on its non-interactive backend. A block that needs data only
available from ``../shared/data`` says so by reading ``HYPERSPECTRAL_CL_DATA`` (set here to that folder when it
exists); pages that need it are skipped cleanly otherwise.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "docs" / "user_guide").glob("*.md"))]
_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def python_blocks(text):
    """The source of every ```python block of a Markdown page, in order."""
    return [m.group(1) for m in _BLOCK.finditer(text)]


def test_python_blocks_are_found():
    text = "intro\n```python\nx = 1\n```\n\n```bash\nls\n```\n```python\ny = x + 1\n```\n"
    assert python_blocks(text) == ["x = 1\n", "y = x + 1\n"]


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p.read_text())], ids=lambda p: str(p.relative_to(ROOT)))
def test_page_blocks_run(page, tmp_path, monkeypatch):
    text = page.read_text()
    if "HYPERSPECTRAL_CL_DATA" in text:
        if not SHARED_DATA.is_dir():
            pytest.skip("the page reads ../shared/data, which is absent")
        monkeypatch.setenv("HYPERSPECTRAL_CL_DATA", str(SHARED_DATA))
    pytest.importorskip("matplotlib").use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__doc_page__"}
    for i, block in enumerate(python_blocks(text), 1):
        try:
            exec(compile(block, f"{page.name}, block {i}", "exec"), namespace)  # noqa: S102 - our own docs
        except Exception as exc:
            raise AssertionError(f"{page.relative_to(ROOT)}: Python block {i} failed:\n{block}") from exc
