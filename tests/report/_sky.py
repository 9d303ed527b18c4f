"""Synthetic skies for the report tests: TAN WCSs with known pointing errors and a truth table as the simulator's."""

import math

import numpy as np
from astropy.table import Table
from astropy.wcs import WCS

FIELD = (53.1625, -27.7914)
SCALE_ARCSEC = 0.031
SHAPE = (200, 220)


def tan_wcs(center=FIELD, east_mas=0.0, north_mas=0.0, shape=SHAPE, rotation_arcsec=0.0):
    """A callable ``(x, y) -> (ra, dec)`` (0-based pixels): a TAN WCS whose centre is moved by (east, north) mas.

    ``rotation_arcsec`` turns it about the array centre (a roll error).
    """
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crpix = [(shape[1] + 1) / 2.0, (shape[0] + 1) / 2.0]
    dec = center[1] + north_mas / 3.6e6
    ra = center[0] + east_mas / 3.6e6 / math.cos(math.radians(center[1]))
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.cdelt = [-SCALE_ARCSEC / 3600.0, SCALE_ARCSEC / 3600.0]
    angle = math.radians(rotation_arcsec / 3600.0)
    wcs.wcs.pc = [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]

    def evaluate(x, y):
        return wcs.all_pix2world(np.asarray(x, float), np.asarray(y, float), 0)

    evaluate.astropy = wcs
    return evaluate


def truth_table(n=60, seed=3, roots=("a", "b"), shape=SHAPE, centers=None):
    """Truth sources spread over the field, with their true pixel positions in each exposure ``root``."""
    rng = np.random.default_rng(seed)
    true = tan_wcs(shape=shape).astropy
    x = rng.uniform(-10, shape[1] + 10, n)
    y = rng.uniform(-10, shape[0] + 10, n)
    ra, dec = true.all_pix2world(x, y, 0)
    table = Table()
    table["id"] = np.arange(1, n + 1)
    table["ra"] = ra
    table["dec"] = dec
    table["type"] = np.where(np.arange(n) % 3 == 0, "galaxy", "star")
    table["abmag"] = np.linspace(20.0, 27.0, n)
    table["flux"] = 10 ** (-0.4 * (table["abmag"] - 8.9))
    for root in roots:
        center = (centers or {}).get(root, FIELD)
        px, py = tan_wcs(center, shape=shape).astropy.all_world2pix(ra, dec, 0)
        table[f"x_{root}"] = px
        table[f"y_{root}"] = py
    return table


def pointings_table(errors):
    """``truth_pointings`` rows: ``{root: (east, north)}`` injected errors in mas."""
    return Table(rows=[{"file": f"{root}_rate.fits", "kind": "science", "error_east": e, "error_north": n}
                       for root, (e, n) in errors.items()])  # fmt: skip
