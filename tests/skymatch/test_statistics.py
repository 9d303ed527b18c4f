"""SkyStats against stcal's SkyStats (stsci.imagestats) on the same pixels, for every statistic and device form."""

import numpy as np
import pytest

from gpucal.engine import CPU, Device
from gpucal.errors import ParameterError
from gpucal.skymatch import SKYSTATS, SkyStats, SkyStatsUndefined

pytest.importorskip("stcal.skymatch")

DEVICES = {"cpu": CPU, "cuda": Device("cuda", 0, simulated=True)}


def _pixels(seed, n=3000, sky=1.7, sigma=0.08):
    rng = np.random.default_rng(seed)
    data = rng.normal(sky, sigma, n).astype(np.float32)
    bright = rng.random(n) < 0.02
    data[bright] += rng.uniform(1, 20, bright.sum()).astype(np.float32)  # sources
    data[::11] += np.float32(3.0) * rng.random(data[::11].size).astype(np.float32)
    mask = rng.random(n) > 0.1
    return data, mask


def _stcal(skystat, data, mask, **kw):
    from stcal.skymatch import SkyStats as StcalSkyStats

    kw = {("lsig" if k == "lsigma" else "usig" if k == "usigma" else k): v for k, v in kw.items()}
    return StcalSkyStats(skystat=skystat, **kw).calc_sky(data[mask])


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("skystat", SKYSTATS)
@pytest.mark.parametrize(
    "kw",
    [{}, {"nclip": 0}, {"nclip": 2, "lsigma": 2.5, "usigma": 3.0, "binwidth": 0.3}, {"lower": 1.5, "upper": 2.2}],
    ids=["defaults", "noclip", "custom", "limits"],
)
def test_matches_stcal(skystat, kw, device):
    for seed in (1, 2):
        data, mask = _pixels(seed)
        expected, npix_expected = _stcal(skystat, data, mask, **kw)
        sky, npix = SkyStats(skystat=skystat, **kw).calc_sky(
            data.reshape(50, 60), mask.reshape(50, 60), DEVICES[device]
        )
        assert npix == npix_expected
        assert type(sky) is type(expected) or (isinstance(sky, float) and isinstance(expected, float))
        np.testing.assert_allclose(sky, expected, rtol=1e-6, atol=0, err_msg=f"{skystat} {kw} seed {seed}")


def test_first_pixel_outside_the_clip_sets_the_histogram_start():
    """imagestats starts its running minimum at max(clipmin, first pixel): a low first pixel moves 'min'."""
    data, mask = _pixels(3)
    data[0] = -50.0
    mask[0] = True
    expected, _ = _stcal("mode", data, mask)
    sky, _ = SkyStats(skystat="mode").calc_sky(data, mask, CPU)
    assert sky == pytest.approx(expected, rel=1e-7)


def test_single_pixel_and_empty():
    data = np.array([1.0, 2.0, 3.0], np.float32)
    one = np.array([False, True, False])
    for stat in SKYSTATS:
        expected = _stcal(stat, data, one)
        got = SkyStats(skystat=stat).calc_sky(data, one, CPU)
        if np.isfinite(expected[0]):
            assert got == pytest.approx(expected), stat
        else:
            assert not np.isfinite(got[0]), stat
    with pytest.raises(SkyStatsUndefined):
        SkyStats().calc_sky(data, np.zeros(3, bool), CPU)
    with pytest.raises(SkyStatsUndefined):
        SkyStats(lower=10.0).calc_sky(data, np.ones(3, bool), CPU)


@pytest.mark.parametrize(
    "kw", [{"skystat": "average"}, {"nclip": -1}, {"lsigma": 0.0}, {"binwidth": -1.0}, {"lower": "x"}]
)
def test_bad_parameters(kw):
    with pytest.raises(ParameterError, match=next(iter(kw))):
        SkyStats(**kw)
