"""Small dithered exposures with injected cosmic rays for outlier-detection tests."""

import numpy as np

from gpucal.io.exposure import read_exposure, write_exposure
from gpucal.io.grouping import group_id
from tests.factories import simple_wcs, small_exposure

#: One pixel of simple_wcs, in degrees.
PIXEL = 0.031 / 3600


class Member:
    """An input as the driver wants it: ``group_id``, ``load()``, ``store()`` (kept in memory here)."""

    def __init__(self, path):
        self.path = path
        self.loads = 0
        self.stored = None
        self.group_id = group_id(read_exposure(path).meta)

    def load(self):
        self.loads += 1
        return read_exposure(self.path)

    def store(self, exposure):
        self.stored = exposure


def dithered_exposures(folder, n=4, shape=(40, 48), n_cr=6, seed=0, exposure_numbers=None, background=None):
    """Write ``n`` dithered exposures with stars, noise and ``n_cr`` CRs each.

    Returns the paths and, per exposure, the ``(y, x)`` pixels of its cosmic rays.
    """
    from gpucal.wcs.footprint import s_region_imaging

    rng = np.random.default_rng(seed)
    paths, crs = [], []
    star = simple_wcs(shape)(20.0, 18.0)  # one star at a fixed sky position
    shifts = [(0.0, 0.0), (3.3, 1.7), (-2.1, 4.2), (1.4, -3.6), (4.8, 2.9), (-3.9, -1.2)]
    for k in range(n):
        number = f"{k + 1:05d}" if exposure_numbers is None else exposure_numbers[k]
        e = small_exposure(shape=shape, seed=seed + k, **{"observation.exposure_number": number})
        dx, dy = shifts[k % len(shifts)]
        e.meta.wcs = simple_wcs(shape, crval=(53.16 + dx * PIXEL / np.cos(np.radians(27.78)), -27.78 + dy * PIXEL))
        e.meta.wcsinfo.s_region = s_region_imaging(e.wcs, e.shape)
        e.meta.photometry.pixelarea_steradians = 2.3e-14
        e.meta.filename = f"jw01345001001_02101_{number}_nrca1_cal.fits"
        yy, xx = np.mgrid[: shape[0], : shape[1]]
        sx, sy = e.wcs.invert(*star)
        source = 40.0 * np.exp(-((xx - sx) ** 2 + (yy - sy) ** 2) / (2 * 1.5**2))
        vp = np.full(shape, 0.01, np.float32)
        vr = np.full(shape, 0.004, np.float32)
        err = np.sqrt(vp + vr).astype(np.float32)
        sci = (2.0 + source + rng.normal(0.0, 1.0, shape) * err).astype(np.float32)
        dq = np.zeros(shape, np.uint32)
        bad = rng.random(shape) < 0.01
        dq[bad], sci[bad], err[bad] = 1, np.nan, np.nan
        ys = rng.integers(3, shape[0] - 3, n_cr)
        xs = rng.integers(3, shape[1] - 3, n_cr)
        sci[ys, xs] += rng.uniform(20.0, 200.0, n_cr).astype(np.float32)
        sci[ys, xs] = np.where(bad[ys, xs], np.nan, sci[ys, xs])
        e.arrays = {"data": sci, "err": err, "dq": dq, "var_poisson": vp, "var_rnoise": vr,
                    "var_flat": np.zeros(shape, np.float32)}  # fmt: skip
        if background is not None:
            e.meta.background.level = background
            e.meta.background.subtracted = False
            e.data += np.float32(background)
        e.meta.bunit_data = e.meta.bunit_err = "MJy/sr"
        paths.append(write_exposure(e, folder / e.meta.filename))
        crs.append([(int(y), int(x)) for y, x in zip(ys, xs, strict=True) if not bad[y, x]])
    return paths, crs
