"""Astronomical scenes: stars and Sersic galaxies on the sky, placed and drawn through a WCS.

A :class:`Scene` lives on the sky (RA, Dec, flux in Jy, shapes in arcsec);
:func:`project` finds where each source lands on a detector through an
exposure's *true* gwcs (the forward pixel -> sky transform, refined by
Newton iterations, so truth and WCS agree to far below a milli-pixel), and
:func:`render` draws the scene in DN/s with the local Jacobian of that WCS,
so shapes and sizes follow the distortion.
"""

import dataclasses
import math

import numpy as np

from gpucal.sim.psf import add_gaussians, psf_mixture, sersic_mixture

__all__ = ["Scene", "make_scene", "project", "render", "sky_offsets"]

_MAG_RANGES = {
    # (stars, galaxies) AB magnitude ranges
    "nircam": ((18.0, 26.5), (20.5, 27.5)),
    "miri": ((15.5, 23.5), (17.5, 24.5)),
}
_RE_RANGES = {"nircam": (0.06, 0.4), "miri": (0.15, 0.8)}  # half-light radius range, arcsec
# NIRISS, FGS and NIRSpec image the near-infrared sky as NIRCam does.
for _name in ("niriss", "fgs", "nirspec"):
    _MAG_RANGES[_name], _RE_RANGES[_name] = _MAG_RANGES["nircam"], _RE_RANGES["nircam"]
_STARS_PER_ARCMIN2 = 150.0
_GALAXIES_PER_ARCMIN2 = 250.0
_MIN_STARS = 20  # on average per exposure footprint, whatever its size
_MIN_GALAXIES = 10


@dataclasses.dataclass
class Scene:
    """Sources on the sky (parallel arrays, one entry per source).

    Attributes
    ----------
    ra, dec : ndarray
        Position (deg, ICRS).
    kind : ndarray of str
        ``"star"`` or ``"galaxy"``.
    flux : ndarray
        Total flux density in the filter (Jy).
    sersic_n, r_eff, axis_ratio, position_angle : ndarray
        Galaxy shape: Sersic index, half-light radius along the major axis
        (arcsec), minor/major axis ratio, major-axis position angle (deg
        east of north). Zero for stars.
    """

    ra: np.ndarray
    dec: np.ndarray
    kind: np.ndarray
    flux: np.ndarray
    sersic_n: np.ndarray
    r_eff: np.ndarray
    axis_ratio: np.ndarray
    position_angle: np.ndarray

    def __len__(self):
        return len(self.ra)

    @property
    def abmag(self):
        """AB magnitude, ``-2.5 log10(flux / 3631 Jy)``."""
        return -2.5 * np.log10(self.flux / 3631.0)


def sky_offsets(ra, dec, ra0, dec0):
    """Gnomonic (tangent-plane) offsets in arcsec of (ra, dec) from (ra0, dec0): (east, north)."""
    ra, dec, ra0, dec0 = (np.radians(np.asarray(v, dtype=float)) for v in (ra, dec, ra0, dec0))
    cos_c = np.sin(dec0) * np.sin(dec) + np.cos(dec0) * np.cos(dec) * np.cos(ra - ra0)
    xi = np.cos(dec) * np.sin(ra - ra0) / cos_c
    eta = (np.cos(dec0) * np.sin(dec) - np.sin(dec0) * np.cos(dec) * np.cos(ra - ra0)) / cos_c
    return np.degrees(xi) * 3600.0, np.degrees(eta) * 3600.0


def _deproject(xi, eta, ra0, dec0):
    """Inverse of :func:`sky_offsets`: tangent-plane offsets (arcsec) -> (ra, dec) in deg."""
    xi = np.radians(np.asarray(xi, dtype=float) / 3600.0)
    eta = np.radians(np.asarray(eta, dtype=float) / 3600.0)
    ra0, dec0 = math.radians(ra0), math.radians(dec0)
    rho = np.hypot(xi, eta)
    c = np.arctan(rho)
    with np.errstate(invalid="ignore", divide="ignore"):
        dec = np.arcsin(np.cos(c) * math.sin(dec0) + np.where(rho > 0, eta * np.sin(c) * math.cos(dec0) / rho, 0.0))
        ra = ra0 + np.arctan2(xi * np.sin(c), rho * math.cos(dec0) * np.cos(c) - eta * math.sin(dec0) * np.sin(c))
    return np.degrees(ra) % 360.0, np.degrees(dec)


