"""image2 refuses references that do not fit the science exposure, as CRDS would never select them.

The issue-9 cases: a ``_rate`` file given as a flat, another filter's flat,
a flat smaller than the science, a truncated reference (one line, no astropy
warnings), and a reference folder that does not exist.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits

from gpucal.cli import main
from gpucal.errors import ReferenceFileError
from gpucal.pipelines.image2 import Image2Pipeline
from tests.conftest import ROOT


def _run(rate, steps, tmp_path):
    out = tmp_path / "out"
    return Image2Pipeline.call(str(rate), steps=steps, device="cpu", save_results=True, output_dir=str(out)), out


def _copy_flat(refs, path, **header):
    with fits.open(refs["flat"]) as hdul:
        hdul[0].header.update(header)
        hdul.writeto(path)
    return str(path)


def test_a_rate_file_given_as_the_flat_is_refused(tmp_path, rate, steps):
    steps = dict(steps, flat_field={"override_flat": str(rate)})
    with pytest.raises(ReferenceFileError) as info:
        _run(rate, steps, tmp_path)
    assert str(info.value) == (
        f"override_flat={rate} does not fit {rate}: no REFTYPE keyword: not a reference file "
        "(a flat reference was expected)"
    )
    assert not (tmp_path / "out" / rate.name.replace("_rate", "_cal")).exists()


def test_a_flat_of_another_filter_is_refused(tmp_path, rate, steps, refs):
    flat = _copy_flat(refs, tmp_path / "f150w_flat.fits", FILTER="F150W")
    with pytest.raises(ReferenceFileError, match=f"override_flat={flat} does not fit {rate}: FILTER=F150W, the "):
        _run(rate, dict(steps, flat_field={"override_flat": flat}), tmp_path)
    with pytest.raises(ReferenceFileError, match=f"user_supplied_flat={flat} does not fit {rate}: FILTER=F150W"):
        _run(rate, dict(steps, flat_field={"user_supplied_flat": flat}), tmp_path)
    generic = _copy_flat(refs, tmp_path / "generic_flat.fits", FILTER="N/A", PUPIL="N/A")
    (result,), _ = _run(rate, dict(steps, flat_field={"override_flat": generic}), tmp_path)
    assert result.meta.cal_step.flat_field == "COMPLETE"


def test_a_flat_smaller_than_the_science_is_an_error(tmp_path, rate, steps, refs):
    """It used to be skipped with a warning (jwst's behaviour), leaving the data un-flat-fielded."""
    with fits.open(refs["flat"]) as hdul:
        hdul[0].header.update(SUBSTRT1=1001, SUBSTRT2=1001, SUBSIZE1=32, SUBSIZE2=32)
        for name in ("SCI", "ERR", "DQ"):
            hdul[name].data = np.ascontiguousarray(hdul[name].data[1000:1032, 1000:1032])
        hdul.writeto(tmp_path / "small_flat.fits")
    steps = dict(steps, flat_field={"override_flat": str(tmp_path / "small_flat.fits")})
    with pytest.raises(
        ReferenceFileError, match=f"small_flat.fits: flat is 32x32 pixels, smaller than the science {rate}"
    ):
        _run(rate, steps, tmp_path)


def _cli_args(rate, steps, out):
    args = ["image2", str(rate), "--output-dir", str(out)]
    for step, params in steps.items():
        args += [f"--steps.{step}.{name}={value}" for name, value in params.items()]
    return args


def test_a_truncated_reference_is_one_line_without_astropy_warnings(tmp_path, rate, steps, refs):
    with open(refs["photom"], "rb") as fh:
        data = fh.read()
    cut = tmp_path / "cut_photom.fits"
    cut.write_bytes(data[: len(data) * 2 // 3])
    steps = dict(steps, photom={"override_photom": str(cut), "override_area": refs["area"]})
    env = {**os.environ, "GPUCAL_REF_DIR": ""}
    done = subprocess.run([sys.executable, "-m", "gpucal.cli", "-q", *_cli_args(rate, steps, tmp_path / "out")],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)  # fmt: skip
    assert done.returncode == 5, done.stderr
    assert done.stderr.splitlines() == [
        f"gpucal: error: photom reference {cut}: truncated FITS file (data of extension PHOTOM is incomplete)"
    ]


def test_a_reference_folder_that_does_not_exist_is_an_error(tmp_path, rate, steps, capsys):
    """Every reference is overridden here, so a missing folder used to pass unnoticed."""
    missing = tmp_path / "no_such_refs"
    assert main([*_cli_args(rate, steps, tmp_path / "out"), "--ref-dir", str(missing)]) == 5
    err = capsys.readouterr().err
    assert err.strip() == f"gpucal: error: reference folder {missing} (--ref-dir) does not exist"
    assert not (tmp_path / "out").exists()
