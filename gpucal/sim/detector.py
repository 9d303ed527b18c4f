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
  the reference pixels (REFERENCE_PIXEL + DO_NOT_USE). The dark current is
  collected (it adds its shot noise and counts towards saturation) and then
  removed, as the dark_sub step removes the dark reference's mean: a hot or
  warm pixel is noisier than its ERR says (ramp fitting computes VAR_POISSON
  from the dark-subtracted slope) but not brighter.
* Cosmic rays at 5 hits/cm^2/s, each on 1 to 3 adjacent pixels, arriving in
  a random group. The first pixel collects a charge drawn log-uniformly
  between 20 and 20,000 electrons, its neighbours 5-50 % of that. The jump
  step is modelled on jwst's two-point difference: a pixel whose jump exceeds
  4 sigma of its group difference (read noise and Poisson noise), or whose
  event has a pixel above 10 sigma (jwst's neighbour flagging), is JUMP_DET,
  its rate repaired from the ramp's two segments (read-noise variance
  doubled). A hit before the first read only offsets the ramp. Any other hit
  is missed and leaves the slope change of its sub-threshold jump, an
  unflagged positive outlier of at most a few sigma (up to ~8 with 10
  groups) for outlier detection: a jump bright enough to leave a stronger
  residual is always found, so no bright point-like artefact survives stage 1.
* DO_NOT_USE pixels are NaN in SCI with zero ERR and variances, as stcal's
  ramp fit leaves them.
