"""image3's outputs (issue 9): never over an input, stale scratch folders of its own products removed, a failed
rename reported as an output error (exit 6) with the earlier products left as they were."""

import os
import pathlib
import shutil

import pytest

from gpucal.errors import OutputError
from gpucal.io import atomic
from gpucal.io.asn import make_image3_asn, write_asn
from gpucal.io.atomic import ScratchFolder
from gpucal.pipelines.image2 import Image2Pipeline
from gpucal.pipelines.image3 import Image3Pipeline

PRODUCT = "jw01345-o001_t001_nircam_clear-f200w"
ONLY_RESAMPLE = {name: {"skip": True} for name in ("tweakreg", "skymatch", "outlier_detection", "source_catalog")}


@pytest.fixture
def cal(rate, steps, tmp_path):
    (result,) = Image2Pipeline.call(str(rate), steps=steps, device="cpu", save_results=True,
                                    output_dir=str(tmp_path / "cal"))  # fmt: skip
    return result.written[0]


def _image3(input, out, steps=ONLY_RESAMPLE):
    return Image3Pipeline.call(str(input), steps=steps, device="cpu", save_results=True, output_dir=str(out))


def _entries(folder):
    return {p.name: (p.read_bytes() if p.is_file() else None) for p in pathlib.Path(folder).iterdir()}


def test_a_crf_input_is_never_overwritten(cal, tmp_path):
    """image3 over its own _crf files (same association id, same folder) would write each _crf over its input."""
    folder = tmp_path / "again"
    folder.mkdir()
    crf = folder / cal.name.replace("_cal.fits", "_o001_crf.fits")
    shutil.copy(cal, crf)
    asn = write_asn(make_image3_asn(PRODUCT, [crf.name], asn_id="o001"), folder / "image3_asn.json")
    before = _entries(folder)
    with pytest.raises(OutputError, match=rf"{crf.name}: this output would overwrite an input exposure"):
        _image3(asn, folder, steps={})
    assert _entries(folder) == before  # refused before any computation, no scratch folder left


def test_an_i2d_input_is_never_overwritten(cal, tmp_path):
    i2d = tmp_path / f"{PRODUCT}_i2d.fits"
    shutil.copy(cal, i2d)
    asn = write_asn(make_image3_asn(PRODUCT, [i2d.name], asn_id="o001"), tmp_path / "image3_asn.json")
    with pytest.raises(OutputError, match=rf"{i2d.name}: this output would overwrite an input exposure"):
        _image3(asn, tmp_path)
    assert i2d.read_bytes() == cal.read_bytes()


def test_stale_scratch_folders_of_its_product_are_removed(cal, tmp_path):
    out = tmp_path / "out"
    asn = write_asn(make_image3_asn(PRODUCT, [str(cal)], asn_id="o001"), tmp_path / "image3_asn.json")
    stale = ScratchFolder(out, f"image3-{PRODUCT}")
    (stale.path / f"{PRODUCT}_i2d.fits").write_bytes(b"left by a killed run")
    os.close(stale._fd)  # its process is gone
    other = ScratchFolder(out, "image3-jw01345-o002_t001_nircam_clear-f200w")
    os.close(other._fd)
    _image3(asn, out, steps={**ONLY_RESAMPLE, "resample": {"skip": True}})
    assert not stale.path.exists() and other.path.exists()


def test_a_failed_rename_is_an_output_error_naming_the_file(cal, tmp_path, monkeypatch):
    out = tmp_path / "out"
    asn = write_asn(make_image3_asn(PRODUCT, [str(cal)], asn_id="o001"), tmp_path / "image3_asn.json")
    _image3(asn, out)
    before = _entries(out)
    assert list(before) == [f"{PRODUCT}_i2d.fits"]
    real = os.replace

    def refuse(src, dst, *args, **kwargs):
        if pathlib.Path(dst) == out / f"{PRODUCT}_i2d.fits" and ".gpucal-image3-" in str(src):
            raise OSError(30, "Read-only file system")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(atomic.os, "replace", refuse)
    with pytest.raises(OutputError, match=rf"{PRODUCT}_i2d.fits: cannot be renamed into place") as error:
        _image3(asn, out)
    assert error.value.exit_code == 6
    assert _entries(out) == before
