"""Hapke scattering, atmospheric compensation and the illumination spectra behind it."""

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import gen
from scipy.io import loadmat
from scipy.optimize import brentq

from hyperspectral_cl._spectra import default_wavelengths
from hyperspectral_cl.augment import (
    AtmosphericCompensation,
    HapkeScattering,
    Illumination,
    hapke_albedo,
    hapke_reflectance,
    load_illumination,
    parametric_illumination,
)

ILLUMINATION = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "illumination"
MAT_TABLE = ILLUMINATION / "atmosIlluminationModel.mat"
ASTM_TABLE = ILLUMINATION / "ASTMG173.csv"
needs_tables = pytest.mark.skipif(not MAT_TABLE.is_file() or not ASTM_TABLE.is_file(), reason="../shared/data absent")




def reflectance(n=8, b=10, s=3, *, dtype=torch.float64, seed=0, low=0.01, high=0.95):
    g = torch.Generator().manual_seed(seed)
    return (low + (high - low) * torch.rand(n, 1, b, s, s, generator=g, dtype=torch.float64)).to(dtype)


def wild(n=8, b=10, s=3, *, dtype=torch.float64, seed=0):
    """Values far outside reflectance: negative, zero, above 1, large."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, b, s, s, generator=g, dtype=torch.float64) * 3
    x.view(-1)[:5] = torch.tensor([0.0, -1e6, 1e6, 1.0, 2.0], dtype=torch.float64)
    return x.to(dtype)


class Recorder:
    """Wrap a transform's _transform to record the per-sample parameters it was given."""

    def __init__(self, transform):
        self.calls = []
        original = transform._transform

        def spy(x, *args, **kwargs):
            self.calls.append(args)
            return original(x, *args, **kwargs)

        transform._transform = spy


# --------------------------------------------------------------------------- #
# Hapke: an independent numpy version (H-function form, numeric inversion)
# --------------------------------------------------------------------------- #
def np_hapke(w, inc_deg, emi_deg):
    mu0, mu = np.cos(np.deg2rad(inc_deg)), np.cos(np.deg2rad(emi_deg))

    def h(xx):
        return (1 + 2 * xx) / (1 + 2 * xx * np.sqrt(1 - w))

    return w / (4 * (mu0 + mu)) * h(mu0) * h(mu)


def np_albedo(r, inc_deg, emi_deg):
    top = np_hapke(1.0, inc_deg, emi_deg)
    if r <= 0:
        return 0.0
    if r >= top:
        return 1.0
    return brentq(lambda w: np_hapke(w, inc_deg, emi_deg) - r, 0.0, 1.0, xtol=1e-15, rtol=1e-15)


def test_hapke_closed_form_matches_numeric_inversion():
    r = torch.linspace(0.0, 1.05, 43, dtype=torch.float64)
    for inc, emi in [(30, 30), (0, 60), (75, 10)]:
        w = hapke_albedo(r, inc, emi)
        expected = np.array([np_albedo(v, inc, emi) for v in r.numpy()])
        np.testing.assert_allclose(w.numpy(), expected, atol=1e-10)
        # a round trip inside the model's range; above it, the brightest (w = 1) surface
        top = np_hapke(1.0, inc, emi)
        np.testing.assert_allclose(hapke_reflectance(w, inc, emi).numpy(), np.minimum(r.numpy(), top), atol=1e-12)


def test_hapke_reflectance_known_values():
    # w = 1 at normal incidence and emission: (1/8) * 3 * 3 = 9/8; w = 0 reflects nothing
    assert hapke_reflectance(torch.tensor(1.0, dtype=torch.float64), 0.0, 0.0).item() == pytest.approx(9 / 8)
    assert hapke_reflectance(torch.tensor(0.0, dtype=torch.float64), 40.0, 20.0).item() == 0.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("make", [reflectance, wild])
