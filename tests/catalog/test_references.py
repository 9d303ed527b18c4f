"""The simulator's APCORR / ABVEGAOFFSET references: CRDS format, readers, selection rules."""

import numpy as np
import pytest

from gpucal.catalog import abvega_offset, aperture_params
from gpucal.errors import ReferenceFileError
from gpucal.io.refs import read_abvegaoffset, read_apcorr, read_reference
from gpucal.sim.reffiles import make_reference_files


@pytest.fixture(scope="module", params=["nircam", "miri"])
def refs(request, tmp_path_factory):
    return request.param, make_reference_files(tmp_path_factory.mktemp(request.param), instrument=request.param)


def test_stdatamodels_reads_them(refs):
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")
    instrument, paths = refs
    with datamodels.open(paths["apcorr"]) as model:
        assert type(model).__name__ == ("NrcImgApcorrModel" if instrument == "nircam" else "MirImgApcorrModel")
        assert len(model.apcorr_table) == len(read_apcorr(paths["apcorr"]).columns["filter"])
    with datamodels.ABVegaOffsetModel(paths["abvegaoffset"]) as model:
        assert model.meta.reftype.lower() == "abvegaoffset" and len(model.abvega_offset) > 3


def test_radii_increase_and_corrections_invert_ee(refs):
    instrument, paths = refs
    cols = read_apcorr(paths["apcorr"]).columns
    first = cols["filter"] == cols["filter"][0]
    if instrument == "miri":
        first &= cols["subarray"] == "FULL"
    assert np.all(np.diff(cols["radius"][first]) > 0)
    np.testing.assert_allclose(cols["apcorr"][first] * cols["eefraction"][first], 1.0, rtol=1e-6)
    assert np.all(cols["skyin"] > cols["radius"]) and np.all(cols["skyout"] > cols["skyin"])


def test_selection_and_errors_name_the_file(refs):
    instrument, paths = refs
    filt, pupil = ("F200W", "CLEAR") if instrument == "nircam" else ("F770W", "N/A")
    params = aperture_params(paths["apcorr"], instrument=instrument.upper(), filter_name=filt, pupil=pupil,
                             subarray="FULL", aperture_ee=(30, 50, 70), pixel_scale_ratio=0.5)  # fmt: skip
    cols = read_apcorr(paths["apcorr"]).columns
    row = (cols["filter"] == filt) & (np.round(cols["eefraction"] * 100) == 50)
    if instrument == "miri":
        row &= cols["subarray"] == "FULL"
    assert params["aperture_radii"][1] == pytest.approx(cols["radius"][row][0] / 0.5, rel=1e-6)
    assert abvega_offset(paths["abvegaoffset"], instrument=instrument.upper(), filter_name=filt, pupil=pupil,
                         detector=None) > 0  # fmt: skip
    with pytest.raises(ReferenceFileError, match=str(paths["apcorr"])):
        aperture_params(paths["apcorr"], instrument=instrument.upper(), filter_name="F999W", pupil=pupil,
                        subarray="FULL", aperture_ee=(30, 50, 70), pixel_scale_ratio=1.0)  # fmt: skip
    with pytest.raises(ReferenceFileError, match=str(paths["abvegaoffset"])):
        abvega_offset(paths["abvegaoffset"], instrument=instrument.upper(), filter_name="F999W", pupil=pupil,
                      detector=None)  # fmt: skip
    assert read_reference("abvegaoffset", paths["abvegaoffset"]) is read_abvegaoffset(paths["abvegaoffset"])


def test_wrong_reference_type_is_refused(refs):
    _, paths = refs
    with pytest.raises(ReferenceFileError, match=r"_photom\.fits: REFTYPE is 'photom', expected an apcorr reference"):
        read_apcorr(paths["photom"])
    with pytest.raises(ReferenceFileError, match="abvegaoffset"):
        read_abvegaoffset(paths["distortion"])
