"""Sky levels from per-image statistics: stcal's ``skymatch`` solver without the pixels.

The inputs are what the driver measured while each image was loaded:

* ``items``: the sky items in jwst's order, each a list of member indices (one
  member: a ``SkyImage``; several: a ``SkyGroup``);
* ``overlap[m][J]``: ``(sky, npix, area)`` of member ``m``'s pixels inside its
  overlap with item ``J`` (``None`` when that is undefined or the area is 0);
* ``full[m]``: ``(sky, npix)`` of all of member ``m``'s good pixels, or None.

The arithmetic mirrors stcal's expressions with the same operands (and so the
same number types: a ``median`` sky is a numpy float32, as stcal's is), so
the levels agree with jwst's to rounding of the pseudo-inverse.
"""

import logging

import numpy as np

__all__ = ["SkyState", "apply_sky", "global_skies", "match_deltas", "overlap_matrix"]

log = logging.getLogger(__name__)


class SkyState:
    """Running sky of every member and item, as stcal's ``SkyImage.sky``/``SkyGroup.sky``.

    Parameters
    ----------
    items : list of list of int
    initial : list
        Each member's initial sky (its previous level when ``subtract`` and a
        level was already subtracted, else 0.0).
    """

    def __init__(self, items, initial):
        self.items = [list(item) for item in items]
        self.sky = list(initial)
        self.group_sky = [0.0] * len(self.items)
        self.valid = [False] * len(self.sky)
        self.steps = [[] for _ in self.sky]


def _item_overlap_sky(state, overlap, i, j, delta):
    """``items[i].calc_sky(overlap=items[j], delta)`` from the measured table."""
    members = state.items[i]
    if len(members) == 1:
        m = members[0]
        entry = overlap[m][j]
        if entry is None:
            return None, 0, 0.0
        sky, npix, area = entry
        if delta:
            sky -= state.sky[m]
        return sky, npix, area
    wsky, wght, area = 0.0, 0, 0.0
    for m in members:
        entry = overlap[m][j]
        if entry is None:
            continue
        sky, npix, area1 = entry
        if delta:
            sky -= state.sky[m]
        area += area1
        if npix > 0:
            wsky += sky * npix
            wght += npix
    if wght == 0.0 or area == 0.0:
        return None, wght, area
    return wsky / wght, wght, area


def overlap_matrix(state, overlap, delta):
    """stcal's ``_overlap_matrix``: ``A[j, i]`` sky of item i in its overlap with j, ``W`` the pixel counts."""
    ns = len(state.items)
    a = np.zeros((ns, ns), dtype=float)
    w = np.zeros((ns, ns), dtype=float)
    for i in range(ns):
        for j in range(i + 1, ns):
            s1, w1, area1 = _item_overlap_sky(state, overlap, i, j, delta)
            s2, w2, area2 = _item_overlap_sky(state, overlap, j, i, delta)
            if area1 == 0.0 or area2 == 0.0 or s1 is None or s2 is None:
                continue
            a[j, i], w[j, i] = s1, w1
            a[i, j], w[i, j] = s2, w2
    return a, w


def match_deltas(state, overlap, *, delta, match_down):
    """Sky differences between items (stcal ``_find_optimum_sky_deltas`` then the reference shift).

    One equation per pair of items measured on both sides: ``Wm*d_i - Wm*d_j =
    Wm*(A[j,i] - A[i,j])`` with ``Wm`` the mean pixel count; ``d = pinv(K,
    rcond=1e-12) @ F``; items in no equation get no value. The smallest
    (``match_down``) or largest value is then subtracted from all.

    Returns
    -------
    list of float or None
        One per item; None where no difference could be computed.
    """
    ns = len(state.items)
    a, w = overlap_matrix(state, overlap, delta)
    pairs = [(i, j) for i in range(ns) for j in range(i + 1, ns) if w[i, j] > 0 and w[j, i] > 0]
    wm = 0.5 * (w + w.T)
    k = np.zeros((len(pairs), ns), dtype=float)
    f = np.zeros(len(pairs), dtype=float)
    invalid = [True] * ns
    for row, (i, j) in enumerate(pairs):
        k[row, i] = wm[i, j]
        k[row, j] = -wm[i, j]
        f[row] = wm[i, j] * (a[j, i] - a[i, j])
        invalid[i] = invalid[j] = False
    try:
        rank = np.linalg.matrix_rank(k, 1.0e-12)
    except np.linalg.LinAlgError:
        log.warning("Unable to compute sky: no valid data in common image areas")
        deltas = np.full(ns, np.nan)
    else:
        if rank < ns - 1:
            log.warning(
                "%d sky values but only %d independent equations: sky is matched within subsets of images",
                ns,
                rank,
            )
        deltas = np.dot(np.linalg.pinv(k, rcond=1.0e-12), f)
        deltas[np.asarray(invalid, dtype=bool)] = np.nan
    good = np.isfinite(deltas)
    if np.any(good):
        ref = np.amin(deltas[good]) if match_down else np.amax(deltas[good])
        deltas[good] -= ref
    return [float(d) if np.isfinite(d) else None for d in deltas]


def global_skies(state, full, *, delta):
    """Per-item sky of all good pixels (stcal ``calc_sky(overlap=None)``): a group's is its members' minimum."""
    skies = []
    for members in state.items:
        best = None
        for m in members:
            if full[m] is None:
                continue
            sky = full[m][0]
            if delta:
                sky -= state.sky[m]
            if best is None or best > sky:
                best = sky
        skies.append(best)
    return skies


def apply_sky(state, values, *, do_global, subtract):
    """stcal's ``_apply_sky``: add each item's value to its members' sky, record validity and subtractions.

    Parameters
    ----------
    values : list
        One value (or None) per item.
    do_global : bool
        A None value keeps the member's previous validity (the 'global' rule)
        instead of marking it invalid.
    subtract : bool
        Record the value as a subtraction from the member's data.
    """
    for index, (members, value) in enumerate(zip(state.items, values, strict=True)):
        if do_global:
            if value is None:
                valid = state.valid[members[0]]
                value = 0.0
            else:
                valid = True
        else:
            valid = value is not None
            if not valid:
                value = 0.0
        if len(members) == 1:
            m = members[0]
            if subtract:
                state.steps[m].append(value)
            state.sky[m] += value
            state.valid[m] = valid
            continue
        new = state.group_sky[index] + value
        change = new - state.group_sky[index]
        state.group_sky[index] = new
        for m in members:
            if subtract:
                state.steps[m].append(value)
            state.sky[m] += change
            state.valid[m] = valid