def test_hapke_at_reference_geometry_returns_input_exactly(dtype, make):
    x = make(dtype=dtype)
    for ref in [(30.0, 30.0), (0.0, 45.0), (70.0, 5.0)]:
        t = HapkeScattering(incidence=ref[0], emission=ref[1], min_angle=0.0, max_angle=80.0)
        n = x.shape[0]
        out = t._transform(x, torch.full((n,), ref[0], dtype=dtype), torch.full((n,), ref[1], dtype=dtype))
        assert torch.equal(out, x)
    # and through the random path: both angles drawn in [30, 30]
    assert torch.equal(HapkeScattering(min_angle=30.0, max_angle=30.0)(x, generator=gen(0)), x)


def test_hapke_at_reference_geometry_with_band_stats_returns_input_exactly():
    x = wild()
    mean, scale = np.linspace(0.1, 0.5, 10), np.linspace(0.05, 0.2, 10)
    t = HapkeScattering(min_angle=30.0, max_angle=30.0, band_mean=mean, band_scale=scale)
    assert torch.equal(t(x, generator=gen(0)), x)


def test_hapke_matches_independent_numpy_model():
    x = reflectance(4, b=5, s=2, low=0.0, high=1.0)
    rec = HapkeScattering(incidence=25.0, emission=35.0, max_angle=70.0)
    spy = Recorder(rec)
    out = rec(x, generator=gen(3))
    inc, emi = (a.numpy() for a in spy.calls[0][:2])
    expected = np.empty(x.shape)
    for i in range(4):
        for idx in np.ndindex(x.shape[1:]):
            w = np_albedo(float(x[(i, *idx)]), 25.0, 35.0)
            expected[(i, *idx)] = np_hapke(w, inc[i], emi[i])
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-9, atol=1e-12)


def test_hapke_draws_incidence_and_emission_independently():
    t = HapkeScattering(min_angle=10.0, max_angle=50.0)
    spy = Recorder(t)
    t(reflectance(2000, b=2, s=1), generator=gen(0))
    inc, emi = (a.numpy() for a in spy.calls[0][:2])
    assert inc.min() >= 10 and inc.max() <= 50 and emi.min() >= 10 and emi.max() <= 50
    assert abs(np.corrcoef(inc, emi)[0, 1]) < 0.1
    assert np.mean(np.abs(inc - emi)) > 5


def test_hapke_brightens_dark_surfaces_more_at_grazing_geometry():
    # the multiple-scattering term: the relative change depends on the albedo
    x = torch.tensor([0.02, 0.2, 0.6], dtype=torch.float64).view(1, 1, 3, 1, 1)
    out = HapkeScattering()._transform(x, torch.tensor([60.0], dtype=torch.float64), torch.tensor([60.0], dtype=torch.float64))
    ratio = (out / x).flatten()
    assert (ratio > 1).all()
    assert ratio[0] > ratio[1] > ratio[2]


def test_hapke_out_of_domain_values_are_scaled_by_finite_factors():
    x = torch.tensor([-5.0, -0.1, 0.0, 3.0, 1e6], dtype=torch.float64).view(1, 1, 5, 1, 1)
    t = HapkeScattering()
    inc, emi = torch.tensor([10.0], dtype=torch.float64), torch.tensor([50.0], dtype=torch.float64)
    out = t._transform(x, inc, emi).flatten()
    assert torch.isfinite(out).all()
    mu = np.cos(np.deg2rad([30.0, 30.0, 10.0, 50.0]))
    black = (mu[0] + mu[1]) / (mu[2] + mu[3])  # w = 0: Lommel-Seeliger ratio
    white = float(hapke_reflectance(torch.tensor(1.0, dtype=torch.float64), 10.0, 50.0) / hapke_reflectance(torch.tensor(1.0, dtype=torch.float64)))
    np.testing.assert_allclose(out[:2].numpy(), np.array([-5.0, -0.1]) * black, rtol=1e-12)
    assert out[2].item() == 0.0
    np.testing.assert_allclose(out[3:].numpy(), np.array([3.0, 1e6]) * white, rtol=1e-12)