def _powerlaw_mags(rng, n, low, high, slope):
    """Magnitudes in [low, high] with counts rising as 10**(slope * m)."""
    u = rng.random(n)
    a, b = 10.0 ** (slope * low), 10.0 ** (slope * high)
    return np.log10(a + u * (b - a)) / slope


def make_scene(
    rng, center, half_size, *, instrument="nircam", n_stars=None, n_galaxies=None, faint=False, footprint=None
):
    """Random stars and galaxies in a rectangle of the sky.

    Parameters
    ----------
    rng : numpy.random.Generator
    center : tuple of float
        ``(ra, dec)`` of the field centre (deg).
    half_size : tuple of float
        Half widths ``(east, north)`` of the field (arcsec).
    instrument : str
        Sets the magnitude and size ranges (``"nircam"`` or ``"miri"``).
    n_stars, n_galaxies : int, optional
        Default: 150 stars and 250 galaxies per arcmin^2, raised if needed so
        that an exposure footprint of ``footprint`` arcsec^2 gets 20 stars and
        10 galaxies on average (small subarrays still have enough sources to
        align on).
    footprint : float, optional
        Area of one exposure (arcsec^2); default: the whole rectangle.
    faint : bool, optional
        Only sources 3 magnitudes fainter than the faint half of the range
        (for "empty" background fields).

    Returns
    -------
    Scene
    """
    area = 4.0 * half_size[0] * half_size[1]
    boost = area / min(footprint or area, area)
    if n_stars is None:
        n_stars = round(max(_STARS_PER_ARCMIN2 * area / 3600.0, _MIN_STARS * boost))
    if n_galaxies is None:
        n_galaxies = round(max(_GALAXIES_PER_ARCMIN2 * area / 3600.0, _MIN_GALAXIES * boost))
    (star_lo, star_hi), (gal_lo, gal_hi) = _MAG_RANGES[instrument]
    if faint:
        star_lo, gal_lo = (star_lo + star_hi) / 2 + 3, (gal_lo + gal_hi) / 2 + 3
        star_hi, gal_hi = star_hi + 3, gal_hi + 3
    n = n_stars + n_galaxies
    xi = rng.uniform(-half_size[0], half_size[0], n)
    eta = rng.uniform(-half_size[1], half_size[1], n)
    ra, dec = _deproject(xi, eta, *center)
    mags = np.concatenate(
        [_powerlaw_mags(rng, n_stars, star_lo, star_hi, 0.15), _powerlaw_mags(rng, n_galaxies, gal_lo, gal_hi, 0.25)]
    )
    kind = np.array(["star"] * n_stars + ["galaxy"] * n_galaxies)
    zeros = np.zeros(n_stars)
    re_lo, re_hi = _RE_RANGES[instrument]
    sersic_n = np.concatenate([zeros, rng.uniform(1.0, 4.0, n_galaxies)])
    r_eff = np.concatenate([zeros, np.exp(rng.uniform(math.log(re_lo), math.log(re_hi), n_galaxies))])
    axis_ratio = np.concatenate([zeros, rng.uniform(0.3, 1.0, n_galaxies)])
    position_angle = np.concatenate([zeros, rng.uniform(0.0, 180.0, n_galaxies)])
    return Scene(ra, dec, kind, 3631.0 * 10.0 ** (-0.4 * mags), sersic_n, r_eff, axis_ratio, position_angle)


def _local_jacobian(forward, x, y, ra0, dec0, step=0.5):
    """d(east, north)/d(x, y) in arcsec per pixel at pixel positions, by central differences."""
    ex1, nx1 = sky_offsets(*forward(x + step, y), ra0, dec0)
    ex0, nx0 = sky_offsets(*forward(x - step, y), ra0, dec0)
    ey1, ny1 = sky_offsets(*forward(x, y + step), ra0, dec0)
    ey0, ny0 = sky_offsets(*forward(x, y - step), ra0, dec0)
    jac = np.empty((*np.shape(x), 2, 2))
    jac[..., 0, 0] = (ex1 - ex0) / (2 * step)
    jac[..., 1, 0] = (nx1 - nx0) / (2 * step)
    jac[..., 0, 1] = (ey1 - ey0) / (2 * step)
    jac[..., 1, 1] = (ny1 - ny0) / (2 * step)
    return jac


