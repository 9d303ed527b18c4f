"""Distributed image2 on a local Dask cluster."""

import pytest

from gpucal.io.exposure import read_exposure
from tests.factories import write_reference_files, write_small_rate

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    from gpucal.farm import connect

    client = connect(workers=2, processes=False)
    yield client
    client.close()


@pytest.fixture
def inputs(tmp_path):
    refs = write_reference_files(tmp_path / "refs")
    rates = [write_small_rate(tmp_path, name=f"jw01345001001_02101_0000{k}_nrca1_rate.fits", seed=k) for k in (1, 2, 3)]
    steps = {
        "assign_wcs": {"override_distortion": refs["distortion"], "override_filteroffset": refs["filteroffset"]},
        "flat_field": {"override_flat": refs["flat"]},
        "photom": {"override_photom": refs["photom"], "override_area": refs["area"]},
        "resample": {"skip": True},
    }
    return rates, steps


def test_many_exposures_in_parallel(client, inputs, tmp_path):
    from gpucal.farm import run_image2_many
    from gpucal.pipelines.image2 import Image2Pipeline

    rates, steps = inputs
    results = run_image2_many(rates, client=client, output_dir=tmp_path / "out", steps=steps, device="cpu")
    assert [r.input for r in results] == [str(p.resolve()) for p in rates] and all(r.ok for r in results)
    (serial,) = Image2Pipeline.call(str(rates[1]), steps=steps, device="cpu")
    farmed = read_exposure(results[1].written[0])
    assert (farmed.data[farmed.dq & 1 == 0] == serial.data[serial.dq & 1 == 0]).all()


def test_one_bad_input_does_not_stop_the_others(client, inputs, tmp_path):
    from gpucal.farm import run_image2_many

    rates, steps = inputs
    broken = tmp_path / "broken_rate.fits"
    broken.write_bytes(b"not a FITS file" * 300)
    results = run_image2_many(
        [rates[0], broken, rates[2]], client=client, output_dir=tmp_path / "out", steps=steps, device="cpu"
    )
    assert [r.ok for r in results] == [True, False, True]
    assert "not a FITS file" in results[1].error and "broken_rate.fits" in results[1].error


def test_bad_parameters_fail_before_any_task(client, inputs, tmp_path):
    from gpucal.errors import ParameterError
    from gpucal.farm import run_image2_many

    rates, _ = inputs
    with pytest.raises(ParameterError, match="unknown step"):
        run_image2_many(rates, client=client, output_dir=tmp_path, steps={"nosuchstep": {}})