"""

import dataclasses
import functools

import numpy as np

from gpucal import dqflags
from gpucal.sim.instruments import instrument_rng

__all__ = ["ExposureNoise", "expose", "jump_slope_response", "static_defects"]

_DQ = dqflags.PIXEL
_DNU = _DQ["DO_NOT_USE"]
_CR_PER_CM2_S = 5.0
#: Charge (electrons) of a cosmic ray's first pixel: log-uniform between these.
_CR_CHARGE_E = (20.0, 20000.0)
#: Charge of the other pixels of an event, as a fraction of the first's.
_CR_NEIGHBOUR_FRACTION = (0.05, 0.5)
#: jwst's jump step: rejection_threshold and min_jump_to_flag_neighbors (sigma of a group difference).
_JUMP_THRESHOLD = 4.0
_NEIGHBOUR_FLAG_THRESHOLD = 10.0


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
    """Pixels hit by ``n_events`` cosmic rays, 1-3 adjacent pixels each.

    Returns ``(rows, cols, event, rank)``: the event index of each hit pixel and its rank in the event (0 for the
    pixel the ray enters, 1 and 2 for the next ones along a row or column).
    """
    ny, nx = shape
    cy = rng.integers(0, ny, n_events)
    cx = rng.integers(0, nx, n_events)
    extra = rng.choice(3, size=n_events, p=[0.6, 0.3, 0.1])
    steps = np.array([(0, 1), (1, 0), (0, -1), (-1, 0)])
    rows, cols, event, rank = [cy], [cx], [np.arange(n_events)], [np.zeros(n_events, dtype=np.int64)]
    for k in (1, 2):
        sel = np.flatnonzero(extra >= k)
        step = steps[rng.integers(0, 4, sel.size)]
        rows.append(np.clip(cy[sel] + k * step[:, 0], 0, ny - 1))
        cols.append(np.clip(cx[sel] + k * step[:, 1], 0, nx - 1))
        event.append(sel)
        rank.append(np.full(sel.size, k, dtype=np.int64))
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(event), np.concatenate(rank)


def jump_slope_response(ngroups):
    """Change of a fitted slope (per unit jump, per group time) for a jump arriving before group ``j``.

    The unweighted least-squares slope over groups ``0 .. ngroups - 1`` changes by ``J * response[j] / tgroup`` when
    the ramp steps up by ``J`` between groups ``j - 1`` and ``j``; a step before the first group (``j = 0``) is a
    constant offset and leaves the slope alone.
    """
    centred = np.arange(ngroups, dtype=np.float64) - (ngroups - 1) / 2.0
    denominator = float(np.sum(centred**2)) if ngroups > 1 else 1.0
    return np.cumsum(centred[::-1])[::-1] / denominator


def _cosmic_ray_hits(rng, shape, n_events, *, detector, readout, collected_rate):
    """Draw cosmic rays and decide, as the jump step would, which are flagged and what the missed ones leave.

    Returns ``(rows, cols, event, flagged, residual)``: per hit pixel, whether the jump step flags it and the
    rate (DN/s) a missed one adds to the slope (zero when flagged or arriving before the first read).
    """
    rows, cols, event, rank = _cosmic_rays(rng, shape, n_events)
    arrival = rng.integers(0, readout.ngroups, n_events)[event]  # the group before which the ray lands
    low, high = np.log(_CR_CHARGE_E[0]), np.log(_CR_CHARGE_E[1])
    first = np.exp(rng.uniform(low, high, n_events))[event]
    fraction = np.where(rank == 0, 1.0, rng.uniform(*_CR_NEIGHBOUR_FRACTION, rows.size))
    jump = first * fraction / detector.gain  # DN
    tgroup = readout.group_time
    sigma_g = readout.group_read_noise(detector.read_noise)
    pixel_rate = np.nan_to_num(collected_rate[rows, cols], nan=0.0)
    sigma_diff = np.sqrt(2.0 * sigma_g**2 + np.maximum(pixel_rate, 0.0) * tgroup / detector.gain)
    significance = np.where(arrival > 0, jump / sigma_diff, 0.0)
    strongest = np.zeros(n_events)
    np.maximum.at(strongest, event, significance)
    flagged = (significance >= _JUMP_THRESHOLD) | (strongest[event] >= _NEIGHBOUR_FLAG_THRESHOLD)
    residual = np.where(flagged, 0.0, jump * jump_slope_response(readout.ngroups)[arrival] / tgroup)
    return rows, cols, event, flagged, residual


def expose(rate, *, detector, readout, nints, rng, static_dq, dark=None, pixel_area_cm2=None):
    """Turn expected count rates into a stage-1 rate product (per integration).

    Parameters
    ----------
    rate : ndarray, shape (ny, nx)
        Expected count rate of every pixel (DN/s) from the sky and the sources, after the QE.
    detector : gpucal.sim.instruments.DetectorSpec
    readout : gpucal.sim.instruments.Readout
    nints : int
    rng : numpy.random.Generator
    static_dq : ndarray of uint32, shape (ny, nx)
        Persistent flags of these pixels (from :func:`static_defects`).
    dark : ndarray, shape (ny, nx), optional
        Dark current (DN/s) of these pixels (from :func:`static_defects`): collected with the signal (its shot
        noise stays, and it fills the well) and subtracted again, as dark_sub does.
    pixel_area_cm2 : float, optional
        Pixel area for the cosmic-ray rate (default: the detector's pitch squared).

    Returns
    -------
    ExposureNoise
    """
    shape = rate.shape
    rate = np.maximum(np.asarray(rate, dtype=np.float64), 0.0)
    dark = np.zeros(shape) if dark is None else np.maximum(np.asarray(dark, dtype=np.float64), 0.0)
    collected = rate + dark
    tgroup = readout.group_time
    ngroups = readout.ngroups
    sigma_g = readout.group_read_noise(detector.read_noise)

    # Saturation is rare: full-ramp values everywhere, shorter ramps patched in by index.
    saturated = np.flatnonzero(collected * (ngroups * tgroup) > detector.saturation)
    ngood = np.clip(np.floor(detector.saturation / (collected.flat[saturated] * tgroup)), 0, ngroups - 1)
    ngood = ngood.astype(np.int64)
    n_used = np.maximum(ngood, 2)
    t_full = (ngroups - 1) * tgroup
    t_sat = (n_used - 1) * tgroup
    dq_base = np.array(static_dq, dtype=np.uint32)
    dq_base.flat[saturated] |= _DQ["SATURATED"]
    dq_base.flat[saturated[ngood < 2]] |= _DNU
    bad = (dq_base & _DNU) != 0
    # Ramp fitting sees the dark-subtracted slope: its Poisson variance knows nothing of the dark current.
    var_p_base = rate / (detector.gain * t_full)
    var_p_base.flat[saturated] = rate.flat[saturated] / (detector.gain * t_sat)
    var_p_base[bad] = 0.0
    var_r_full = 12.0 * sigma_g**2 / (ngroups * (ngroups**2 - 1) * tgroup**2)
    var_r_base = np.full(shape, var_r_full)
    var_r_base.flat[saturated] = 12.0 * sigma_g**2 / (n_used * (n_used**2 - 1) * tgroup**2)
    var_r_base[bad] = 0.0
    lam = collected * (detector.gain * t_full)
    lam.flat[saturated] = collected.flat[saturated] * (detector.gain * t_sat)
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
        rows, cols, event, flagged, excess = _cosmic_ray_hits(
            rng, shape, n_events, detector=detector, readout=readout, collected_rate=collected
        )
        dq[rows[flagged], cols[flagged]] |= _DQ["JUMP_DET"]
        var_r[rows[flagged], cols[flagged]] *= 2.0
        data = rng.poisson(lam) * to_rate - dark
        data += rng.standard_normal(shape) * np.sqrt(var_r)
        missed = excess > 0
        np.add.at(data, (rows[missed], cols[missed]), excess[missed])
        left = missed & ~bad[rows, cols]
        residual[rows[left], cols[left]] = True
        counts["cosmic_rays_flagged"] += int(np.unique(event[flagged]).size)
        counts["cosmic_rays_residual"] += int(np.unique(event[left]).size)
        data[bad] = np.nan
        out["data"][i] = data
        out["var_poisson"][i] = var_p_base
        out["var_rnoise"][i] = var_r
        np.sqrt(out["var_poisson"][i] + out["var_rnoise"][i], out=out["err"][i])
    counts["saturated"] = int(saturated.size)
    counts["do_not_use"] = int(np.count_nonzero(bad))
    return ExposureNoise(out["data"], out["err"], out["var_poisson"], out["var_rnoise"], dq_all, residual, counts)
