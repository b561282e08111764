"""Spectral libraries: the USGS library at AVIRIS bands, as MATLAB or ENVI files.

Two layouts are read:

* the 1995 AVIRIS ``.mat`` used by the unmixing community (``datalib``
  ``224 x 501``: column 0 wavelengths in um, 1 bandwidths, 2 channel numbers,
  3.. the spectra; ``names`` one row per column). Its rows follow the AVIRIS
  spectrometers, **not** wavelength order (they overlap at rows 31/32 and
  95/96): the loader sorts them.
* ENVI spectral libraries (``.hdr`` + ``.sli``, e.g. splib06a/splib07a
  resampled to AVIRIS 1995): one record per spectrum; deleted channels hold
  ``-1.23e34``. splib07a files also carry the wavelength and FWHM records and
  ``error bars to preceding`` records, which are not spectra.
"""

from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path

import numpy as np
from sklearn.utils import check_random_state

from .._validation import check_scalar
from .envi import _read_envi_library_arrays, to_nanometres
from .matfile import describe, loadmat

__all__ = ["SpectralLibrary", "load_usgs_library"]

# USGS "deleted channel" marker (-1.23e34); anything this negative is no reflectance
DELETED_BELOW = -1e30


@dataclass(frozen=True, eq=False)
class SpectralLibrary:
    """Reference spectra on a common wavelength grid.

    Parameters
    ----------
    wavelengths : ndarray of shape (n_bands,)
        Band centres in nanometres, increasing.
    spectra : ndarray of shape (n_spectra, n_bands)
        One spectrum (reflectance) per row, aligned with ``names``. NaN marks
        deleted channels when the library was loaded with ``keep_incomplete=True``.
    names : tuple of str
        One name per spectrum.
    fwhm : ndarray of shape (n_bands,) or None
        Band widths (full width at half maximum) in nanometres, when known.
    metadata : dict
        Source file and what was dropped while reading.
    """

    wavelengths: np.ndarray
    spectra: np.ndarray
    names: tuple
    fwhm: np.ndarray = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        wl = np.asarray(self.wavelengths, dtype=np.float64)
        spectra = np.asarray(self.spectra, dtype=np.float64)
        if wl.ndim != 1 or spectra.ndim != 2 or spectra.shape[1] != wl.size:
            raise ValueError(
                f"spectra must have shape (n_spectra, n_bands) with n_bands = len(wavelengths) = {wl.size}, "
                f"got {spectra.shape}"
            )
        if len(self.names) != spectra.shape[0]:
            raise ValueError(f"{len(self.names)} names for {spectra.shape[0]} spectra")
        object.__setattr__(self, "wavelengths", wl)
        object.__setattr__(self, "spectra", spectra)
        object.__setattr__(self, "names", tuple(str(n) for n in self.names))
        if self.fwhm is not None:
            object.__setattr__(self, "fwhm", np.asarray(self.fwhm, dtype=np.float64))

    def __len__(self):
        return self.spectra.shape[0]

    def __repr__(self):
        wl = self.wavelengths
        return (f"SpectralLibrary({len(self)} spectra x {wl.size} bands, "
                f"{wl.min():.1f}-{wl.max():.1f} nm)") if wl.size else "SpectralLibrary(empty)"

    @property
    def n_bands(self):
        """Number of bands."""
        return self.wavelengths.size

    @property
    def endmembers(self):
        """The spectra as an endmember matrix ``(n_bands, n_spectra)`` (a view)."""
        return self.spectra.T

    def find(self, pattern):
        """Indices of the spectra whose name contains ``pattern`` (case-insensitive).

        Returns
        -------
        ndarray of int
        """
        pattern = str(pattern).lower()
        return np.array([i for i, n in enumerate(self.names) if pattern in n.lower()], dtype=int)

    def select(self, items):
        """A library with the given spectra, in the given order.

        Parameters
        ----------
        items : sequence of int or str
            Indices, or exact names (a name matching several spectra selects the first).

        Returns
        -------
        SpectralLibrary
        """
        index = []
        for item in items:
            if isinstance(item, str):
                if item not in self.names:
                    close = [n for n in self.names if item.lower() in n.lower()][:5]
                    raise KeyError(f"no spectrum named {item!r} in the library" + (
                        f"; names containing it: {close}" if close else ""))
                index.append(self.names.index(item))
            elif isinstance(item, Integral) and -len(self) <= item < len(self):
                index.append(int(item) % len(self))
            else:
                raise IndexError(f"{item!r} is not a spectrum index in [0, {len(self)}) nor a name")
        return self._subset(np.array(index, dtype=int))

    def draw(self, n, random_state=None):
        """``n`` spectra drawn at random without replacement.

        When the library holds exactly ``n`` spectra, all are returned in
        library order (so ``lib.select([...])`` fixes a scene's endmembers).

        Parameters
        ----------
        n : int
        random_state : int, RandomState instance or None

        Returns
        -------
        SpectralLibrary
        """
        check_scalar(n, "n_endmembers", kind=Integral, min_val=1)
        if n > len(self):
            raise ValueError(f"cannot draw {n} spectra from a library of {len(self)}")
        if n == len(self):
            return self
        rng = check_random_state(random_state)
        return self._subset(np.sort(rng.choice(len(self), size=n, replace=False)))

    def resample(self, wavelengths):
        """Linear interpolation of every spectrum onto other band centres.

        Parameters
        ----------
        wavelengths : array-like of shape (n_new_bands,)
            In nanometres, within the library's range.

        Returns
        -------
        SpectralLibrary
            Without ``fwhm`` (the new bands' widths are unknown).
        """
        new = np.asarray(wavelengths, dtype=np.float64)
        if new.ndim != 1 or new.size == 0:
            raise ValueError(f"wavelengths must be a non-empty 1-D array, got shape {new.shape}")
        lo, hi = self.wavelengths.min(), self.wavelengths.max()
        if new.min() < lo - 1e-6 or new.max() > hi + 1e-6:
            raise ValueError(
                f"wavelengths {new.min():.1f}-{new.max():.1f} nm reach outside the library's {lo:.1f}-{hi:.1f} nm"
            )
        spectra = np.stack([np.interp(new, self.wavelengths, s) for s in self.spectra]) if len(self) else \
            np.empty((0, new.size))
        return SpectralLibrary(new, spectra, self.names, None, dict(self.metadata, resampled=True))

    def _subset(self, index):
        return SpectralLibrary(self.wavelengths, self.spectra[index], tuple(self.names[i] for i in index),
                               self.fwhm, dict(self.metadata))


def _char_rows(names):
    """Strings from a MATLAB char matrix as scipy returns it (uint8 codes or str arrays)."""
    names = np.asarray(names)
    if names.dtype.kind in "US":
        rows = names.ravel()
        if names.ndim == 2 and names.dtype.itemsize == (4 if names.dtype.kind == "U" else 1):
            rows = [names[i].tobytes().decode("utf-32" if names.dtype.kind == "U" else "latin-1")
                    for i in range(names.shape[0])]  # one character per cell: join each row
        return [(r.decode("latin-1") if isinstance(r, bytes) else str(r)).strip().strip("\x00") for r in rows]
    if np.issubdtype(names.dtype, np.integer) and names.ndim == 2:
        return [bytes(r.astype(np.uint8)).decode("latin-1").strip() for r in names]
    if names.dtype == object:
        return [str(np.asarray(r).ravel()[0]).strip() if np.size(r) else "" for r in names.ravel()]
    raise ValueError(f"cannot read names from an array of dtype {names.dtype} and shape {names.shape}")


def _finish(wl_nm, spectra, names, fwhm_nm, keep_incomplete, metadata, ignore_value=None):
    """Sort by wavelength and handle deleted channels."""
    deleted = spectra <= DELETED_BELOW
    if ignore_value is not None:
        deleted |= np.isclose(spectra, ignore_value, rtol=1e-6)
    incomplete = deleted.any(axis=1)
    metadata["n_incomplete"] = int(incomplete.sum())
    if keep_incomplete:
        spectra = np.where(deleted, np.nan, spectra)
    else:
        spectra, names = spectra[~incomplete], [n for n, bad in zip(names, incomplete, strict=True) if not bad]
    order = np.argsort(wl_nm, kind="stable")
    return SpectralLibrary(wl_nm[order], spectra[:, order], tuple(names),
                           None if fwhm_nm is None else fwhm_nm[order], metadata)


def _load_mat_library(path, keep_incomplete):
    variables = loadmat(path)
    missing = [k for k in ("datalib", "names") if k not in variables]
    if missing:
        raise ValueError(
            f"{path} is not a USGS library .mat: missing variable(s) {', '.join(missing)} "
            f"(expected datalib (bands x (3 + n_spectra)) and names); it holds: {describe(variables)}"
        )
    datalib = np.asarray(variables["datalib"], dtype=np.float64)
    if datalib.ndim != 2 or datalib.shape[1] < 4:
        raise ValueError(
            f"{path}: datalib must be bands x (3 + n_spectra) (wavelength, bandwidth, channel, spectra...), "
            f"got shape {datalib.shape}"
        )
    names = _char_rows(variables["names"])
    if len(names) != datalib.shape[1]:
        raise ValueError(f"{path}: {len(names)} names for the {datalib.shape[1]} columns of datalib")
    wl = to_nanometres(datalib[:, 0], None)
    fwhm = to_nanometres(datalib[:, 1], "micrometers" if np.nanmax(datalib[:, 0]) < 100 else "nanometers")
    metadata = {"source": str(path), "format": "USGS 1995 AVIRIS .mat", "n_records": datalib.shape[1] - 3}
    return _finish(wl, datalib[:, 3:].T, names[3:], fwhm, keep_incomplete, metadata)


def _load_envi_library(path, keep_incomplete):
    path = Path(path)
    hdr = path if path.suffix.lower() == ".hdr" else path.with_suffix(".hdr")
    data_path = None if path.suffix.lower() == ".hdr" else path
    header, data, data_path = _read_envi_library_arrays(hdr, data_path)
    n_spectra, n_bands = data.shape
    if "wavelength" not in header:
        raise ValueError(f"{hdr}: the header has no 'wavelength' list")
    wl_raw = np.array([float(v) for v in header["wavelength"]])
    if wl_raw.shape != (n_bands,):
        raise ValueError(f"{hdr}: {wl_raw.size} wavelengths for {n_bands} bands (samples)")
    names = header.get("spectra names", [])
    if len(names) != n_spectra:
        raise ValueError(f"{hdr}: {len(names)} spectra names for {n_spectra} records (lines)")
    unit = header.get("wavelength units")
    fwhm_raw = None
    if "fwhm" in header:
        fwhm_raw = np.array([float(v) for v in header["fwhm"]])
        if fwhm_raw.shape != (n_bands,):
            raise ValueError(f"{hdr}: {fwhm_raw.size} fwhm values for {n_bands} bands")
    # records that are not spectra: the wavelength/FWHM records and splib07's error bars
    aux = np.zeros(n_spectra, dtype=bool)
    for ref in (wl_raw, fwhm_raw):
        if ref is not None:
            aux |= np.all(np.isclose(data, ref, rtol=1e-5, atol=1e-7), axis=1)
    aux |= np.array(["error bars" in n.lower() for n in names])
    scale = float(header.get("reflectance scale factor", 1.0) or 1.0)
    ignore = float(header["data ignore value"]) if "data ignore value" in header else None
    spectra = data[~aux]
    if scale != 1.0:
        marker = (spectra <= DELETED_BELOW) if ignore is None else (
            (spectra <= DELETED_BELOW) | np.isclose(spectra, ignore, rtol=1e-6))
        spectra = np.where(marker, spectra, spectra / scale)
    metadata = {
        "source": str(hdr), "format": "ENVI spectral library", "n_records": n_spectra,
        "n_auxiliary": int(aux.sum()), "header": header,
    }
    fwhm = None if fwhm_raw is None else to_nanometres(fwhm_raw, unit if unit else (
        "micrometers" if wl_raw.max() < 100 else "nanometers"))
    return _finish(to_nanometres(wl_raw, unit), spectra, [n for n, a in zip(names, aux, strict=True) if not a],
                   fwhm, keep_incomplete, metadata, ignore)


def load_usgs_library(path, *, keep_incomplete=False):
    """Read a USGS spectral library (1995 AVIRIS ``.mat`` or ENVI ``.hdr``/``.sli``).

    Parameters
    ----------
    path : str or path-like
        ``USGS_1995_Library.mat``-style file (variables ``datalib`` and
        ``names``), or an ENVI spectral library's ``.hdr`` or ``.sli`` (the
        other file must sit beside it with the same stem).
    keep_incomplete : bool, default=False
        Spectra with deleted channels (``-1.23e34`` or the header's ``data
        ignore value``) are dropped by default (splib06a at AVIRIS bands has
        591 complete spectra of 1365, splib07a 560 of 2457); True keeps them
        with NaN in the deleted channels. Records that are not spectra
        (splib07a's wavelength and FWHM records and its 680 ``error bars to
        preceding`` records) are never returned.

    Returns
    -------
    library : SpectralLibrary
        ``wavelengths`` (nm, sorted increasing, the spectra's columns reordered
        to match), ``spectra`` ``(n_spectra, n_bands)``, ``names`` and ``fwhm``
        (nm). ``metadata`` records the source and how many records were dropped.

    Examples
    --------
    >>> lib = load_usgs_library("USGS_1995_Library.mat")  # doctest: +SKIP
    >>> lib  # doctest: +SKIP
    SpectralLibrary(498 spectra x 224 bands, 383.2-2508.2 nm)
    >>> scene = make_synthetic_scene(4, endmembers=lib, random_state=0)  # doctest: +SKIP
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"spectral library not found: {path}")
    if not isinstance(keep_incomplete, (bool, np.bool_)):
        raise TypeError(f"keep_incomplete must be True or False, got {keep_incomplete!r}")
    suffix = path.suffix.lower()
    if suffix == ".mat":
        return _load_mat_library(path, keep_incomplete)
    if suffix in (".hdr", ".sli", ".lib"):
        return _load_envi_library(path, keep_incomplete)
    raise ValueError(f"unknown spectral library format {path.suffix!r} for {path}: expected .mat, .hdr or .sli")
