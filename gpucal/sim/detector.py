"""Detector effects of a stage-1 rate product: noise, saturation, bad pixels, cosmic rays.

Given the expected count rate of every pixel (DN/s, the scene through the
flat), :func:`expose` produces what ``calwebb_detector1`` would leave:

* Noise: Poisson noise of the collected electrons over the effective
  integration time ``(ngroups - 1) * tgroup``, plus the read noise of an
  unweighted ramp fit, ``12 sigma_g^2 / (N (N^2 - 1) tgroup^2)``, with
  ``sigma_g`` the frame read noise averaged over the group's frames.
  VAR_POISSON and VAR_RNOISE are exactly those variances (computed from the
  expected rate, in (DN/s)^2), ERR is their root sum, so the scatter of SCI
  about the truth is what ERR says.
* Saturation: a ramp keeps the groups below the saturation level; a pixel
  with fewer than two left is DO_NOT_USE + SATURATED, one that lost some is
  SATURATED with a shorter, noisier ramp.
* Static bad pixels (the same on every exposure of a detector, like a MASK
  reference): dead pixels (DEAD + DO_NOT_USE), hot pixels (HOT; the hottest
  third also DO_NOT_USE) with their extra dark rate, warm pixels (WARM), and
  the reference pixels (REFERENCE_PIXEL + DO_NOT_USE).
* Cosmic rays at 5 hits/cm^2/s, each on 1 to 3 adjacent pixels. Nine in ten
  are found by the jump step: JUMP_DET, the rate repaired from the ramp's
  two segments (read-noise variance doubled). The rest are left as
  unflagged positive outliers of 6 to 60 sigma for outlier detection.
* DO_NOT_USE pixels are NaN in SCI with zero ERR and variances, as stcal's
  ramp fit leaves them.
"""

import dataclasses
import functools

import numpy as np

from gpucal import dqflags
from gpucal.sim.instruments import instrument_rng

__all__ = ["ExposureNoise", "expose", "static_defects"]

_DQ = dqflags.PIXEL
_DNU = _DQ["DO_NOT_USE"]
_CR_PER_CM2_S = 5.0


@functools.lru_cache(maxsize=4)
def static_defects(detector):
    """Full-frame ``(dq, dark_rate)`` of a detector's persistent bad pixels (read-only arrays).

    Parameters
    ----------
    detector : gpucal.sim.instruments.DetectorSpec
    """
    from gpucal.sim.reffiles import reference_border

    rows, cols = detector.full_shape
    rng = instrument_rng("defects", detector.name)
    dq = np.zeros((rows, cols), dtype=np.uint32)
    dark = np.zeros((rows, cols), dtype=np.float32)
    npix = rows * cols
    n_dead, n_hot, n_warm = (max(3, int(npix * f)) for f in (2e-4, 5e-4, 1e-3))
    picks = rng.choice(npix, size=n_dead + n_hot + n_warm, replace=False)
    dead, hot, warm = picks[:n_dead], picks[n_dead : n_dead + n_hot], picks[n_dead + n_hot :]
    dq.flat[dead] |= _DQ["DEAD"] | _DNU
    hot_rate = np.exp(rng.uniform(np.log(0.5), np.log(50.0), n_hot)).astype(np.float32)
    dark.flat[hot] = hot_rate
    dq.flat[hot] |= _DQ["HOT"]
    dq.flat[hot[hot_rate > np.quantile(hot_rate, 2 / 3)]] |= _DNU
    dark.flat[warm] = rng.uniform(0.05, 0.5, n_warm).astype(np.float32)
    dq.flat[warm] |= _DQ["WARM"]
    dq[reference_border(detector)] = _DNU | _DQ["REFERENCE_PIXEL"]
    dq.flags.writeable = False
    dark.flags.writeable = False
    return dq, dark


@dataclasses.dataclass
class ExposureNoise:
    """The arrays of one simulated exposure, per integration (leading axis ``nints``).

    Attributes
    ----------
    data, err, var_poisson, var_rnoise : ndarray of float32
    dq : ndarray of uint32
    residual_cr : ndarray of bool
        Pixels holding an unflagged cosmic-ray residual (truth for outlier detection).
    counts : dict
        Numbers of injected artefacts.
    """

    data: np.ndarray
    err: np.ndarray
    var_poisson: np.ndarray
    var_rnoise: np.ndarray
    dq: np.ndarray
    residual_cr: np.ndarray
    counts: dict

    def combined(self):
        """The integrations averaged into one rate image ``(data, err, var_poisson, var_rnoise, dq)``.

        Equal-weight mean (every integration has the same expected
        variances), variances divided by ``nints``; DQ is the OR of the
        integrations; DO_NOT_USE pixels keep NaN / 0.
        """
        n = self.data.shape[0]
        if n == 1:
            return self.data[0], self.err[0], self.var_poisson[0], self.var_rnoise[0], self.dq[0]
        dq = np.bitwise_or.reduce(self.dq, axis=0)
        data = (self.data.sum(axis=0, dtype=np.float64) / n).astype(np.float32)
        var_p = (self.var_poisson.sum(axis=0, dtype=np.float64) / n**2).astype(np.float32)
        var_r = (self.var_rnoise.sum(axis=0, dtype=np.float64) / n**2).astype(np.float32)
        err = np.sqrt(var_p + var_r)
        bad = (dq & _DNU) != 0
        data[bad] = np.nan
        err[bad] = var_p[bad] = var_r[bad] = 0.0
        return data, err.astype(np.float32), var_p, var_r, dq


