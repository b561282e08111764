"""Full-scene inference: stream every pixel's window through a fitted model, get a map back.

Works with any fitted object that has ``predict`` taking windows
``(n, size, size, n_bands)`` (a Pipeline starting with
:class:`~hyperspectral_cl.PatchExtractor` or :class:`~hyperspectral_cl.MeanSpectrum`,
or anything else in the package's data contract), or patches
``(n, 1, n_bands, size, size)`` with ``input_layout='patches'`` (a bare
:class:`~hyperspectral_cl.ContrastivePatchRegressor`). This module does not
import the estimator.
"""

from numbers import Integral
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from tqdm.auto import tqdm

from ._validation import check_scalar
from .datasets.raster import RasterWriter
from .windows import BORDERS, NODATA_MARKERS, _nodata_flags, check_nodata, reflect_index, windows_touching

__all__ = ["predict_map"]


def _infer_window_size(estimator, input_layout):
    """Window side recorded by a fitted estimator, or None."""
    candidates = []
    steps = getattr(estimator, "steps", None)
    if steps:
        candidates.append(steps[0][1])  # the first step is the one that sees the windows
    candidates.append(estimator)
    for est in candidates:
        shape = getattr(est, "window_shape_", None)
        if shape is not None:
            shape = tuple(int(s) for s in shape)
            if len(shape) != 2 or shape[0] != shape[1]:
                raise ValueError(
                    f"{type(est).__name__} was fitted on {shape} windows; predict_map cuts square windows: "
                    f"pass window_size"
                )
            return shape[0]
        if input_layout == "patches" and getattr(est, "patch_size_", None) is not None:
            return int(est.patch_size_)
    return None


def _index(start, stop, n, border):
    """Pixel indices ``start .. stop - 1`` along an axis of length ``n``, as a slice when no reflection is needed."""
    if start >= 0 and stop <= n:
        return slice(start, stop)
    if border != "reflect":  # cannot happen: valid windows stay inside
        raise AssertionError("window outside the image with border='valid'")
    return reflect_index(np.arange(start, stop), n)


class _MapArray:
    """The map held in memory (``out=None``): rows of it are handed out as views."""

    def __init__(self, height, width):
        self.shape, self.map = (height, width), None

    def rows(self, start, stop, pred):
        if self.map is None:  # the number of targets and the dtype are known from the first prediction
            dtype = np.result_type(pred.dtype, np.float32)
            self.map = np.full(self.shape + pred.shape[1:], np.nan, dtype=dtype)
        return self.map[start:stop]

    def done(self, stop):
        pass

    def finish(self):
        return self.map

    def abort(self):
        pass


class _MapFile:
    """The map streamed to a GeoTIFF (``out=path``): one block of rows in memory, written once complete."""

    def __init__(self, path, height, width, like, options):
        self.path, self.shape, self.like, self.options = Path(path), (height, width), like, dict(options or {})
        self.writer = self.block = None
        self.next_row = 0  # rows before it are written

    def rows(self, start, stop, pred):
        if self.writer is None:  # opened at the first prediction, which tells the band count and dtype
            count = 1 if pred.ndim == 1 else pred.shape[1]
            self.dtype, self.tail = np.result_type(pred.dtype, np.float32), pred.shape[1:]
            self.writer = RasterWriter(self.path, *self.shape, count, self.dtype, like=self.like, **self.options)
        if self.block is None:
            self._write_nan(start)
            self.block = np.full((stop - start, self.shape[1]) + self.tail, np.nan, dtype=self.dtype)
        return self.block

    def _write_nan(self, stop):
        """Rows ``next_row .. stop - 1`` have no prediction: write NaN (the file's nodata), a tile at a time."""
        step = self.writer.block_rows
        for r in range(self.next_row, stop, step):
            self.writer.write(np.full((min(step, stop - r), self.shape[1]) + self.tail, np.nan, dtype=self.dtype))
        self.next_row = max(self.next_row, stop)

    def done(self, stop):
        if self.writer is None:  # nothing predicted yet: these rows are written as NaN once the file is open
            return
        if self.block is not None:
            self.writer.write(self.block)
            self.next_row += len(self.block)
            self.block = None
        self._write_nan(stop)

    def finish(self):
        if self.writer is None:
            return None
        self._write_nan(self.shape[0])
        self.writer.close()
        return self.path

    def abort(self):
        if self.writer is not None:
            self.writer.abort()


