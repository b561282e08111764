"""A hyperspectral scene: a cube, optional per-pixel targets and their metadata."""

from dataclasses import dataclass, field, replace

import numpy as np

from .._validation import masked_as_nan
from ..sampling import UnlabeledPatches
from ..windows import check_nodata, extract_windows, nodata_pixels, windows_touching
from ._georef import as_crs, as_transform, shift_transform

__all__ = ["Scene"]


@dataclass
class Scene:
    """A hyperspectral image with optional per-pixel targets.

    The way from a file to samples: a loader (or :func:`make_synthetic_scene`)
    returns a Scene, and :meth:`windows` cuts it into the package's data contract
    ``(X, y, coords)``.

    No-data: a pixel is no-data when any of its bands is NaN, is masked (a
    numpy masked array given as ``cube`` is stored as a copy with NaN at its
    masked entries: the values under the mask are never read) or equals the
    declared fill value ``nodata``. :meth:`windows`, :meth:`labeled_windows`
    and :meth:`unlabeled_patches` leave out the windows touching a no-data
    pixel; :func:`~hyperspectral_cl.mapping.predict_map` gives NaN there;
    :meth:`nodata_mask` shows the no-data pixels.

    Parameters
    ----------
    cube : ndarray of shape (height, width, n_bands)
        The image, channels-last. May be a read-only numpy memmap (see
        :func:`load_envi`); it is never copied or modified by the Scene (a
        masked array is, see above).
    targets : ndarray of shape (height, width, n_targets) or None
        Per-pixel targets (e.g. abundances); 2-D targets become ``(h, w, 1)``.
        A masked array's masked entries become NaN (an error in a window cut).
    wavelengths : ndarray of shape (n_bands,) or None
        Band centres in nanometres.
    target_names : list of str
        One name per target (may be empty).
    endmembers : ndarray of shape (n_bands, n_endmembers) or None
        Endmember spectra, when known, one column per endmember.
    bad_bands : ndarray of bool of shape (n_bands,) or None
        True for bands flagged as bad (water absorption, noisy detectors), e.g.
        from an ENVI header's ``bbl`` (where 0 marks a bad band). None: unknown.
    metadata : dict
        Free-form provenance: source files, header fields, generator settings.
    nodata : float or None
        Fill value marking no-data pixels in the cube (e.g. -9999; a GeoTIFF's
        nodata, an ENVI header's ``data ignore value``), compared in the cube's
        dtype. None: only NaN and masked entries mark no-data.
    crs : str, CRS object or None
        Coordinate reference system of the map coordinates (a
        ``rasterio.crs.CRS`` from :func:`load_raster`, or a string such as
        ``'EPSG:32631'`` or WKT, as rasterio accepts). None: not georeferenced.
    transform : affine.Affine or None
        Pixel-to-map transform of pixel corners, as rasterio's: the map
        coordinates of the top-left corner of pixel ``(row, col)`` are
        ``transform * (col, row)`` (of its centre, ``transform * (col + 0.5,
        row + 0.5)``). A sequence of 6 numbers ``(a, b, c, d, e, f)`` in
        ``Affine`` order is converted (needs the ``affine`` package, installed
        with rasterio). :meth:`crop` shifts it to the crop's corner. None: not
        georeferenced (point labels can then only be given as row/col).
    """

    cube: np.ndarray
    targets: np.ndarray = None
    wavelengths: np.ndarray = None
    target_names: list = field(default_factory=list)
    endmembers: np.ndarray = None
    bad_bands: np.ndarray = None
    metadata: dict = field(default_factory=dict)
    nodata: float = None
    crs: object = None
    transform: object = None

    def __post_init__(self):
        if isinstance(self.cube, np.ma.MaskedArray):  # the mask is no-data: never read the values under it
            self.cube = masked_as_nan(self.cube)
        if np.ndim(self.cube) != 3:
            raise ValueError(f"cube must have shape (height, width, n_bands), got {np.shape(self.cube)}")
        n_bands = self.cube.shape[2]
        if self.targets is not None:
            t = self.targets
            t = np.asarray(masked_as_nan(t) if isinstance(t, np.ma.MaskedArray) else t)
            if t.ndim == 2:
                t = t[:, :, None]
            if t.ndim != 3 or t.shape[:2] != self.cube.shape[:2]:
                raise ValueError(f"targets {t.shape} do not match the cube's spatial shape {self.cube.shape[:2]}")
            self.targets = t
        if self.wavelengths is not None:
            self.wavelengths = np.asarray(self.wavelengths, dtype=np.float64)
            if self.wavelengths.shape != (n_bands,):
                raise ValueError(f"{self.wavelengths.size} wavelengths for {n_bands} bands")
        self.target_names = list(self.target_names)
        if self.target_names and self.targets is not None and len(self.target_names) != self.targets.shape[2]:
            raise ValueError(f"{len(self.target_names)} target_names for {self.targets.shape[2]} targets")
        if self.endmembers is not None:
            self.endmembers = np.asarray(self.endmembers)
            if self.endmembers.ndim != 2 or self.endmembers.shape[0] != n_bands:
                raise ValueError(
                    f"endmembers must have shape (n_bands={n_bands}, n_endmembers), got {self.endmembers.shape}"
                )
        if self.bad_bands is not None:
            self.bad_bands = np.asarray(self.bad_bands, dtype=bool)
            if self.bad_bands.shape != (n_bands,):
                raise ValueError(f"bad_bands must have shape ({n_bands},), got {self.bad_bands.shape}")
        self.metadata = dict(self.metadata)
        self.nodata = check_nodata(self.nodata)
        self.crs = as_crs(self.crs)
        self.transform = as_transform(self.transform)

    @property
    def shape(self):
        """``(height, width, n_bands)``."""
        return self.cube.shape

    @property
    def n_bands(self):
        """Number of bands."""
        return self.cube.shape[2]

    @property
    def n_targets(self):
        """Number of targets (0 without targets)."""
        return 0 if self.targets is None else self.targets.shape[2]

    def nodata_mask(self):
        """Which pixels are no-data: NaN in some band (masked entries included) or equal to ``nodata``.

        Returns
        -------
        ndarray of bool of shape (height, width)
            True for no-data pixels. A memmap cube is read once, in blocks of rows.
        """
        return nodata_pixels(self.cube, self.nodata)

    def windows(self, size, stride=1, label="mean", positions=None, border="valid", skip_nodata=True):
        """Square windows and their labels, in the package's data contract.

        Windows touching a no-data pixel (see :meth:`nodata_mask`) are left
        out, so training data never holds no-data.

        Parameters
        ----------
        size : int
            Window side in pixels (at most the scene's height and width).
        stride : int, default=1
            Step between windows of the regular grid (must be 1 with ``positions``).
        label : {'mean', 'center'}, default='mean'
            Label of a window: the mean of its targets (the paper's patch-average
            abundances) or the target of its centre pixel (offset ``size // 2``).
        positions : array-like of int of shape (n_windows, 2), default=None
            Top-left corners to cut, in the convention of the returned ``coords``
            (pass ``pixels - size // 2`` for windows centred on given pixels).
        border : {'valid', 'reflect'}, default='valid'
            ``'valid'``: windows wholly inside the scene. ``'reflect'``: a window
            centred on every pixel, the scene extended by symmetric reflection.
        skip_nodata : bool, default=True
            True: leave out the windows touching a no-data pixel (``X``, ``y``
            and ``coords`` stay aligned, in grid or ``positions`` order; the
            number left out is the grid size, or ``len(positions)``, minus
            ``len(coords)``). False: such a window raises an error (for data
            that must be complete).

        Returns
        -------
        X : ndarray of shape (n_windows, size, size, n_bands)
            A new array; for the regular grid it is built from a strided view
            so that nothing else of that size is allocated. Only the windows
            free of no-data.
        y : ndarray of shape (n_windows, n_targets) or None
            float32 labels; None when the scene has no targets.
        coords : ndarray of shape (n_windows, 2)
            Top-left corner ``(row, column)`` of each window in scene coordinates
            (negative near the border with ``'reflect'``); the centre pixel is
            ``coords + size // 2``. Pass them as ``groups`` to
            :class:`hyperspectral_cl.model_selection.SpatialBlockSplit`.

        Raises
        ------
        ValueError
            For inf in a window kept (inf is not a no-data marker), NaN in the
            targets of a window kept, every window touching no-data, a window
            touching no-data with ``skip_nodata=False``, a size larger than the
            scene, a stride < 1, an unknown ``label`` or ``border``, or
            out-of-range positions.

        See Also
        --------
        hyperspectral_cl.extract_windows : the same on a bare cube.
        """
        return extract_windows(
            self.cube, self.targets, size=size, stride=stride, label=label, positions=positions, border=border,
            nodata=self.nodata, skip_nodata=skip_nodata,
        )

    def labeled_windows(self, pixels, size, values=None, label="center", skip_nodata=True):
        """Windows centred on labeled pixels (sparse labels: field samples, lab measurements).

        Together with :meth:`unlabeled_patches` this is the training set of
        semi-supervised training (``ContrastivePatchRegressor(semi_supervised=True)``):
        the few labeled windows as arrays, the rest of the scene as a pool.
        Windows touching a no-data pixel (see :meth:`nodata_mask`) are left
        out, with their labels.

        Parameters
        ----------
        pixels : array-like of int of shape (n, 2)
            ``(row, column)`` of each labeled pixel. Repeated pixels give
            repeated windows (each sample keeps its own value).
        size : int
            Window side; windows near the border are completed by reflection.
        values : array-like of shape (n,) or (n, n_targets), default=None
            The labels. None reads them from the scene's targets.
        label : {'center', 'mean'}, default='center'
            With ``values=None``: the target of the pixel itself, or the mean of
            the targets over its window.
        skip_nodata : bool, default=True
            True: leave out the windows touching no-data and their ``values``
            (``coords`` tell which pixels remain: ``coords + size // 2``).
            False: such a window raises an error.

        Returns
        -------
        X : ndarray of shape (n_kept, size, size, n_bands)
        y : ndarray of shape (n_kept, n_targets), float32
        coords : ndarray of shape (n_kept, 2)
            Top-left corners (``pixels - size // 2``) of the windows kept, in
            the order of ``pixels``, for ``groups=``.

        Examples
        --------
        >>> from hyperspectral_cl.datasets import make_synthetic_scene
        >>> scene = make_synthetic_scene(shape=(40, 40), n_bands=10, random_state=0)
        >>> X, y, coords = scene.labeled_windows([[3, 4], [20, 30]], size=5)
        >>> X.shape, y.shape, coords.tolist()
        ((2, 5, 5, 10), (2, 4), [[1, 2], [18, 28]])
        """
        pixels = np.asarray(pixels)
        if pixels.ndim != 2 or pixels.shape[1] != 2:
            raise ValueError(f"pixels must have shape (n, 2) (row, column), got {pixels.shape}")
        corners = pixels - int(size) // 2
        X, y, coords = extract_windows(self.cube, self.targets if values is None else None, size=size,
                                       label=label, positions=corners, border="reflect", nodata=self.nodata,
                                       skip_nodata=skip_nodata)
        if values is not None:
            y = np.asarray(values, dtype=np.float32)
            y = y[:, None] if y.ndim == 1 else y
            if y.shape[0] != len(pixels):
                raise ValueError(f"values has {y.shape[0]} rows for {len(pixels)} pixels")
            if len(coords) < len(corners):  # windows touching no-data were left out: so are their values
                y = y[_kept(corners, coords)]
        elif y is None:
            raise ValueError("the scene has no targets: pass values=")
        return X, y, coords

    def unlabeled_patches(self, size, exclude=None):
        """Every window of the scene as a pool of unlabeled patches, cut on demand.

        Parameters
        ----------
        size : int
            Patch side (the one the network is trained on).
        exclude : array-like of bool of shape (height - size + 1, width - size + 1), default=None
            Top-left corners never to draw (a test region). Windows touching a
            no-data pixel (see :meth:`nodata_mask`) are never drawn either.

        Returns
        -------
        UnlabeledPatches
            Pass it as ``fit(..., unlabeled=pool)`` (in a Pipeline
            ``net__unlabeled=pool``); memory stays at the cube plus a batch
            (the cube is read once to find its no-data pixels).
        """
        pool = UnlabeledPatches(self.cube, size, exclude=exclude)  # validates size and exclude first
        pixels = self.nodata_mask()
        if not pixels.any():
            return pool
        touching = windows_touching(pixels, pool.patch_size)
        return UnlabeledPatches(self.cube, size, exclude=touching if pool.exclude is None else touching | pool.exclude)

    def crop(self, rows=slice(None), cols=slice(None)):
        """A sub-scene (views of the arrays, no copy).

        The ``transform`` is shifted so that the crop's pixels keep their map
        coordinates; ``crs`` and the other metadata are kept.

        Parameters
        ----------
        rows, cols : slice
            Rows and columns to keep (steps other than 1 are refused: they would
            change the pixel spacing that windows rely on).

        Returns
        -------
        Scene
        """
        for name, s in (("rows", rows), ("cols", cols)):
            if not isinstance(s, slice) or s.step not in (None, 1):
                raise ValueError(f"{name} must be a slice with step 1, got {s!r}")
        targets = None if self.targets is None else self.targets[rows, cols]
        cube = self.cube[rows, cols]
        if 0 in cube.shape[:2]:
            raise ValueError(f"the crop rows={rows}, cols={cols} of a {self.shape[:2]} scene is empty")
        row0 = rows.indices(self.shape[0])[0]
        col0 = cols.indices(self.shape[1])[0]
        return replace(self, cube=cube, targets=targets, transform=shift_transform(self.transform, row0, col0))

    def drop_bad_bands(self):
        """A Scene without the bands flagged in ``bad_bands`` (a copy of the kept bands).

        Returns
        -------
        Scene
            ``self`` when no band is flagged (or ``bad_bands`` is None).
        """
        if self.bad_bands is None or not self.bad_bands.any():
            return self
        keep = ~self.bad_bands
        return replace(
            self,
            cube=np.ascontiguousarray(self.cube[:, :, keep]),
            wavelengths=None if self.wavelengths is None else self.wavelengths[keep],
            endmembers=None if self.endmembers is None else self.endmembers[keep],
            bad_bands=np.zeros(int(keep.sum()), dtype=bool),
        )


def _kept(corners, coords):
    """Which of ``corners`` (in order, repeats allowed) are among the ``coords`` kept from them."""
    # a window's fate depends only on its pixels, so membership by value is exact
    lo = corners.min(axis=0)
    width = int(corners[:, 1].max() - lo[1]) + 1
    corner_keys = (corners[:, 0] - lo[0]).astype(np.int64) * width + (corners[:, 1] - lo[1])
    coord_keys = (coords[:, 0] - lo[0]).astype(np.int64) * width + (coords[:, 1] - lo[1])
    return np.isin(corner_keys, coord_keys)