def _cosmic_rays(rng, shape, n_events):
    """Pixels hit by ``n_events`` cosmic rays: ``(rows, cols, event index)``, 1-3 adjacent pixels each."""
    ny, nx = shape
    cy = rng.integers(0, ny, n_events)
    cx = rng.integers(0, nx, n_events)
    extra = rng.choice(3, size=n_events, p=[0.6, 0.3, 0.1])
    steps = np.array([(0, 1), (1, 0), (0, -1), (-1, 0)])
    rows, cols, event = [cy], [cx], [np.arange(n_events)]
    for k in (1, 2):
        sel = np.flatnonzero(extra >= k)
        step = steps[rng.integers(0, 4, sel.size)]
        rows.append(np.clip(cy[sel] + k * step[:, 0], 0, ny - 1))
        cols.append(np.clip(cx[sel] + k * step[:, 1], 0, nx - 1))
        event.append(sel)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(event)


def expose(rate, *, detector, readout, nints, rng, static_dq, pixel_area_cm2=None):
    """Turn expected count rates into a stage-1 rate product (per integration).

    Parameters
    ----------
    rate : ndarray, shape (ny, nx)
        Expected count rate of every pixel (DN/s), including dark current.
    detector : gpucal.sim.instruments.DetectorSpec
    readout : gpucal.sim.instruments.Readout
    nints : int
    rng : numpy.random.Generator
    static_dq : ndarray of uint32, shape (ny, nx)
        Persistent flags of these pixels (from :func:`static_defects`).
    pixel_area_cm2 : float, optional
        Pixel area for the cosmic-ray rate (default: the detector's pitch squared).

    Returns
    -------
    ExposureNoise
    """
    shape = rate.shape
    rate = np.maximum(np.asarray(rate, dtype=np.float64), 0.0)
    tgroup = readout.group_time
    ngroups = readout.ngroups
    sigma_g = readout.group_read_noise(detector.read_noise)

    # Saturation is rare: full-ramp values everywhere, shorter ramps patched in by index.
    saturated = np.flatnonzero(rate * (ngroups * tgroup) > detector.saturation)
    ngood = np.clip(np.floor(detector.saturation / (rate.flat[saturated] * tgroup)), 0, ngroups - 1).astype(np.int64)
    n_used = np.maximum(ngood, 2)
    t_full = (ngroups - 1) * tgroup
    t_sat = (n_used - 1) * tgroup
    dq_base = np.array(static_dq, dtype=np.uint32)
    dq_base.flat[saturated] |= _DQ["SATURATED"]
    dq_base.flat[saturated[ngood < 2]] |= _DNU
    bad = (dq_base & _DNU) != 0
    var_p_base = rate / (detector.gain * t_full)
    var_p_base.flat[saturated] = rate.flat[saturated] / (detector.gain * t_sat)
    var_p_base[bad] = 0.0
    var_r_full = 12.0 * sigma_g**2 / (ngroups * (ngroups**2 - 1) * tgroup**2)
    var_r_base = np.full(shape, var_r_full)
    var_r_base.flat[saturated] = 12.0 * sigma_g**2 / (n_used * (n_used**2 - 1) * tgroup**2)
    var_r_base[bad] = 0.0
    lam = rate * (detector.gain * t_full)
    lam.flat[saturated] = rate.flat[saturated] * (detector.gain * t_sat)
    to_rate = np.full(shape, 1.0 / (detector.gain * t_full))
    to_rate.flat[saturated] = 1.0 / (detector.gain * t_sat)

    area = pixel_area_cm2 if pixel_area_cm2 is not None else (detector.pixel_pitch_um * 1e-4) ** 2
    out = {k: np.empty((nints, *shape), dtype=np.float32) for k in ("data", "err", "var_poisson", "var_rnoise")}
    dq_all = np.empty((nints, *shape), dtype=np.uint32)
    residual = np.zeros(shape, dtype=bool)
    counts = {"cosmic_rays_flagged": 0, "cosmic_rays_residual": 0}
    for i in range(nints):
        dq = dq_all[i]
        dq[...] = dq_base
        var_r = var_r_base.copy()
        n_events = rng.poisson(_CR_PER_CM2_S * area * shape[0] * shape[1] * readout.integration_duration)
        rows, cols, event = _cosmic_rays(rng, shape, n_events)
        found = rng.random(n_events) < 0.9
        hit_found = found[event]
        dq[rows[hit_found], cols[hit_found]] |= _DQ["JUMP_DET"]
        var_r[rows[hit_found], cols[hit_found]] *= 2.0
        data = rng.poisson(lam) * to_rate
        data += rng.standard_normal(shape) * np.sqrt(var_r)
        miss_r, miss_c = rows[~hit_found], cols[~hit_found]
        sigma = np.sqrt(var_p_base[miss_r, miss_c] + var_r[miss_r, miss_c])
        data[miss_r, miss_c] += rng.uniform(6.0, 60.0, miss_r.size) * sigma
        residual[miss_r, miss_c] |= ~bad[miss_r, miss_c]
        counts["cosmic_rays_flagged"] += int(found.sum())
        counts["cosmic_rays_residual"] += int((~found).sum())
        data[bad] = np.nan
        out["data"][i] = data
        out["var_poisson"][i] = var_p_base
        out["var_rnoise"][i] = var_r
        np.sqrt(out["var_poisson"][i] + out["var_rnoise"][i], out=out["err"][i])
    counts["saturated"] = int(saturated.size)
    counts["do_not_use"] = int(np.count_nonzero(bad))
    return ExposureNoise(out["data"], out["err"], out["var_poisson"], out["var_rnoise"], dq_all, residual, counts)
