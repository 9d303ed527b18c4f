"""Distributed image2 on a local Dask cluster (in-process workers; see test_real_cluster.py for processes)."""

import json
import os

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


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    return write_reference_files(tmp_path_factory.mktemp("refs"))


@pytest.fixture
def inputs(tmp_path, refs):
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


def test_json_report_per_input(client, inputs, tmp_path):
    """One JSON report, in the output folder and at ``report``, with each input's outcome (issue 9)."""
    from gpucal.farm import run_image2_many

    rates, steps = inputs
    broken = tmp_path / "broken_rate.fits"
    broken.write_bytes(b"not a FITS file" * 300)
    out = tmp_path / "out"
    results = run_image2_many(
        [rates[0], broken], client=client, output_dir=out, steps=steps, device="cpu", report=tmp_path / "r.json"
    )
    report = json.loads((out / "gpucal-farm-image2.json").read_text())
    assert report == json.loads((tmp_path / "r.json").read_text())
    assert report["pipeline"] == "image2" and report["finished"]
    assert report["summary"] == {"ok": 1, "failed": 1, "skipped": 0, "pending": 0}
    good, bad = report["inputs"]
    assert good["input"] == str(rates[0].resolve()) and good["status"] == "ok" and good["error"] == ""
    assert good["products"] == results[0].written and good["products"][0].endswith("_cal.fits")
    assert good["seconds"] > 0 and good["worker"] and good["attempts"] == 1 and good["device"] == "cpu"
    assert bad["status"] == "failed" and "not a FITS file" in bad["error"] and bad["products"] == []


def test_unexpected_failures_are_retried_bad_inputs_are_not(client, inputs, tmp_path, monkeypatch):
    """``retries`` re-runs an input whose task failed unexpectedly (here one OSError); a bad file fails once."""
    import gpucal.farm.tasks as tasks
    from gpucal.farm import run_image2_many

    rates, steps = inputs
    real, calls = tasks._pipeline, []

    def flaky(name, options):
        calls.append(name)
        if len(calls) == 1:
            raise OSError("stale NFS file handle")
        return real(name, options)

    monkeypatch.setattr(tasks, "_pipeline", flaky)  # in-process workers see the patch
    (task,) = run_image2_many([rates[0]], client=client, output_dir=tmp_path / "a", steps=steps, device="cpu",
                              retries=1)  # fmt: skip
    assert task.ok and task.attempts == 2
    calls.clear()
    (task,) = run_image2_many([rates[0]], client=client, output_dir=tmp_path / "b", steps=steps, device="cpu")
    assert not task.ok and task.attempts == 1 and task.error == "OSError: stale NFS file handle"
    broken = tmp_path / "broken_rate.fits"
    broken.write_bytes(b"garbage" * 500)
    (task,) = run_image2_many([broken], client=client, output_dir=tmp_path / "c", steps=steps, device="cpu", retries=3)
    assert not task.ok and task.attempts == 1


def test_threads_per_task(client, inputs, tmp_path):
    from gpucal.farm import run_image2_many

    rates, steps = inputs
    (task,) = run_image2_many([rates[0]], client=client, output_dir=tmp_path, steps=steps, device="cpu", threads=1)
    assert task.ok and task.threads == 1


def test_paths_are_absolute_before_tasks_are_sent(inputs, tmp_path, monkeypatch, refs):
    """Workers run in other folders: inputs, output, ref_dir, config and path parameters go out absolute."""
    from gpucal.farm import prepare_farm

    rates, _ = inputs
    config = tmp_path / "pars.yaml"
    config.write_text("steps:\n- name: resample\n  parameters: {skip: true}\n")
    monkeypatch.chdir(tmp_path)
    flat = os.path.relpath(refs["flat"], tmp_path)
    plan = prepare_farm(
        "image2", [rates[0].name], output_dir="out", ref_dir=".", config_file="pars.yaml", device="cpu",
        steps={"flat_field": {"override_flat": flat}, "bkg_subtract": {"bkg_list": "x.fits, y.fits"}},
    )  # fmt: skip
    assert plan.inputs == [str(rates[0].resolve())]
    assert plan.options["output_dir"] == str(tmp_path / "out") and plan.options["ref_dir"] == str(tmp_path)
    assert plan.options["config_file"] == str(config)
    assert plan.options["steps"]["flat_field"]["override_flat"] == refs["flat"]
    # names of files that do not exist stay as given (the step reports them); lists become lists
    assert plan.options["steps"]["bkg_subtract"]["bkg_list"] == ["x.fits", "y.fits"]


def test_resume_skips_complete_products_and_redoes_damaged_ones(client, inputs, tmp_path, caplog):
    from gpucal.farm import run_image2_many

    rates, steps = inputs
    out = tmp_path / "out"
    first = run_image2_many(rates, client=client, output_dir=out, steps=steps, device="cpu")
    products = [r.written[0] for r in first]
    with open(products[0], "r+b") as f:  # truncated
        f.truncate(os.path.getsize(products[0]) - 2880)
    os.unlink(products[2])  # gone
    again = run_image2_many(rates, client=client, output_dir=out, steps=steps, device="cpu", resume=True)
    assert [r.status for r in again] == ["ok", "skipped", "ok"]
    assert again[1].written == [products[1]] and again[1].attempts == 0
    assert "truncated" in caplog.text and "missing" in caplog.text
    report = json.loads((out / "gpucal-farm-image2.json").read_text())
    assert report["summary"] == {"ok": 2, "failed": 0, "skipped": 1, "pending": 0}
    # A second resume skips everything; other parameters skip nothing.
    assert {r.status for r in run_image2_many(rates, client=client, output_dir=out, steps=steps, device="cpu",
                                              resume=True)} == {"skipped"}  # fmt: skip
    changed = {**steps, "photom": {**steps["photom"], "skip": True}}
    redo = run_image2_many(rates, client=client, output_dir=out, steps=changed, device="cpu", resume=True)
    assert {r.status for r in redo} == {"ok"}
