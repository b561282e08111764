"""Sizes and search spaces of the reproduction experiment (``quick``, ``cpu``, ``paper-cpu``, ``full``)."""

from dataclasses import asdict, dataclass, replace

__all__ = ["BACKBONES", "LITERAL_VARIANTS", "PAPER_R2", "PRESETS", "VARIANTS", "Preset", "get_preset"]

#: the paper's five backbones, in its column order
BACKBONES = ("luo", "hamida", "li", "atik", "varahagiri")

#: variant name -> the estimator's ``augment`` (None: the MSE-only baseline)
VARIANTS = {
    "baseline": None,
    "spectral": "spectral",
    "spatial": "spatial",
    "spectral+spatial": "spectral-spatial",
    "paper recipe: baseline": None,
    "paper recipe: spectral+spatial": "spectral-spatial",
}

#: the variants trained with the paper's recipe (SGD, flattened maps, no ridge, no early stopping), as the
#: package did before 0.2; the others use the estimator's default recipe
LITERAL_VARIANTS = ("paper recipe: baseline", "paper recipe: spectral+spatial")

#: the paper's R^2 (Tables 1-4, as summarised in the protocol notes), for side-by-side reading
PAPER_R2 = {
    "synthetic": {
        "baseline": {"luo": 0.43, "hamida": 0.40, "li": 0.56, "atik": 0.66, "varahagiri": 0.81},
        "spectral+spatial": {"luo": 0.58, "hamida": 0.59, "li": 0.81, "atik": 0.78, "varahagiri": 0.93},
    },
    "samson": {
        "baseline": {"luo": 0.59, "hamida": 0.56, "li": 0.55, "atik": 0.65, "varahagiri": 0.76},
        "spectral+spatial": {"luo": 0.76, "hamida": 0.75, "li": 0.74, "atik": 0.76, "varahagiri": 0.91},
    },
}


@dataclass(frozen=True)
class Preset:
    """How large the reproduction experiment is.

    Parameters
    ----------
    name : str
        Preset name.
    seeds : int
        Number of seeds per row. A seed draws the training windows (from the
        split's training pool) and initialises the network; the test windows of
        a split are the same for every seed.
    epochs : int
        Training epochs of the paper-recipe rows.
    n_train : int
        Training windows per run, drawn from the split's training pool.
    n_test : int or None
        Test windows (a fixed draw from the test pool); None uses them all.
    window : int
        Window side in pixels; the networks see the whole window (patch = window)
        and the label is the window's mean abundance.
    bands : int or None
        Approximate band count after spectral binning (adjacent bands averaged
        in groups of ``ceil(n_bands / bands)``); None keeps every band.
    synthetic_shape : tuple of int
        Size of the synthetic scene.
    alphas, radius_quantiles, temperatures : tuple of float
        The search space of ``alpha``, ``radius`` and ``temperature``. Radii are
        given as quantiles of the pairwise target distances of the training
        windows and turned into distances before the search.
    batch_size : int
        Mini-batch size of the paper-recipe rows (the paper's is 256; with a
        few hundred training windows, 64 gives SGD enough steps). The
        default-recipe rows use the estimator's default (64).
    contrastive : str
        The contrastive loss (see :mod:`hyperspectral_cl.losses`).
    inner_folds : int
        Folds of the inner cross-validation (search and classical baselines).
    lr : float
        SGD learning rate of the paper-recipe rows (the default-recipe rows
        use the estimator's default AdamW rate). A run (or a whole search)
        whose loss diverges is restarted with a third of its rate, then a
        ninth; the rate used is recorded with the result.
    test_fraction : float
        Share of the windows in the random split's test pool (the spatial split
        tests on one of four blocks, about the same share).
    max_flat_features : int
        Largest flattened window (pixels x bands) the classical regressors are
        run on.
    max_epochs : int or None
        Epoch budget of the default-recipe rows (also inside the search);
        their early stopping usually ends training sooner. None: the
        estimator's default.
    backbones : tuple of str
        The backbones run when none are named (``run_reproduction(backbones=None)``,
        the command line without ``--backbones``). Not part of a task's cache
        key: each task records its own backbone.
    variants : tuple of str
        The variants (keys of :data:`VARIANTS`) run when none are named
        (``run_reproduction(variants=None)``). Not part of a task's cache key
        either: each task records its own variant.
    """

    name: str
    seeds: int
    epochs: int
    n_train: int
    n_test: int
    window: int
    bands: int
    synthetic_shape: tuple
    alphas: tuple
    radius_quantiles: tuple
    temperatures: tuple
    batch_size: int = 64
    contrastive: str = "supcon"
    inner_folds: int = 2
    lr: float = 3e-3
    test_fraction: float = 0.25
    max_flat_features: int = 30000
    max_epochs: int = None
    backbones: tuple = BACKBONES
    variants: tuple = tuple(VARIANTS)

    def __post_init__(self):
        for field, what in (("backbones", "backbone"), ("variants", "variant")):
            given = getattr(self, field)
            names = tuple(given)  # a generator is read once
            if isinstance(given, str) or not all(isinstance(n, str) for n in names):
                raise TypeError(f"{field} must be a sequence of {what} names, got {given!r}")
            if len(set(names)) < len(names):
                raise ValueError(f"{field} must name each {what} once, got {names!r}")
            object.__setattr__(self, field, names)  # hashable, like the other fields

    def as_dict(self):
        """The preset as a plain dict (recorded with every result)."""
        return asdict(self)

    @property
    def search_size(self):
        """Number of candidate settings in the search."""
        return len(self.alphas) * len(self.radius_quantiles) * len(self.temperatures)