def test_hapke_with_band_stats_works_on_reflectance():
    r = reflectance(6, b=10)
    mean = r.mean(dim=(0, 1, 3, 4)).numpy()
    scale = r.std(dim=(0, 1, 3, 4)).numpy()
    z = (r - torch.as_tensor(mean).view(1, 1, -1, 1, 1)) / torch.as_tensor(scale).view(1, 1, -1, 1, 1)
    out_r = HapkeScattering()(r, generator=gen(0))
    out_z = HapkeScattering(band_mean=mean, band_scale=scale)(z, generator=gen(0))
    back = out_z * torch.as_tensor(scale).view(1, 1, -1, 1, 1) + torch.as_tensor(mean).view(1, 1, -1, 1, 1)
    np.testing.assert_allclose(back.numpy(), out_r.numpy(), atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"incidence": -1.0}, "incidence"),
        ({"emission": 95.0}, "emission"),
        ({"max_angle": 90.0}, "max_angle"),
        ({"min_angle": 40.0, "max_angle": 20.0}, "max_angle"),
        ({"band_mean": [0.0, 1.0]}, "band_mean"),
        ({"band_scale": 0.0}, "band_scale"),
        ({"band_scale": np.full(10, np.nan)}, "band_scale"),
    ],
)
def test_hapke_bad_params(kwargs, name):
    with pytest.raises(ValueError, match=name):
        HapkeScattering(**kwargs)(reflectance(2), generator=gen(0))


# --------------------------------------------------------------------------- #
# Atmospheric compensation
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("make", [reflectance, wild])
def test_atmospheric_angle_zero_returns_input_exactly(dtype, make):
    x = make(dtype=dtype)
    assert torch.equal(AtmosphericCompensation(max_angle=0.0)(x, generator=gen(0)), x)
    stats = {"band_mean": np.linspace(0.1, 0.5, 10), "band_scale": np.linspace(0.05, 0.2, 10)}
    assert torch.equal(AtmosphericCompensation(max_angle=0.0, **stats)(x, generator=gen(0)), x)


def expected_atmospheric(x, angles, e_sun, e_sky):
    e_sky = e_sky + 1e-9 * np.max(e_sun + e_sky)
    factor = (e_sun[None] * np.cos(np.deg2rad(angles))[:, None] + e_sky[None]) / (e_sun + e_sky)[None]
    return x.numpy() * factor[:, None, :, None, None]


def test_atmospheric_matches_formula_with_parametric_model():
    x = reflectance(16, b=30)
    t = AtmosphericCompensation()
    spy = Recorder(t)
    out = t(x, generator=gen(0))
    angles = spy.calls[0][0].numpy()
    assert angles.min() >= 0 and angles.max() <= 81 and angles.std() > 10
    e_sun, e_sky = parametric_illumination().at(default_wavelengths(30))
    np.testing.assert_allclose(out.numpy(), expected_atmospheric(x, angles, e_sun, e_sky), rtol=1e-12)


def test_atmospheric_factor_between_cos_and_one_and_bluer_bands_dim_least():
    wl = np.array([420.0, 480.0, 550.0, 650.0, 860.0, 1050.0, 1650.0, 2200.0])
    x = torch.ones(50, 1, wl.size, 1, 1, dtype=torch.float64)
    t = AtmosphericCompensation(min_angle=20.0, max_angle=80.0, wavelengths=wl)
    spy = Recorder(t)
    out = t(x, generator=gen(0))[:, 0, :, 0, 0]
    cos = torch.cos(torch.deg2rad(spy.calls[0][0]))[:, None]
    assert ((out >= cos - 1e-12) & (out < 1)).all()
    # skylight is relatively strongest in the blue: the factor falls from 420 to 1050 nm
    assert (out[:, :6].diff(dim=1) < 0).all()


