"""Figures: abundance maps, spectra, learning curves (matplotlib, an optional extra).

Install with ``pip install hyperspectral-cl[plot]``. matplotlib is imported
only when a function is called, so the rest of the package works without it.
Every function returns the matplotlib ``Figure`` (save it with
``fig.savefig(path)``).
"""

import numpy as np

__all__ = ["plot_abundance_maps", "plot_learning_curves", "plot_spectra"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "hyperspectral_cl.plotting needs matplotlib: pip install hyperspectral-cl[plot] (or pip install matplotlib)"
        ) from exc
    return plt


def _as_maps(a, name):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise ValueError(f"{name} must have shape (height, width) or (height, width, n_targets), got {a.shape}")
    return a


def plot_abundance_maps(truth, prediction=None, target_names=None, *, cmap="viridis", error_cmap="magma",
                        title=None, highlight=None, panel_size=2.6):
    """Truth, prediction and absolute error for each target, on shared colour scales.

    Parameters
    ----------
    truth : array-like of shape (height, width, n_targets) or (height, width), or Scene
        Reference maps (a Scene gives its ``targets`` and ``target_names``).
    prediction : array-like of the same shape, default=None
        Predicted maps, e.g. from :func:`hyperspectral_cl.mapping.predict_map`
        (NaN pixels, such as the border of a ``border='valid'`` map, are left
        blank). None draws the truth only.
    target_names : list of str, default=None
        Row titles.
    cmap, error_cmap : str, default='viridis', 'magma'
        Colour maps of the maps and of the absolute error.
    title : str, default=None
        Figure title.
    highlight : tuple of int, default=None
        ``(top, left, height, width)`` of a rectangle drawn on every panel, e.g.
        the held-out block.
    panel_size : float, default=2.6
        Side of one panel in inches.

    Returns
    -------
    matplotlib.figure.Figure
        One row per target; columns truth, prediction, ``|error|``. Truth and
        prediction share one colour scale over all targets (so maps are
        comparable across rows and columns), and the error panels share another
        starting at 0.
    """
    plt = _pyplot()
    if hasattr(truth, "targets"):
        target_names = target_names or list(getattr(truth, "target_names", []) or []) or None
        if truth.targets is None:
            raise ValueError("the Scene has no targets to draw")
        truth = truth.targets
    truth = _as_maps(truth, "truth")
    n_targets = truth.shape[2]
    maps = [truth]
    if prediction is not None:
        prediction = _as_maps(prediction, "prediction")
        if prediction.shape != truth.shape:
            raise ValueError(f"prediction has shape {prediction.shape}, truth {truth.shape}")
        maps.append(prediction)
    if target_names is None:
        target_names = [f"target {k}" for k in range(n_targets)]
    if len(target_names) != n_targets:
        raise ValueError(f"{len(target_names)} target_names for {n_targets} targets")
    vmin = min(float(np.nanmin(m)) for m in maps)
    vmax = max(float(np.nanmax(m)) for m in maps)
    error = None if prediction is None else np.abs(prediction - truth)
    emax = None if error is None or np.isnan(error).all() else float(np.nanmax(error))
    columns = ["truth"] + ([] if prediction is None else ["prediction", "|error|"])
    aspect = truth.shape[0] / truth.shape[1]
    fig, axes = plt.subplots(
        n_targets, len(columns), squeeze=False, constrained_layout=True,
        figsize=(panel_size * len(columns) + 1.1 * (1 + (prediction is not None)), panel_size * aspect * n_targets + 0.6),
    )
    images = {}
    for k in range(n_targets):
        panels = [truth[:, :, k]] + ([] if prediction is None else [prediction[:, :, k], error[:, :, k]])
        for j, (panel, column) in enumerate(zip(panels, columns, strict=True)):
            ax = axes[k, j]
            if column == "|error|":
                images[column] = ax.imshow(panel, cmap=error_cmap, vmin=0, vmax=emax or 1.0, interpolation="nearest")
            else:
                images[column] = ax.imshow(panel, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if highlight is not None:
                top, left, height, width = highlight
                ax.add_patch(plt.Rectangle((left - 0.5, top - 0.5), width, height, fill=False, edgecolor="white",
                                           linewidth=1.2, linestyle="--"))
            if k == 0:
                ax.set_title(column)
            if j == 0:
                ax.set_ylabel(str(target_names[k]))
    fig.colorbar(images["truth"], ax=axes[:, 1 if prediction is not None else 0].ravel().tolist(), label="value",
                 fraction=0.08, aspect=25)
    if prediction is not None:
        fig.colorbar(images["|error|"], ax=axes[:, 2].ravel().tolist(), label="absolute error", fraction=0.08,
                     aspect=25)
    if title:
        fig.suptitle(title)
    return fig


def plot_spectra(spectra, wavelengths=None, names=None, *, ax=None, bad_bands=None, title=None,
                 ylabel="reflectance"):
    """Spectra (e.g. endmembers) against wavelength.

    Parameters
    ----------
    spectra : array-like of shape (n_bands, n_spectra) or (n_bands,), Scene or SpectralLibrary
        One column per spectrum, the layout of ``Scene.endmembers``. A Scene
        gives its endmembers, wavelengths and target names; a SpectralLibrary
        its spectra, wavelengths and names.
    wavelengths : array-like of shape (n_bands,), default=None
        In nm; None plots against the band index.
    names : list of str, default=None
        Legend entries.
    ax : matplotlib Axes, default=None
        Draw there; None makes a new figure.
    bad_bands : array-like of bool of shape (n_bands,), default=None
        Bands to shade (e.g. ``Scene.bad_bands``).
    title : str, default=None
    ylabel : str, default='reflectance'

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    if hasattr(spectra, "endmembers") and hasattr(spectra, "cube"):  # a Scene
        scene = spectra
        if scene.endmembers is None:
            raise ValueError("the Scene has no endmembers to draw")
        wavelengths = scene.wavelengths if wavelengths is None else wavelengths
        names = names or (scene.target_names if len(scene.target_names) == scene.endmembers.shape[1] else None)
        bad_bands = scene.bad_bands if bad_bands is None else bad_bands
        spectra = scene.endmembers
    elif hasattr(spectra, "spectra") and hasattr(spectra, "names"):  # a SpectralLibrary
        library = spectra
        wavelengths = library.wavelengths if wavelengths is None else wavelengths
        names = names or list(library.names)
        spectra = library.spectra.T
    spectra = np.asarray(spectra, dtype=np.float64)
    if spectra.ndim == 1:
        spectra = spectra[:, None]
    if spectra.ndim != 2:
        raise ValueError(f"spectra must have shape (n_bands, n_spectra), got {spectra.shape}")
    n_bands = spectra.shape[0]
    x = np.arange(n_bands) if wavelengths is None else np.asarray(wavelengths, dtype=np.float64)
    if x.shape != (n_bands,):
        raise ValueError(f"{x.size} wavelengths for {n_bands} bands (spectra must be (n_bands, n_spectra))")
    if names is not None and len(names) != spectra.shape[1]:
        raise ValueError(f"{len(names)} names for {spectra.shape[1]} spectra")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 3.6), constrained_layout=True)
    else:
        fig = ax.figure
    order = np.argsort(x, kind="stable")
    for k in range(spectra.shape[1]):
        ax.plot(x[order], spectra[order, k], label=None if names is None else str(names[k]))
    if bad_bands is not None:
        bad = np.asarray(bad_bands, dtype=bool)
        if bad.shape != (n_bands,):
            raise ValueError(f"bad_bands must have shape ({n_bands},), got {bad.shape}")
        half = 0.5 * (float(np.median(np.diff(x[order]))) if n_bands > 1 else 1.0)
        for i in np.flatnonzero(bad):
            ax.axvspan(x[i] - half, x[i] + half, color="0.85", zorder=0, linewidth=0)
    ax.set_xlabel("band" if wavelengths is None else "wavelength (nm)")
    ax.set_ylabel(ylabel)
    if names is not None and spectra.shape[1] <= 12:
        ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return fig


def plot_learning_curves(history, keys=None, *, title=None):
    """Per-epoch losses from an estimator's history.

    Parameters
    ----------
    history : sequence of dict
        One dict per epoch, e.g. a skorch ``History`` (``net.history_``, or
        ``pipeline[-1].history_``) or any list of dicts with numeric entries
        such as ``train_loss``, ``valid_loss``, ``train_mse``,
        ``train_contrastive``.
    keys : list of str, default=None
        Entries to draw. None: every numeric per-epoch entry except ``epoch``,
        ``dur`` and the ``*_best`` flags.
    title : str, default=None

    Returns
    -------
    matplotlib.figure.Figure
        One panel per quantity (``loss``, ``mse``, ``contrastive``...), with its
        ``train_`` and ``valid_`` curves together; a log scale when the values
        are positive and span more than a factor 20.
    """
    plt = _pyplot()
    epochs = [dict(e) for e in history]
    if not epochs:
        raise ValueError("history is empty: fit the estimator first")
    if keys is None:
        keys = []
        for e in epochs:
            for k, v in e.items():
                if k in ("epoch", "dur", "batches") or k.endswith("_best") or k in keys:
                    continue
                if isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool):
                    keys.append(k)
    if not keys:
        raise ValueError(f"no numeric per-epoch entries in the history (keys: {sorted(epochs[0])})")
    groups = {}
    for k in keys:
        quantity = k.split("_", 1)[1] if k.startswith(("train_", "valid_")) else k
        groups.setdefault(quantity, []).append(k)
    fig, axes = plt.subplots(1, len(groups), figsize=(3.6 * len(groups), 3.0), squeeze=False, constrained_layout=True)
    for ax, (quantity, members) in zip(axes[0], groups.items(), strict=True):
        for k in members:
            x = [e.get("epoch", i + 1) for i, e in enumerate(epochs) if k in e and e[k] is not None]
            y = [float(e[k]) for e in epochs if k in e and e[k] is not None]
            ax.plot(x, y, marker="o" if len(x) < 30 else None, markersize=3, label=k)
            values = np.asarray(y, dtype=float)
            if values.size and (values > 0).all() and values.max() > 20 * values.min():
                ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_title(quantity)
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig
