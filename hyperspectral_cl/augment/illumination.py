"""Direct sunlight and diffuse skylight spectra for the atmospheric augmentation.

:class:`AtmosphericCompensation` needs, at the data's wavelengths, the spectrum
of the direct solar irradiance ``E_sun`` and of the diffuse sky irradiance
``E_sky``. Two sources are offered:

- :func:`parametric_illumination`: a clear-sky model written here (no data
  files): a 5778 K blackbody scaled to the Earth's distance as the
  extraterrestrial spectrum, attenuated by Rayleigh scattering (``~ l^-4``), an
  Angstrom aerosol term and Gaussian absorption bands of water vapour (720,
  820, 940, 1140, 1380, 1870 and the 2.7 um wing), oxygen (762 nm) and carbon
  dioxide (2010/2060 nm); the sky term collects half of the Rayleigh-scattered
  light and the forward part of the aerosol-scattered light. It is a shape
  model for augmentation, not a radiative-transfer code.
- :func:`load_illumination`: measured tables, either a MATLAB file with
  ``wavelength_nm``, ``Esun_direct_light`` and ``Esky_diffuse_light`` (the
  ``atmosIlluminationModel.mat`` of Borsoi et al.'s spectral-variability code)
  or a CSV: the ASTM G173 reference spectra (diffuse estimated as
  ``global - direct * cos(11.2 deg)``, the incidence angle of the direct beam
  on G173's 37-degree tilted surface), or any CSV with columns
  ``wavelength, direct, diffuse``.

Only the ratio of the two spectra matters to the augmentation, so units are free.
"""

import csv
import functools
import os
from pathlib import Path

import numpy as np

from .._spectra import check_wavelengths
from .._validation import check_scalar
from ..datasets.matfile import loadmat

__all__ = ["Illumination", "load_illumination", "parametric_illumination"]

# physical constants (SI)
_H = 6.62607015e-34
_C = 2.99792458e8
_K = 1.380649e-23
_R_SUN = 6.957e8
_AU = 1.495978707e11

# (centre nm, optical depth per cm of precipitable water at air mass 1, Gaussian sigma nm)
_WATER_BANDS = (
    (720.0, 0.05, 10.0),
    (820.0, 0.08, 15.0),
    (940.0, 0.30, 25.0),
    (1140.0, 0.35, 30.0),
    (1380.0, 3.00, 45.0),
    (1870.0, 2.30, 55.0),
    (2700.0, 3.00, 90.0),
)
# well-mixed gases, fixed optical depth at air mass 1: O2 A band, CO2
_GAS_BANDS = ((762.0, 0.30, 4.0), (2010.0, 0.25, 10.0), (2060.0, 0.25, 10.0))

# G173: sun at 48.19 deg zenith, surface tilted 37 deg towards it -> 11.19 deg incidence
_G173_COS_INCIDENCE = float(np.cos(np.deg2rad(48.19 - 37.0)))


class Illumination:
    """Direct and diffuse irradiance spectra on a wavelength grid.

    Parameters
    ----------
    wavelengths : array-like of shape (n,)
        Grid in nm (sorted here if needed).
    direct, diffuse : array-like of shape (n,)
        Non-negative direct-sun and diffuse-sky irradiance on that grid (any
        common unit).
    name : str, default='custom'
        Shown in ``repr``.
    """

    def __init__(self, wavelengths, direct, diffuse, name="custom"):
        wl = np.asarray(wavelengths, dtype=np.float64).ravel()
        direct = np.asarray(direct, dtype=np.float64).ravel()
        diffuse = np.asarray(diffuse, dtype=np.float64).ravel()
        if not (wl.shape == direct.shape == diffuse.shape) or wl.size < 2:
            raise ValueError(
                "illumination wavelengths, direct and diffuse must be 1-D of the same length >= 2, got "
                f"{wl.shape}, {direct.shape}, {diffuse.shape}"
            )
        if not (np.isfinite(wl).all() and np.isfinite(direct).all() and np.isfinite(diffuse).all()):
            raise ValueError("illumination spectra must be finite")
        if (direct < 0).any() or (diffuse < 0).any():
            raise ValueError("illumination spectra must be non-negative")
        if not (direct + diffuse > 0).any():
            raise ValueError("illumination spectra are zero everywhere")
        order = np.argsort(wl, kind="stable")
        self.wavelengths, self.direct, self.diffuse = wl[order], direct[order], diffuse[order]
        if (np.diff(self.wavelengths) <= 0).any():
            raise ValueError("illumination wavelengths must be distinct")
        for arr in (self.wavelengths, self.direct, self.diffuse):
            arr.setflags(write=False)
        self.name = name

    def at(self, wavelengths):
        """``(direct, diffuse)`` linearly interpolated at ``wavelengths`` (nm).

        Outside the table's range the end values are held (constant
        extrapolation, which never turns negative).
        """
        wl = np.asarray(wavelengths, dtype=np.float64)
        return np.interp(wl, self.wavelengths, self.direct), np.interp(wl, self.wavelengths, self.diffuse)

    def __repr__(self):
        lo, hi = self.wavelengths[0], self.wavelengths[-1]
        return f"Illumination({self.name!r}, {lo:g}-{hi:g} nm, {self.wavelengths.size} points)"

    def __eq__(self, other):
        return isinstance(other, Illumination) and all(
            np.array_equal(a, b)
            for a, b in zip(
                (self.wavelengths, self.direct, self.diffuse), (other.wavelengths, other.direct, other.diffuse), strict=True
            )
        )

    __hash__ = None


def _air_mass(zenith_deg):
    """Relative optical air mass (Kasten and Young 1989), finite up to 90 degrees."""
    z = float(zenith_deg)
    return 1.0 / (np.cos(np.deg2rad(z)) + 0.50572 * (96.07995 - z) ** -1.6364)


def _bands(wl, table, scale=1.0):
    tau = np.zeros_like(wl)
    for centre, depth, sigma in table:
        tau += scale * depth * np.exp(-0.5 * ((wl - centre) / sigma) ** 2)
    return tau


def parametric_illumination(
    wavelengths=None,
    *,
    solar_zenith=30.0,
    aod550=0.15,
    angstrom=1.3,
    water_vapour=1.5,
    temperature=5778.0,
):
    """Clear-sky direct and diffuse irradiance from a small parametric model.

    Parameters
    ----------
    wavelengths : array-like or None, default=None
        Grid in nm; None gives 350-2600 nm in 1 nm steps.
    solar_zenith : float, default=30.0
        Reference solar zenith angle in degrees, in [0, 89].
    aod550 : float, default=0.15
        Aerosol optical depth at 550 nm, ``>= 0``.
    angstrom : float, default=1.3
        Angstrom exponent of the aerosol optical depth, ``tau_a = aod550 (l / 550 nm)^-angstrom``.
    water_vapour : float, default=1.5
        Precipitable water in cm, ``>= 0``; scales the water absorption bands.
    temperature : float, default=5778.0
        Blackbody temperature of the extraterrestrial spectrum in K, ``> 0``.

    Returns
    -------
    Illumination
        Direct (on a horizontal surface) and diffuse irradiance in W m-2 nm-1.
    """
    check_scalar(solar_zenith, "solar_zenith", min_val=0.0, max_val=89.0)
    check_scalar(aod550, "aod550", min_val=0.0)
    check_scalar(angstrom, "angstrom")
    check_scalar(water_vapour, "water_vapour", min_val=0.0)
    check_scalar(temperature, "temperature", min_val=0.0, include_min=False)
    if wavelengths is None:
        wl = np.arange(350.0, 2601.0)
    else:
        wl = np.asarray(wavelengths, dtype=np.float64).ravel()
        check_wavelengths(wl, wl.size)
    lam = wl * 1e-9
    # extraterrestrial: pi * Planck radiance * (R_sun / 1 AU)^2, per nm
    with np.errstate(over="ignore"):  # exp overflow at tiny wavelengths just means zero irradiance
        planck = 2 * _H * _C**2 / lam**5 / np.expm1(_H * _C / (lam * _K * temperature))
    e0 = np.pi * planck * (_R_SUN / _AU) ** 2 * 1e-9
    um = wl / 1000.0
    tau_rayleigh = 0.008569 * um**-4 * (1 + 0.0113 * um**-2 + 0.00013 * um**-4)
    tau_aerosol = aod550 * (um / 0.55) ** -angstrom
    tau_gas = _bands(wl, _WATER_BANDS, water_vapour) + _bands(wl, _GAS_BANDS)
    m = _air_mass(solar_zenith)
    t_r, t_a, t_g = np.exp(-m * tau_rayleigh), np.exp(-m * tau_aerosol), np.exp(-m * tau_gas)
    top = e0 * np.cos(np.deg2rad(solar_zenith))
    direct = top * t_r * t_a * t_g
    # half of the Rayleigh-scattered light and the forward 75% of aerosol-scattered light
    # (single-scattering albedo 0.9) reach the ground, each dimmed by the other process
    diffuse = top * t_g * (0.5 * (1 - t_r) * np.sqrt(t_a) + 0.75 * 0.9 * (1 - t_a) * np.sqrt(t_r))
    return Illumination(wl, direct, diffuse, name="parametric")


def _read_mat(path):
    data = loadmat(path)
    keys = ("wavelength_nm", "Esun_direct_light", "Esky_diffuse_light")
    missing = [k for k in keys if k not in data]
    if missing:
        raise ValueError(f"illumination file {path} lacks the variables {missing} (expected {list(keys)})")
    return Illumination(*(np.asarray(data[k], dtype=np.float64).ravel() for k in keys), name=Path(path).name)


def _read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    # the header is the last row before the first numeric row
    start = next((i for i, r in enumerate(rows) if r and _is_number(r[0])), None)
    if start is None or start == 0:
        raise ValueError(f"illumination file {path} has no header row followed by numbers")
    header = [h.strip().lower() for h in rows[start - 1]]
    values = np.array([[float(v) for v in r[: len(header)]] for r in rows[start:] if r], dtype=np.float64)
    col = {h: i for i, h in enumerate(header)}
    if {"global", "direct"} <= set(col):  # ASTM G173
        direct = values[:, col["direct"]]
        diffuse = np.clip(values[:, col["global"]] - direct * _G173_COS_INCIDENCE, 0.0, None)
    elif {"direct", "diffuse"} <= set(col):
        direct, diffuse = values[:, col["direct"]], values[:, col["diffuse"]]
    else:
        raise ValueError(
            f"illumination file {path}: expected columns 'wavelength, direct, diffuse' or the ASTM G173 "
            f"'wavelength, extraterrestrial, global, direct', got {header}"
        )
    return Illumination(values[:, 0], direct, diffuse, name=Path(path).name)


def _is_number(s):
    try:
        float(s)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=8)
def _load_cached(path, mtime):  # mtime in the key: an edited file is read again
    if path.lower().endswith(".mat"):
        return _read_mat(path)
    if path.lower().endswith(".csv"):
        return _read_csv(path)
    raise ValueError(f"illumination file must be a .mat or .csv file, got {path}")


def load_illumination(path):
    """Read a measured direct/diffuse table (see the module docstring for formats).

    Parameters
    ----------
    path : str or path-like
        A ``.mat`` or ``.csv`` file.

    Returns
    -------
    Illumination
        Read once per file and cached (the arrays are read-only).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"illumination file not found: {path}")
    return _load_cached(os.path.abspath(path), os.path.getmtime(path))


def resolve_illumination(illumination):
    """``illumination`` parameter -> :class:`Illumination` ('parametric', a path, or an instance)."""
    if isinstance(illumination, Illumination):
        return illumination
    if isinstance(illumination, str) and illumination == "parametric":
        return _parametric_default()
    if isinstance(illumination, (str, os.PathLike)):
        return load_illumination(illumination)
    raise TypeError(
        "illumination must be 'parametric', the path of a .mat/.csv table or an Illumination, "
        f"got {type(illumination).__name__}"
    )


@functools.lru_cache(maxsize=1)
def _parametric_default():
    return parametric_illumination()
