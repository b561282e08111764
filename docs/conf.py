"""Sphinx configuration of the hyperspectral_cl documentation (built by .ci/run with warnings as errors)."""

import importlib
import os
import warnings
from pathlib import Path

import hyperspectral_cl

project = "hyperspectral_cl"
author = "the hyperspectral_cl developers"
copyright = "2026, the hyperspectral_cl developers"
release = hyperspectral_cl.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "bad_inputs.md", "**/README.md", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "auto_examples/*.json"]
templates_path = ["_templates"]
nitpicky = True  # a broken cross-reference is a warning, and warnings fail the build
nitpick_ignore_regex = [
    # other projects' objects: without intersphinx (offline CI) they stay plain text
    (r"py:.*", r"(python:|sklearn|torch|skorch|numpy|np|scipy|pandas|pd|joblib|dask|distributed|rasterio|accelerate|"
               r"matplotlib|spectral|safetensors|kornia|pathlib|os|io|typing|collections|concurrent|warnings|"
               r"builtins)\b.*"),
    # types named in prose inside numpydoc "Parameters" sections, not objects to link
    (r"py:class", r"(array-like|ndarray|int|float|str|bool|dict|list|tuple|callable|optional|default.*|of|shape.*"
                  r"|or|None|path-like|iterable|sequence|object|function|file-like|Tensor|nn\.Module|module)"),
]

# -- MyST: the user guide is Markdown; $...$ and $$...$$ are maths
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]

# The published site loads MathJax 3 from its CDN. To check the equations offline (no CDN), point this at a
# local MathJax 2 (Debian: apt-get install libjs-mathjax; then
# HYPERSPECTRAL_CL_MATHJAX=/usr/share/javascript/mathjax/MathJax.js). MyST marks its sections
# mathjax_ignore and relies on MathJax 3's processHtmlClass, whose MathJax 2 spelling is tex2jax's.
if os.environ.get("HYPERSPECTRAL_CL_MATHJAX"):
    mathjax_path = "file://" + os.path.abspath(os.environ["HYPERSPECTRAL_CL_MATHJAX"]) + "?config=TeX-AMS-MML_HTMLorMML"
    mathjax2_config = {"tex2jax": {"processClass": "math|output_area", "ignoreClass": "tex2jax_ignore|mathjax_ignore",
                                   "inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]]}}
myst_heading_anchors = 3

# -- autodoc / autosummary / numpydoc
autosummary_generate = True
# scikit-learn generates the metadata-routing setters; its own documentation describes them
autodoc_default_options = {
    "members": True, "inherited-members": False, "show-inheritance": True,
    "exclude-members": "set_fit_request, set_partial_fit_request, set_predict_request, set_score_request, "
                       "set_split_request, set_transform_request, set_output, get_metadata_routing",
}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# parameter types stay text: offline there is nothing to link "array-like" or "int" to
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "sklearn": ("https://scikit-learn.org/stable", None),
    "torch": ("https://pytorch.org/docs/stable", None),
    "skorch": ("https://skorch.readthedocs.io/en/stable", None),
}
# the CI machine has no internet: cross-references into other projects stay plain text there
if os.environ.get("HSCL_DOCS_OFFLINE", "1") == "1":
    intersphinx_mapping = {}

# -- sphinx-gallery: examples/ run at build time on small settings
sphinx_gallery_conf = {
    "examples_dirs": str(Path(__file__).parent.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "download_all_examples": False,
    "within_subsection_order": "FileNameSortKey",
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 1,
    "backreferences_dir": "generated/backreferences",
    "doc_module": ("hyperspectral_cl",),
    "reference_url": {"hyperspectral_cl": None},
}
warnings.filterwarnings("ignore", category=UserWarning, message="Matplotlib is currently using agg")

# -- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"hyperspectral_cl {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
}
html_show_sourcelink = False


# -- one object, several names: docstrings name objects where they are defined (hyperspectral_cl.mapping.
# predict_map), where they are re-exported (hyperspectral_cl.predict_map) or relative to their own module
# (Scene); the API reference documents each object once. Resolve any such name to the documented one.
def _documented_names(env):
    """``id(object) -> documented full name`` for every object the Python domain documents."""
    names = {}
    for fullname in env.get_domain("py").objects:
        obj = _lookup(fullname)
        if obj is not None:
            names.setdefault(id(obj), fullname)
    return names


def _lookup(dotted):
    """The object a dotted name refers to (module attribute or class member), or None."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _resolve_alias(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    context = [node.get("py:class"), node.get("py:module")]
    # the module an object's docstring was written in: relative names there mean that module's names
    page = node["refdoc"].rpartition("/")[2]
    documented = _lookup(page) if page.startswith("hyperspectral_cl.") else None
    home = getattr(documented, "__module__", None)
    candidates = ([target] + [f"{c}.{target}" for c in context if c] + [f"hyperspectral_cl.{target}"]
                  + ([f"{home}.{target}"] if home else []))
    if not hasattr(env, "_hscl_documented"):
        env._hscl_documented = _documented_names(env)
    found = None
    for name in candidates:
        obj = _lookup(name)
        if obj is not None and not isinstance(obj, (int, float, str, bool)):
            found = env._hscl_documented.get(id(obj))
            if found is not None:
                break
    if found is None:
        # last: a short name that exactly one documented object of this package carries
        short = target.rpartition(".")[2]
        matches = [full for full in env._hscl_documented.values() if full.rpartition(".")[2] == short]
        found = matches[0] if len(matches) == 1 else None
    if found is None:
        return None
    return env.get_domain("py").resolve_xref(env, node["refdoc"], app.builder, "obj", found, node, contnode)


def setup(app):
    app.connect("missing-reference", _resolve_alias)
