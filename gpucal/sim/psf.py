"""Point-spread functions, galaxy profiles and their rendering as Gaussian mixtures.

Everything a scene holds is drawn as a sum of 2-D Gaussians, because a
Gaussian convolved with a Gaussian is a Gaussian: a galaxy (a mixture
approximating a Sersic profile) seen through the PSF (a mixture too) is a
mixture of ``n_galaxy x n_psf`` Gaussians with summed covariances, and the
pixel response (a unit box) is approximated by adding 1/12 pixel^2 to each
covariance. No FFTs, no oversampled grids; each component is evaluated on a
small stamp around its centre and normalised to its exact flux.

* PSF: three concentric Gaussians (75 % core, 20 % shoulder at 2.2x the
  core width, 5 % wing at 8x), core FWHM from the diffraction limit of the
  6.5 m aperture, ``FWHM^2 = (1.03 lambda / D)^2 + floor^2``. Filters at
  longer wavelengths therefore get broader PSFs; the wings hold a few per
  cent of the flux several FWHM out, as real JWST PSFs do.
* Sersic profiles (1 <= n <= 4): a 9-component mixture with fixed widths
  (0.01 to 2.5 r_e, log spaced) and amplitudes fitted by bounded least
  squares at first use (cached per n rounded to 0.25); the relative error is
  below ~7 % between 0.02 and 4 r_e and the profile is truncated past ~5 r_e.
"""

import functools
import math

import numpy as np

__all__ = [
    "PSF_WEIGHTS",
    "add_gaussians",
    "psf_fwhm_arcsec",
    "psf_mixture",
    "sersic_mixture",
]

_ARCSEC_PER_RADIAN = 206264.80624709636
_TELESCOPE_DIAMETER_M = 6.5
#: Flux fractions and width factors of the three PSF components.
PSF_WEIGHTS = (0.75, 0.20, 0.05)
_PSF_WIDTHS = (1.0, 2.2, 8.0)
_FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
_PIXEL_VARIANCE = 1.0 / 12.0
_STAMP_SIGMAS = 4.0
_MAX_HALF = 160


def psf_fwhm_arcsec(wavelength_um, floor_arcsec):
    """Core FWHM (arcsec) of the simulated PSF at a wavelength (micron)."""
    diffraction = 1.03 * wavelength_um * 1e-6 / _TELESCOPE_DIAMETER_M * _ARCSEC_PER_RADIAN
    return math.hypot(diffraction, floor_arcsec)


def psf_mixture(fwhm_arcsec):
    """The PSF as ``(weights, sigmas_arcsec)`` of concentric circular Gaussians (weights sum to 1)."""
    core = fwhm_arcsec * _FWHM_TO_SIGMA
    return np.array(PSF_WEIGHTS), core * np.array(_PSF_WIDTHS)


def _sersic_b(n):
    """The b_n making r_e the half-light radius (Ciotti & Bertin 1999 expansion)."""
    return 2.0 * n - 1.0 / 3.0 + 4.0 / (405.0 * n) + 46.0 / (25515.0 * n * n)


@functools.lru_cache(maxsize=32)
def _sersic_mixture_cached(n):
    from scipy.optimize import lsq_linear

    radius = np.logspace(math.log10(0.005), math.log10(5.0), 300)
    profile = np.exp(-_sersic_b(n) * (radius ** (1.0 / n) - 1.0))
    sigmas = np.logspace(math.log10(0.01), math.log10(2.5), 9)
    basis = np.exp(-0.5 * (radius[:, None] / sigmas[None, :]) ** 2) / (2.0 * math.pi * sigmas**2)
    # Relative error, with a floor so the far tail (1e-4 of the peak) does not dominate.
    weight = 1.0 / (profile + 1e-4 * profile[0])
    fit = lsq_linear(basis * weight[:, None], profile * weight, bounds=(0.0, np.inf), method="bvls")
    amplitudes = fit.x
    keep = amplitudes > 1e-5 * amplitudes.max()
    amplitudes = amplitudes[keep]
    return amplitudes / amplitudes.sum(), sigmas[keep]