def test_atmospheric_with_band_stats_works_on_reflectance():
    r = reflectance(6, b=10)
    mean, scale = np.linspace(0.2, 0.6, 10), np.linspace(0.1, 0.3, 10)
    z = (r - torch.as_tensor(mean).view(1, 1, -1, 1, 1)) / torch.as_tensor(scale).view(1, 1, -1, 1, 1)
    out_r = AtmosphericCompensation()(r, generator=gen(0))
    out_z = AtmosphericCompensation(band_mean=mean, band_scale=scale)(z, generator=gen(0))
    back = out_z * torch.as_tensor(scale).view(1, 1, -1, 1, 1) + torch.as_tensor(mean).view(1, 1, -1, 1, 1)
    np.testing.assert_allclose(back.numpy(), out_r.numpy(), atol=1e-12)


@pytest.mark.shared_data
@needs_tables
@pytest.mark.parametrize("table", [MAT_TABLE, ASTM_TABLE], ids=["borsoi_mat", "astm_g173"])
def test_atmospheric_with_measured_tables(table):
    wl = np.linspace(401.0, 889.0, 20)  # Samson's grid, inside both tables
    x = reflectance(12, b=20)
    t = AtmosphericCompensation(illumination=str(table), wavelengths=wl)
    spy = Recorder(t)
    out = t(x, generator=gen(0))
    if table.suffix == ".mat":
        m = loadmat(table)
        grid = m["wavelength_nm"].ravel().astype(float)
        e_sun = np.interp(wl, grid, m["Esun_direct_light"].ravel())
        e_sky = np.interp(wl, grid, m["Esky_diffuse_light"].ravel())
    else:
        data = np.loadtxt(table, delimiter=",", skiprows=2)
        e_sun = np.interp(wl, data[:, 0], data[:, 3])
        e_sky = np.interp(wl, data[:, 0], np.clip(data[:, 2] - data[:, 3] * np.cos(np.deg2rad(48.19 - 37.0)), 0, None))
    np.testing.assert_allclose(out.numpy(), expected_atmospheric(x, spy.calls[0][0].numpy(), e_sun, e_sky), rtol=1e-12)
    assert torch.equal(AtmosphericCompensation(max_angle=0.0, illumination=table, wavelengths=wl)(x, generator=gen(0)), x)


@pytest.mark.shared_data
@needs_tables
def test_measured_tables_load():
    mat = load_illumination(MAT_TABLE)
    assert mat.wavelengths[0] == 400 and mat.wavelengths[-1] == 2500 and mat.wavelengths.size == 2101
    assert load_illumination(MAT_TABLE) is mat  # cached
    astm = load_illumination(ASTM_TABLE)
    assert astm.wavelengths[0] == 280 and astm.wavelengths[-1] == 4000
    assert (astm.diffuse >= 0).all() and (astm.direct >= 0).all()
    # both tables see the deep water bands
    for table in (mat, astm):
        d, _ = table.at([1250.0, 1380.0, 1870.0])
        assert d[1] < 0.05 * d[0] and d[2] < 0.05 * d[0]


def test_atmospheric_bad_params(tmp_path):
    x = reflectance(2, b=10)
    with pytest.raises(ValueError, match="wavelengths has 5 values"):
        AtmosphericCompensation(wavelengths=np.linspace(400, 900, 5))(x, generator=gen(0))
    with pytest.raises(ValueError, match="wavelengths"):
        AtmosphericCompensation(wavelengths=-np.ones(10))(x, generator=gen(0))
    with pytest.raises(ValueError, match="max_angle"):
        AtmosphericCompensation(max_angle=91.0)(x, generator=gen(0))
    with pytest.raises(TypeError, match="illumination"):
        AtmosphericCompensation(illumination=3)(x, generator=gen(0))
    with pytest.raises(FileNotFoundError, match="illumination"):
        AtmosphericCompensation(illumination=str(tmp_path / "missing.mat"))(x, generator=gen(0))
    bad = tmp_path / "table.txt"
    bad.write_text("1,2,3\n")
    with pytest.raises(ValueError, match=r"\.mat or \.csv"):
        AtmosphericCompensation(illumination=bad)(x, generator=gen(0))
    csv = tmp_path / "table.csv"
    csv.write_text("wavelength,sun,sky\n400,1,1\n500,1,1\n")
    with pytest.raises(ValueError, match="direct, diffuse"):
        load_illumination(csv)


