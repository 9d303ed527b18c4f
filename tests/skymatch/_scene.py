"""Small synthetic skymatch scenes: partly overlapping images with known sky offsets, as gpucal members and
as stcal SkyImage/SkyGroup objects built from the same arrays and WCSs."""

import dataclasses

import numpy as np

from gpucal.io.exposure import Exposure
from tests.wcs._factories import tan_grid_wcs

PSCALE = 0.1 / 3600.0


@dataclasses.dataclass
class Member:
    """A skymatch member: WCS and shape without pixels, ``load()`` builds the exposure (counted)."""

    group_id: str
    wcs: object
    shape: tuple
    data: np.ndarray
    dq: np.ndarray
    filename: str
    background: dict = dataclasses.field(default_factory=dict)
    loads: int = 0

    def load(self):
        self.loads += 1
        meta = {"filename": self.filename, "background": dict(self.background)}
        return Exposure({"data": self.data.copy(), "dq": self.dq.copy()}, meta)


def make_scene(offsets, skies, *, shape=(60, 60), groups=None, seed=5, rotation=None):
    """Images at pixel ``offsets`` (dx, dy) from a common centre, sky levels ``skies`` plus noise and sources."""
    rng = np.random.default_rng(seed)
    members = []
    for k, ((dx, dy), sky) in enumerate(zip(offsets, skies, strict=True)):
        rot = 0.0 if rotation is None else rotation[k]
        crpix = (shape[1] / 2 - dx, shape[0] / 2 - dy)
        wcs = tan_grid_wcs((53.1, -27.8), PSCALE, rot, crpix, shape)
        data = rng.normal(sky, 0.05, shape).astype(np.float32)
        data[rng.random(shape) < 0.01] += 5.0  # a few bright pixels
        data.flat[::97] = np.nan
        dq = np.zeros(shape, np.uint32)
        dq.flat[5::53] = 1  # DO_NOT_USE
        dq.flat[7::61] = 4  # JUMP_DET: not rejected by the default dqbits
        group = str(k) if groups is None else groups[k]
        members.append(Member(group, wcs, shape, data, dq, f"jw0000{k}_nrca1_cal.fits"))
    return members


def stcal_images(members, skystat, stepsize=None, dqbits="~DO_NOT_USE+NON_SCIENCE", subtract=False, **stat_kw):
    """stcal's inputs for the same members, grouped as jwst's SkyMatchStep groups them."""
    from astropy.nddata.bitmask import bitfield_to_boolean_mask, interpret_bit_flags
    from stcal.skymatch import SkyGroup, SkyImage, SkyStats
    from stdatamodels.jwst.datamodels.dqflags import pixel

    bits = interpret_bit_flags(dqbits, flag_name_map=pixel)
    names = {"lsigma": "lsig", "usigma": "usig"}
    stats = SkyStats(skystat=skystat, **{names.get(k, k): v for k, v in stat_kw.items()})
    by_group = {}
    for k, mem in enumerate(members):
        data = mem.data.copy()
        if bits is None:
            mask = np.isfinite(data)
        else:
            mask = bitfield_to_boolean_mask(mem.dq, bits, good_mask_value=True, dtype="bool") & np.isfinite(data)
        im = SkyImage(
            data, mask, mem.wcs.__call__, mem.wcs.invert, stats, sky_id=k, stepsize=stepsize, meta={"index": k}
        )
        if subtract and mem.background.get("subtracted"):
            im.sky = mem.background["level"]
        by_group.setdefault(mem.group_id, []).append(im)
    images = []
    for gi, ims in enumerate(by_group.values()):
        images.extend(ims) if len(ims) == 1 else images.append(SkyGroup(ims, sky_id=gi))
    return images


def stcal_levels(members, method, skystat, *, match_down=True, subtract=False, **kw):
    """Per-member (level or None, image after subtraction) from stcal's skymatch."""
    from stcal.skymatch import SkyImage, skymatch

    images = stcal_images(members, skystat, subtract=subtract, **kw)
    skymatch(images, skymethod=method, match_down=match_down, subtract=subtract)
    flat = []
    for im in images:
        flat.extend([im] if isinstance(im, SkyImage) else list(im))
    flat.sort(key=lambda im: im.meta["index"])
    return [(im.sky if im.is_sky_valid else None, im.image) for im in flat]