def predict_map(estimator, scene_or_cube, window_size=None, *, batch_size=4096, border="reflect",
                input_layout="windows", nodata=None, out=None, out_options=None, progress=False):
    """Predict a target map for a whole scene, one window per pixel, in bounded memory.

    The window of pixel ``(i, j)`` has its top-left corner at
    ``(i - size // 2, j - size // 2)``: the pixel is its centre (at offset
    ``size // 2``, the pixel ``label='center'`` labels), and the prediction
    for that window is written at ``(i, j)``.

    No-data: a pixel is no-data when any of its bands is NaN, is masked (a
    numpy masked array's mask; the values under it are never read) or equals
    ``nodata``. A window touching a no-data pixel is not predicted: the map
    is NaN there, for every target (so at every no-data pixel, whose own
    window holds it); the other windows are predicted as on a scene without
    no-data.

    Windows are cut batch by batch from a strided view of a small slab of the
    cube (a few rows, reflected at the border), so the peak memory is about the
    cube, the output map and one batch of windows (``batch_size x size x size x
    n_bands`` values) plus what the estimator allocates for that batch; all the
    windows of the scene are never held at once (for a 1000 x 1000 x 224 cube
    and 5 x 5 windows that would be 22 GB in float32). With ``out=`` the map
    is not held either: only the block of rows being predicted, one row of
    tiles waiting to be written and GDAL's block cache (64 MB at most).

    Parameters
    ----------
    estimator : fitted object with ``predict``
        Takes windows ``(n, size, size, n_bands)`` (``input_layout='windows'``)
        or patches ``(n, 1, n_bands, size, size)`` (``'patches'``) and returns
        ``(n,)`` or ``(n, n_targets)``. It must treat samples independently
        (the map must not depend on ``batch_size``): networks in eval mode do.
    scene_or_cube : Scene or array-like of shape (height, width, n_bands)
        The image (a Scene's ``cube``); a numpy memmap, and a masked array's
        mask, are read slab by slab.
    window_size : int, default=None
        Side of the windows. None takes it from the fitted estimator: the
        ``window_shape_`` of a Pipeline's first step (a fitted
        :class:`~hyperspectral_cl.PatchExtractor` records the windows it saw
        in fit) or of the estimator itself; with ``input_layout='patches'``
        also its ``patch_size_``. Required when none is found (e.g. a
        :class:`~hyperspectral_cl.MeanSpectrum` pipeline, which accepts any
        window size).
    batch_size : int, default=4096
        Maximum number of windows per ``predict`` call; memory grows linearly
        with it.
    border : {'reflect', 'valid'}, default='reflect'
        ``'reflect'``: every pixel gets a prediction, windows that cross the
        border being completed by half-sample symmetric reflection (as
        ``Scene.windows(border='reflect')``). ``'valid'``: only pixels whose
        window lies wholly inside the image are predicted; the others (a band
        ``size // 2`` wide at the top and left, ``size - 1 - size // 2`` at the
        bottom and right) are NaN.
    input_layout : {'windows', 'patches'}, default='windows'
        What ``predict`` takes: channels-last windows, or Conv3d patches
        ``(n, 1, n_bands, size, size)`` (without the standardisation a
        PatchExtractor would apply).
    nodata : float, default=None
        Fill value marking no-data pixels (e.g. -9999), compared in the cube's
        dtype. None: the Scene's ``nodata`` (for a bare cube, only NaN and
        masked entries mark no-data).
    out : str or path-like, default=None
        Write the map to this GeoTIFF instead of returning it, while
        predicting: each block of rows is written once predicted (through
        :class:`~hyperspectral_cl.datasets.raster.RasterWriter`, a row of tiles
        at a time), so the whole map is never in memory. The file gets the
        Scene's ``crs`` and ``transform`` (none for a bare cube), one band per
        target named after the Scene's ``target_names`` when they match (else
        ``target_1``...), the Scene's ``nodata`` (else NaN) where the map would
        be NaN; it is tiled and compressed. Needs rasterio (``pip install
        hyperspectral-cl[io]``). The file appears only when complete.
    out_options : dict, default=None
        Keyword arguments of :class:`~hyperspectral_cl.datasets.raster.RasterWriter`
        for ``out``: ``names`` (band descriptions), ``nodata``, ``crs``,
        ``transform``, ``tile_size``, ``compress``.
    progress : bool, default=False
        Show a progress bar over the rows (tqdm, on stderr).

    Returns
    -------
    prediction_map : ndarray of shape (height, width, n_targets) or (height, width)
        A new float array (the prediction dtype, at least float32), 3-D when
        ``predict`` returns 2-D output, 2-D when it returns ``(n,)``; NaN where
        the window touches no-data. With ``out``: the path written
        (``pathlib.Path``), whose bands hold the same values.

    Raises
    ------
    ValueError
        For inf in the cube outside no-data pixels (the message gives the
        rows; inf is not a no-data marker), every window touching no-data, a
        window larger than the scene, or predictions of the wrong length.

    Examples
    --------
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn.pipeline import make_pipeline
    >>> from hyperspectral_cl import MeanSpectrum
    >>> from hyperspectral_cl.datasets import make_synthetic_scene
    >>> scene = make_synthetic_scene(shape=(20, 20), n_bands=10, random_state=0)
    >>> X, y, _ = scene.windows(5)
    >>> model = make_pipeline(MeanSpectrum(), Ridge()).fit(X, y)
    >>> predict_map(model, scene, window_size=5).shape
    (20, 20, 4)
    """
    if not callable(getattr(estimator, "predict", None)):
        raise TypeError(f"estimator must be a fitted object with a predict method, got {type(estimator).__name__}")
    if nodata is None:
        nodata = getattr(scene_or_cube, "nodata", None)
    nodata = check_nodata(nodata)
    cube = getattr(scene_or_cube, "cube", scene_or_cube)
    mask = np.ma.getmask(cube)  # read slab by slab, as the data: a masked cube is never copied whole
    cube = np.asarray(np.ma.getdata(cube))
    if cube.ndim != 3:
        raise ValueError(f"the cube must be 3-dimensional (height, width, n_bands), got shape {cube.shape}")
    if not (np.issubdtype(cube.dtype, np.number) or np.issubdtype(cube.dtype, np.bool_)) or np.iscomplexobj(cube):
        raise TypeError(f"the cube must hold real numbers, got dtype {cube.dtype}")
    if border not in BORDERS:
        raise ValueError(f"border must be 'reflect' or 'valid', got {border!r}")
    if input_layout not in ("windows", "patches"):
        raise ValueError(f"input_layout must be 'windows' or 'patches', got {input_layout!r}")
    check_scalar(batch_size, "batch_size", kind=Integral, min_val=1)
    if out is None and out_options is not None:
        raise ValueError("out_options applies to the file written with out=; pass out= too")
    if window_size is None:
        window_size = _infer_window_size(estimator, input_layout)
        if window_size is None:
            raise ValueError(
                f"cannot tell the window size from {type(estimator).__name__}: pass window_size (the size "
                f"given to Scene.windows when the model was trained)"
            )
    size = int(check_scalar(window_size, "window_size", kind=Integral, min_val=1))
    h, w, n_bands = cube.shape
    if size > h or size > w:
        raise ValueError(f"window_size={size} is larger than the cube's spatial shape {(h, w)}")
    dtype = cube.dtype if np.issubdtype(cube.dtype, np.floating) else np.float32
    c = size // 2

    if border == "reflect":
        row_centres, col_centres = np.arange(h), np.arange(w)
    else:
        row_centres, col_centres = np.arange(c, h - size + 1 + c), np.arange(c, w - size + 1 + c)
    n_cols = col_centres.size
    if n_cols <= batch_size:  # whole rows per batch
        rows_per_batch, col_chunks = batch_size // n_cols, [(0, n_cols)]
    else:  # long rows: pieces of one row
        rows_per_batch = 1
        col_chunks = [(a, min(a + batch_size, n_cols)) for a in range(0, n_cols, batch_size)]

    if out is None:
        sink = _MapArray(h, w)
    else:
        like = scene_or_cube if hasattr(scene_or_cube, "cube") else None
        sink = _MapFile(out, h, w, like, out_options)
    bar = tqdm(total=h, unit="row", desc="predict_map", disable=not progress, leave=False)
    try:
        result = _predict_rows(estimator, cube, mask, nodata, size, c, border, input_layout, dtype, row_centres,
                               col_centres, rows_per_batch, col_chunks, sink, bar)
    except BaseException:
        sink.abort()  # no half-written map file is left behind
        raise
    finally:
        bar.close()
    if result is None:
        declared = "" if nodata is None else f"={nodata:g}"
        raise ValueError(
            f"every window of the {h} x {w} scene touches no-data ({NODATA_MARKERS}{declared}): nothing to "
            f"predict; check the nodata value, and drop bands that are NaN everywhere"
        )
    return result


