"""augment/illumination.py: the direct and diffuse spectra behind atmospheric compensation.

Measured tables (MATLAB and CSV) and the parametric clear-sky model.
"""

import numpy as np
import pytest
import torch
from conftest import ASTM_TABLE, MAT_TABLE, needs_tables

from hyperspectral_cl.augment import AtmosphericCompensation, Illumination, load_illumination, parametric_illumination


# --------------------------------------------------------------------------- #
# measured tables
# --------------------------------------------------------------------------- #
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