def project(wcs, ra, dec, *, iterations=3):
    """Pixel positions of sky positions through a gwcs, consistent with its forward transform.

    The analytic inverse (SIAF ``Idl2Sci`` polynomials) is a starting point;
    Newton steps on the forward transform then make ``forward(x, y)``
    reproduce (ra, dec) to a few micro-arcseconds. Bounding boxes are ignored.

    Returns
    -------
    x, y : ndarray
        0-based pixel coordinates.
    jacobian : ndarray, shape (n, 2, 2)
        d(east, north)/d(x, y) in arcsec per pixel at each position.
    """
    forward = wcs.forward_transform
    ra = np.atleast_1d(np.asarray(ra, dtype=float))
    dec = np.atleast_1d(np.asarray(dec, dtype=float))
    x, y = forward.inverse(ra, dec)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    for _ in range(iterations):
        jac = _local_jacobian(forward, x, y, ra, dec)
        de, dn = sky_offsets(*forward(x, y), ra, dec)
        det = jac[:, 0, 0] * jac[:, 1, 1] - jac[:, 0, 1] * jac[:, 1, 0]
        x = x - (jac[:, 1, 1] * de - jac[:, 0, 1] * dn) / det
        y = y - (-jac[:, 1, 0] * de + jac[:, 0, 0] * dn) / det
    return x, y, _local_jacobian(forward, x, y, ra, dec)


def _pixel_covariance(jac_inv, cov_sky):
    """``J^-1 C J^-T`` for stacks of 2x2 matrices."""
    return np.einsum("nij,njk,nlk->nil", jac_inv, cov_sky, jac_inv)


def _source_components(scene, src, psf_w, psf_s):
    """Weights and sky covariances (arcsec^2) of one source seen through the PSF.

    A galaxy's mixture components much narrower than a PSF component
    (sigma below half the PSF's) are merged, for that PSF component, into one
    Gaussian with the same flux and second moments: after convolution they
    are indistinguishable, and drawing fewer Gaussians is faster.
    """
    if scene.kind[src] != "galaxy":
        return psf_w.copy(), (psf_s**2)[:, None, None] * np.eye(2)
    gal_w, gal_s = sersic_mixture(scene.sersic_n[src])
    pa = math.radians(scene.position_angle[src])
    major = np.array([math.sin(pa), math.cos(pa)])
    minor = np.array([math.cos(pa), -math.sin(pa)])
    shape_cov = np.outer(major, major) + scene.axis_ratio[src] ** 2 * np.outer(minor, minor)
    sizes = gal_s * scene.r_eff[src]
    gal_cov = sizes[:, None, None] ** 2 * shape_cov
    weights, covs = [], []
    for wp, sp in zip(psf_w, psf_s, strict=True):
        small = sizes < 0.5 * sp
        if small.any():
            w = gal_w[small].sum()
            weights.append(wp * w)
            covs.append(np.tensordot(gal_w[small], gal_cov[small], axes=1) / w + sp**2 * np.eye(2))
        weights.extend(wp * gal_w[~small])
        covs.extend(gal_cov[~small] + sp**2 * np.eye(2))
    return np.array(weights), np.array(covs)


def render(scene, x, y, jacobian, shape, *, dn_per_jy, psf_fwhm, margin=40.0):
    """Draw a scene in DN/s on an array of ``shape``.

    Parameters
    ----------
    scene : Scene
    x, y, jacobian : ndarray
        From :func:`project`.
    shape : tuple of int
    dn_per_jy : float
        DN/s collected per Jy of source flux (before the flat's QE).
    psf_fwhm : float
        PSF core FWHM (arcsec).
    margin : float
        Sources farther than this (pixels) outside the array are skipped.

    Returns
    -------
    ndarray of float64
    """
    image = np.zeros(shape, dtype=np.float64)
    ny, nx = shape
    near = (x > -margin) & (x < nx - 1 + margin) & (y > -margin) & (y < ny - 1 + margin)
    idx = np.flatnonzero(near)
    if idx.size == 0:
        return image
    jac_inv = np.linalg.inv(jacobian[idx])
    psf_w, psf_s = psf_mixture(psf_fwhm)
    comp_x, comp_y, comp_cov, comp_flux = [], [], [], []
    for i, src in enumerate(idx):
        flux = scene.flux[src] * dn_per_jy
        weights, covs = _source_components(scene, src, psf_w, psf_s)
        pix = _pixel_covariance(np.broadcast_to(jac_inv[i], covs.shape), covs)
        comp_x.append(np.full(weights.size, x[src]))
        comp_y.append(np.full(weights.size, y[src]))
        comp_cov.append(pix)
        comp_flux.append(flux * weights)
    cov = np.concatenate(comp_cov)
    add_gaussians(
        image, np.concatenate(comp_x), np.concatenate(comp_y), cov[:, 0, 0], cov[:, 0, 1], cov[:, 1, 1],
        np.concatenate(comp_flux),
    )  # fmt: skip
    return image