def _predict_rows(estimator, cube, mask, nodata, size, c, border, input_layout, dtype, row_centres, col_centres,
                  rows_per_batch, col_chunks, sink, bar):
    """The prediction loop of :func:`predict_map`: batches of windows cut from slabs of rows, written to ``sink``."""
    h, w, _ = cube.shape
    for ra in range(0, row_centres.size, rows_per_batch):
        rows = row_centres[ra : ra + rows_per_batch]
        row_index = _index(rows[0] - c, rows[-1] - c + size, h, border)
        for ca, cb in col_chunks:
            cols = col_centres[ca:cb]
            col_index = _index(cols[0] - c, cols[-1] - c + size, w, border)
            # a slab of the cube with its reflected margins: (len(rows) + size - 1, len(cols) + size - 1, B)
            slab = cube[row_index][:, col_index]
            no_data = _slab_nodata(slab, None if mask is np.ma.nomask else mask[row_index][:, col_index], nodata)
            infinite = ~(np.isfinite(slab).all(axis=-1) | no_data)  # NaN is no-data; inf is an error
            if infinite.any():
                i, j = np.argwhere(infinite)[0]
                pixel = (int(np.arange(h)[row_index][i]), int(np.arange(w)[col_index][j]))
                raise ValueError(
                    f"the cube contains infinity in rows {max(rows[0] - c, 0)}-{min(rows[-1] - c + size, h) - 1} "
                    f"(first at pixel {pixel}); infinity is not a no-data marker: replace it by NaN (no-data: the "
                    f"map is NaN around it) or by a value, or declare a fill value with nodata="
                )
            view = sliding_window_view(slab, (size, size), axis=(0, 1))  # (nr, nc, B, size, size)
            nr, nc = view.shape[:2]
            valid = ~windows_touching(no_data, size)  # (nr, nc): windows free of no-data
            n_valid = int(valid.sum())
            if n_valid == 0:  # the map stays NaN here
                continue
            # (nr, nc, size, size, B) for windows, (nr, nc, B, size, size) for patches
            src = view.transpose(0, 1, 3, 4, 2) if input_layout == "windows" else view
            if n_valid == nr * nc:  # written straight from the strided view
                batch = np.empty((nr * nc,) + src.shape[2:], dtype=dtype)
                batch.reshape(src.shape)[...] = src
            else:  # only the windows free of no-data are cut (fancy indexing copies just them) and predicted
                batch = src[valid].astype(dtype, copy=False)
            if input_layout == "patches":
                batch = batch[:, None]  # (n, 1, B, size, size)
            pred = np.asarray(estimator.predict(batch))
            if pred.ndim not in (1, 2) or pred.shape[0] != n_valid:
                raise ValueError(
                    f"{type(estimator).__name__}.predict returned shape {pred.shape} for {n_valid} windows; "
                    f"expected ({n_valid},) or ({n_valid}, n_targets)"
                )
            # a view of the map's rows (in memory, or the block about to be written): written in place
            block = sink.rows(rows[0], rows[-1] + 1, pred)[:, cols[0] : cols[-1] + 1]
            if n_valid == nr * nc:
                block[...] = pred.reshape((nr, nc) + pred.shape[1:])
            else:
                block[valid] = pred
            del batch, slab, view, src, pred  # release before the next slab is cut
        sink.done(rows[-1] + 1)
        bar.update(rows[-1] + 1 - bar.n)
    return sink.finish()


def _slab_nodata(slab, mask, nodata):
    """No-data flags of the pixels of a slab: NaN in a band, a masked entry, or a value equal to ``nodata``."""
    flags = _nodata_flags(slab, nodata)
    if mask is not None:
        flags |= mask.any(axis=-1)
    return flags