def test_custom_csv_table(tmp_path):
    csv = tmp_path / "light.csv"
    csv.write_text("# my sensor\nwavelength,direct,diffuse\n400,1.0,3.0\n1000,2.0,1.0\n2500,1.0,0.0\n")
    table = load_illumination(csv)
    d, s = table.at([400.0, 700.0, 3000.0])
    np.testing.assert_allclose(d, [1.0, 1.5, 1.0])
    np.testing.assert_allclose(s, [3.0, 2.0, 0.0])  # held constant past the end


# --------------------------------------------------------------------------- #
# the parametric illumination model
# --------------------------------------------------------------------------- #
def test_parametric_illumination_shape():
    il = parametric_illumination()
    d, s = il.at([450.0, 550.0, 870.0, 940.0, 1040.0, 1250.0, 1380.0, 1650.0, 1870.0, 2200.0])
    assert (d >= 0).all() and (s >= 0).all()
    # irradiance of the order of the ASTM G173 direct spectrum (W m-2 nm-1)
    assert 0.8 < d[1] < 2.0
    assert d[3] < 0.9 * min(d[2], d[4])  # 940 nm water band
    assert d[6] < 0.05 * d[5] and d[8] < 0.05 * d[7]  # 1380, 1870 nm: nearly opaque
    ratio = s / d
    assert ratio[0] > ratio[1] > ratio[2] > ratio[5]  # Rayleigh and aerosol scattering fall with wavelength
    # more aerosol or a lower sun: more diffuse light relative to direct
    hazy = parametric_illumination(aod550=0.6)
    low_sun = parametric_illumination(solar_zenith=70.0)
    for other in (hazy, low_sun):
        d2, s2 = other.at([550.0])
        assert s2[0] / d2[0] > ratio[1]
    wet = parametric_illumination(water_vapour=4.0)
    assert wet.at([940.0])[0][0] < d[3]


@pytest.mark.parametrize(
    "kwargs", [{"solar_zenith": 95.0}, {"aod550": -0.1}, {"water_vapour": -1.0}, {"temperature": 0.0}]
)
def test_parametric_illumination_bad_params(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        parametric_illumination(**kwargs)


def test_illumination_validation():
    with pytest.raises(ValueError, match="same length"):
        Illumination([400, 500], [1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="non-negative"):
        Illumination([400, 500], [1.0, -1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="distinct"):
        Illumination([400, 400], [1.0, 1.0], [1.0, 2.0])
    il = Illumination([500, 400], [2.0, 1.0], [0.0, 1.0])  # unsorted input is sorted
    assert list(il.wavelengths) == [400, 500] and list(il.direct) == [1.0, 2.0]
    assert il == Illumination([400, 500], [1.0, 2.0], [1.0, 0.0])
    x = torch.ones(3, 1, 2, 1, 1, dtype=torch.float64)
    out = AtmosphericCompensation(illumination=il, wavelengths=[400.0, 500.0], min_angle=60.0, max_angle=60.0)(x)
    # 400 nm: (1 * 0.5 + 1) / 2; 500 nm: (2 * 0.5 + 0) / 2
    np.testing.assert_allclose(out[:, 0, :, 0, 0].numpy(), [[0.75, 0.5]] * 3, rtol=1e-8)
