"""The arithmetic of stcal's ``wcs_from_sregions`` / ``compute_scale`` for :mod:`gpucal.resample.grid`.

Each function repeats the numpy / astropy operations of its stcal
counterpart in the same order, so the output grid agrees with jwst's to the
last bit (tested in ``tests/resample/test_grid.py``).
"""

import warnings

import numpy as np

from gpucal.errors import ParameterError

__all__ = ["fiducial_from_vertices", "footprint_domain", "input_pixel_scale", "rotation_matrix"]


def input_pixel_scale(wcs, fiducial):
    """stcal's ``compute_scale``: geometric mean of one-pixel steps in x and y at the fiducial (deg)."""
    from astropy.coordinates import SkyCoord

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "invalid value encountered in sqrt", RuntimeWarning)
        crpix = np.array(wcs.invert(*fiducial, with_bounding_box=False))
    spatial = np.flatnonzero(np.array(wcs.output_frame.axes_type) == "SPATIAL")
    delta = np.zeros_like(crpix)
    delta[spatial[0]] = 1
    pixels = np.vstack((crpix, crpix + delta, crpix + np.roll(delta, 1))).T
    world = wcs(*pixels, with_bounding_box=False)
    coords = SkyCoord(ra=world[spatial[0]], dec=world[spatial[1]], unit="deg")
    xscale = np.abs(coords[0].separation(coords[1]).value)
    yscale = np.abs(coords[0].separation(coords[2]).value)
    return float(np.sqrt(xscale * yscale))


def fiducial_from_vertices(vertices):
    """Mid-range of the vertices as unit vectors, back to (RA mod 360, Dec) (deg)."""
    lon, lat = np.deg2rad(vertices[:, 0]), np.deg2rad(vertices[:, 1])
    x, y, z = np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)
    x_mid = (np.max(x) + np.min(x)) / 2.0
    y_mid = (np.max(y) + np.min(y)) / 2.0
    z_mid = (np.max(z) + np.min(z)) / 2.0
    return np.rad2deg(np.arctan2(y_mid, x_mid)) % 360.0, np.rad2deg(np.arctan2(z_mid, np.sqrt(x_mid**2 + y_mid**2)))


def rotation_matrix(roll_ref, v3yangle, vparity):
    """stcal's ``calc_rotation_matrix`` (angles in radians), as a 2x2 array."""
    angle = roll_ref - (vparity * v3yangle)
    return np.reshape([vparity * np.cos(angle), np.sin(angle), vparity * -np.sin(angle), np.cos(angle)], (2, 2))


def footprint_domain(footprints, transform, fiducial, crpix):
    """Pixel extent of the footprints under ``transform``, shifted by the CRPIX offsets."""
    bounds = np.hstack([transform.inverse(*f.T) for f in footprints])
    low, high = np.min(bounds, axis=1), np.max(bounds, axis=1)
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        raise ParameterError(
            "crval: some input footprint cannot be projected onto the output tangent plane (more than 90 deg from "
            f"the fiducial {tuple(float(v) for v in fiducial)}); the inputs' pointings are inconsistent"
        )
    native = transform.inverse(*fiducial)
    if crpix is None:
        offsets = tuple(n - lo for n, lo in zip(native, low, strict=True))
    else:
        offsets = tuple(c - n for n, c in zip(native, crpix, strict=True))
    return low + offsets, high + offsets, offsets