PRESETS = {
    # minutes on 2 CPU cores; what the tests run, further shrunk
    "quick": Preset(
        "quick", seeds=3, epochs=10, n_train=128, n_test=256, window=5, bands=28, synthetic_shape=(40, 40),
        alphas=(1.0,), radius_quantiles=(0.05, 0.2), temperatures=(0.1,), max_epochs=30,
    ),
    # about 30 minutes per dataset (both splits) on one CPU core; temperature fixed at 0.1 to halve the search
    "cpu": Preset(
        "cpu", seeds=3, epochs=30, n_train=384, n_test=1024, window=5, bands=56, synthetic_shape=(100, 100),
        alphas=(0.1, 1.0), radius_quantiles=(0.05, 0.2), temperatures=(0.1,),
    ),
    # the paper's input size (10 x 10 windows, every band) on CPU cores, for the two backbones that train there in
    # minutes: fewer training windows, seeds and candidates than `full`, and only the variants the paper's tables
    # compare (baseline and spectral+spatial, in both recipes): 1 h 55 min for Samson with 2 workers on 2 AVX2
    # cores (user guide, "Reproducing the paper's tables")
    "paper-cpu": Preset(
        "paper-cpu", seeds=2, epochs=30, n_train=256, n_test=1024, window=10, bands=None, synthetic_shape=(100, 100),
        alphas=(1.0,), radius_quantiles=(0.05, 0.2), temperatures=(0.1,), max_epochs=60, backbones=("li", "hamida"),
        variants=("baseline", "spectral+spatial", "paper recipe: baseline", "paper recipe: spectral+spatial"),
    ),
    # the paper's scale (224 bands, 10 x 10 patches, 100 x 100 scene): meant for a GPU
    "full": Preset(
        "full", seeds=5, epochs=100, n_train=2000, n_test=None, window=10, bands=None, synthetic_shape=(100, 100),
        alphas=(0.01, 0.1, 1.0, 3.0), radius_quantiles=(0.02, 0.05, 0.2), temperatures=(0.05, 0.1, 0.5),
        batch_size=256, lr=1e-3, inner_folds=3,
    ),
}


def get_preset(preset, **overrides):
    """A preset by name (or a :class:`Preset`), with fields replaced by ``overrides``.

    Parameters
    ----------
    preset : str or Preset
        ``'quick'``, ``'cpu'``, ``'paper-cpu'`` or ``'full'``.
    **overrides
        Fields to change, e.g. ``seeds=1``; None values are ignored.

    Returns
    -------
    Preset
    """
    if isinstance(preset, Preset):
        base = preset
    else:
        try:
            base = PRESETS[preset]
        except (KeyError, TypeError):
            raise ValueError(f"preset must be one of {sorted(PRESETS)} or a Preset, got {preset!r}") from None
    overrides = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(overrides) - set(base.as_dict())
    if unknown:
        raise TypeError(f"unknown preset fields {sorted(unknown)}; known: {sorted(base.as_dict())}")
    return replace(base, **overrides)
