"""match_sky against stcal's skymatch on the same small images and gwcs WCSs (every method and statistic)."""

import numpy as np
import pytest

from gpucal.engine import CPU
from gpucal.errors import InputFileError, ParameterError
from gpucal.skymatch import SKYSTATS, SkyMatchParams, match_sky, subtract_sky
from tests.skymatch._scene import make_scene, stcal_levels

pytest.importorskip("stcal.skymatch")

OFFSETS = [(0, 0), (25, 5), (10, 30), (-20, 15)]
SKIES = [1.0, 1.3, 0.8, 1.15]


def _compare(members, method, skystat, **kw):
    params = SkyMatchParams(skymethod=method, skystat=skystat, **kw)
    got = match_sky(members, params, CPU)
    stcal_kw = {k: v for k, v in kw.items() if k not in ("match_down", "subtract")}
    expected = stcal_levels(
        members, method, skystat, match_down=params.match_down, subtract=params.subtract, **stcal_kw
    )
    assert len(got) == len(members)
    for k, (level, (exp_level, exp_image)) in enumerate(zip(got, expected, strict=True)):
        if exp_level is None:
            assert level is None, f"member {k}"
            assert got.status[k] == "SKIPPED"
            continue
        assert got.status[k] == "COMPLETE"
        assert level == pytest.approx(float(exp_level), rel=1e-6, abs=1e-3 * abs(float(exp_level)) + 1e-7), k
        if params.subtract:
            data = subtract_sky(members[k].data.copy(), got.steps[k])
            np.testing.assert_allclose(data, exp_image, rtol=1e-6, atol=1e-6, equal_nan=True)
    return got


@pytest.mark.parametrize("skystat", SKYSTATS)
@pytest.mark.parametrize("method", ["local", "global", "match", "global+match"])
def test_every_method_and_statistic(method, skystat):
    members = make_scene(OFFSETS, SKIES)
    got = _compare(members, method, skystat)
    assert all(m.loads == 1 for m in members)  # each member loaded once
    if method == "match":
        assert min(got) == 0.0
        # recovered differences of the injected skies (noise 0.05, thousands of pixels)
        np.testing.assert_allclose(np.array(got) - np.array(got)[2], np.array(SKIES) - SKIES[2], atol=0.02)


@pytest.mark.parametrize("method", ["match", "global+match", "local"])
def test_subtract_and_match_up(method):
    members = make_scene(OFFSETS, SKIES, seed=9)
    got = _compare(members, method, "mode", subtract=True, match_down=False)
    assert got.subtract and all(len(s) >= 1 for s in got.steps)


def test_stepsize_and_clip_parameters():
    members = make_scene(OFFSETS[:3], SKIES[:3], rotation=[0.0, 17.0, -30.0])
    _compare(members, "global+match", "median", stepsize=25, nclip=3, lsigma=3.0, usigma=2.5, lower=0.5)


def test_non_overlapping_image():
    offsets = [(0, 0), (25, 5), (400, 400)]  # the third overlaps nothing
    members = make_scene(offsets, SKIES[:3])
    got = _compare(members, "match", "mode")
    assert got[2] is None and got.status[2] == "SKIPPED"
    got = _compare(members, "global+match", "mode")
    assert got[2] is not None  # global gives it the common level


def test_two_member_group():
    members = make_scene(OFFSETS, SKIES, groups=["a", "b", "b", "c"])
    for method in ("match", "global+match", "local"):
        got = _compare(members, method, "mode")
        if method != "local":
            assert got[1] == got[2]  # a group shares one delta


def test_progress_and_memory_flat():
    members = make_scene(OFFSETS, SKIES)
    seen = []
    match_sky(members, SkyMatchParams(), progress=seen.append)
    assert seen == [0, 1, 2, 3]


def test_previous_run_consistency():
    members = make_scene(OFFSETS[:2], SKIES[:2])
    members[0].background = {"level": 0.5, "subtracted": True}
    with pytest.raises(ParameterError, match="subtract"):
        match_sky(members, SkyMatchParams(subtract=False))
    members[0].background = {"level": 0.5}
    with pytest.raises(InputFileError, match="subtracted"):
        match_sky(members, SkyMatchParams())
    members[0].background = {"level": 0.25, "subtracted": True}
    members[1].background = {"level": 0.0, "subtracted": True}
    _compare(members, "match", "mode", subtract=True)


def test_user_skylist(tmp_path):
    members = make_scene(OFFSETS[:2], SKIES[:2])
    path = tmp_path / "sky.txt"
    path.write_text(f"{members[1].filename} 0.25\n jw00000_nrca1_cal.fits 1.5\n")
    got = match_sky(members, SkyMatchParams(skymethod="user", skylist=str(path), subtract=True))
    assert list(got) == [1.5, 0.25] and got.steps == [(1.5,), (0.25,)]
    path.write_text("other_cal.fits 1.0\njw00000_nrca1_cal.fits 1.5\n")
    with pytest.raises(InputFileError, match="not found"):
        match_sky(members, SkyMatchParams(skymethod="user", skylist=str(path)))


@pytest.mark.parametrize(
    "kw", [{"skymethod": "best"}, {"skymethod": "user"}, {"stepsize": 0}, {"dqbits": "~NOT_A_FLAG"}, {"nclip": -2}]
)
def test_bad_parameters(kw):
    with pytest.raises(ParameterError):
        SkyMatchParams(**kw)


def test_cuda_form_gives_the_cpu_levels():
    from gpucal.engine import Device

    members = make_scene(OFFSETS[:2], SKIES[:2], shape=(30, 30))
    params = SkyMatchParams(skymethod="global+match")
    cpu = match_sky(members, params, CPU)
    gpu = match_sky(members, params, Device("cuda", 0, simulated=True))
    np.testing.assert_allclose(np.array(gpu, float), np.array(cpu, float), rtol=1e-9)