def sersic_mixture(n):
    """A Sersic profile of unit flux and unit r_e as ``(weights, sigmas)`` (in units of r_e).

    Parameters
    ----------
    n : float
        Sersic index, clipped to [1, 4] and rounded to 0.25 (fits are cached).
    """
    n = min(max(round(float(n) * 4.0) / 4.0, 1.0), 4.0)
    weights, sigmas = _sersic_mixture_cached(n)
    return weights.copy(), sigmas.copy()


def _stamp(dx, dy, pxx, pxy, pyy):
    """``exp(-q/2)`` of the quadratic form on a grid of offsets (float32)."""
    ax = np.float32(-0.5 * pxx) * dx * dx
    ay = np.float32(-0.5 * pyy) * dy * dy
    bxy = np.float32(-pxy) * dy
    return np.exp(ay[:, None] + ax[None, :] + bxy[:, None] * dx[None, :])


def add_gaussians(image, x, y, cxx, cxy, cyy, flux):
    """Add 2-D Gaussians integrated over the pixels to an image, each normalised to its flux.

    Parameters
    ----------
    image : ndarray of float64, shape (ny, nx)
        Accumulated in place.
    x, y : array_like
        Centres in 0-based pixel coordinates (pixel centres are integers).
    cxx, cxy, cyy : array_like
        Covariances in pixel^2 of the light before the pixel response.
    flux : array_like
        Total flux of each component, in the image's units summed over pixels.
        A component partly off the image loses what falls outside.

    Notes
    -----
    Each component is evaluated (in float32) on a stamp of +-4 sigma (at
    most 160 pixels) around its centre and scaled so that the stamp sums to
    the component's flux. The pixel response is the exact average over a
    3 x 3 grid of sub-pixels for narrow components (sigma < 0.8 pixel, where
    undersampling matters) and the 1/12 pixel^2 variance of a unit box for
    the others.
    """
    ny, nx = image.shape
    x, y, cxx, cxy, cyy, flux = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (x, y, cxx, cxy, cyy, flux))
    narrow = np.minimum(cxx, cyy) < 0.64
    cxx = np.where(narrow, cxx, cxx + _PIXEL_VARIANCE)
    cyy = np.where(narrow, cyy, cyy + _PIXEL_VARIANCE)
    det = cxx * cyy - cxy * cxy
    pxx, pxy, pyy = cyy / det, -cxy / det, cxx / det
    half_x = np.minimum(np.ceil(_STAMP_SIGMAS * np.sqrt(cxx + _PIXEL_VARIANCE)), _MAX_HALF).astype(int)
    half_y = np.minimum(np.ceil(_STAMP_SIGMAS * np.sqrt(cyy + _PIXEL_VARIANCE)), _MAX_HALF).astype(int)
    ix = np.rint(x).astype(int)
    iy = np.rint(y).astype(int)
    visible = (ix + half_x >= 0) & (ix - half_x < nx) & (iy + half_y >= 0) & (iy - half_y < ny) & (flux != 0)
    sub = np.array([-1.0, 0.0, 1.0], dtype=np.float32) / np.float32(3.0)
    for k in np.flatnonzero(visible):
        dx = (np.arange(ix[k] - half_x[k], ix[k] + half_x[k] + 1) - x[k]).astype(np.float32)
        dy = (np.arange(iy[k] - half_y[k], iy[k] + half_y[k] + 1) - y[k]).astype(np.float32)
        if narrow[k]:
            stamp = np.zeros((dy.size, dx.size), dtype=np.float32)
            for oy in sub:
                for ox in sub:
                    stamp += _stamp(dx + ox, dy + oy, pxx[k], pxy[k], pyy[k])
        else:
            stamp = _stamp(dx, dy, pxx[k], pxy[k], pyy[k])
        stamp *= np.float32(flux[k] / stamp.sum(dtype=np.float64))
        x0, y0 = ix[k] - half_x[k], iy[k] - half_y[k]
        xa, ya = max(x0, 0), max(y0, 0)
        xb, yb = min(ix[k] + half_x[k] + 1, nx), min(iy[k] + half_y[k] + 1, ny)
        image[ya:yb, xa:xb] += stamp[ya - y0 : yb - y0, xa - x0 : xb - x0]
    return image
