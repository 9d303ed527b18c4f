"""Scenes: PSF and galaxy profiles, projection through a WCS, flux-conserving rendering."""

import math

import numpy as np
import pytest

from gpucal.sim import make_reference_data
from gpucal.sim.exposure import aperture_pointing, exposure_wcs
from gpucal.sim.instruments import choose_subarray
from gpucal.sim.psf import add_gaussians, psf_fwhm_arcsec, psf_mixture, sersic_mixture
from gpucal.sim.scene import Scene, make_scene, project, render, sky_offsets


def test_psf_broadens_with_wavelength():
    assert psf_fwhm_arcsec(0.704, 0.02) == pytest.approx(0.030, abs=0.003)  # NIRCam F070W
    assert psf_fwhm_arcsec(1.989, 0.02) == pytest.approx(0.066, abs=0.004)  # F200W
    assert psf_fwhm_arcsec(4.408, 0.02) == pytest.approx(0.145, abs=0.006)  # F444W
    assert psf_fwhm_arcsec(7.639, 0.1) == pytest.approx(0.269, abs=0.02)  # MIRI F770W
    weights, sigmas = psf_mixture(0.1)
    assert weights.sum() == pytest.approx(1.0)
    assert sigmas[0] == pytest.approx(0.1 / 2.3548, rel=1e-3) and sigmas[-1] > 5 * sigmas[0]  # wings


@pytest.mark.parametrize("n", [1.0, 2.5, 4.0])
def test_sersic_mixture_has_unit_half_light_radius(n):
    weights, sigmas = sersic_mixture(n)
    assert weights.sum() == pytest.approx(1.0)
    # Fraction of flux inside r = 1 (r_e) for circular Gaussians: 1 - exp(-r^2 / 2 sigma^2).
    inside = np.sum(weights * (1 - np.exp(-0.5 / sigmas**2)))
    assert inside == pytest.approx(0.5, abs=0.05)


def test_sersic_mixture_follows_the_profile():
    weights, sigmas = sersic_mixture(1.0)
    radius = np.array([0.1, 0.5, 1.0, 2.0, 3.0])
    model = np.sum(weights * np.exp(-0.5 * (radius[:, None] / sigmas) ** 2) / (2 * np.pi * sigmas**2), axis=1)
    b = 1.678
    expected = np.exp(-b * (radius - 1.0))
    ratio = model / expected
    np.testing.assert_allclose(ratio / ratio[2], 1.0, rtol=0.08)


def test_add_gaussians_conserves_flux_and_centroid():
    image = np.zeros((64, 64))
    add_gaussians(image, [20.3, 40.7], [30.6, 25.1], [0.2, 4.0], [0.0, 1.0], [0.2, 2.0], [100.0, 50.0])
    assert image.sum() == pytest.approx(150.0, rel=1e-6)
    yy, xx = np.mgrid[:64, :64]
    left = image[:, :30]
    assert (left * xx[:, :30]).sum() / left.sum() == pytest.approx(20.3, abs=0.01)
    assert (left * yy[:, :30]).sum() / left.sum() == pytest.approx(30.6, abs=0.01)


def test_add_gaussians_clips_at_the_edge():
    image = np.zeros((20, 20))
    add_gaussians(image, [0.0], [10.0], [1.0], [0.0], [1.0], [10.0])
    # Centred on the first pixel: the light left of its outer edge (x < -0.5) is lost.
    assert image.sum() == pytest.approx(10.0 * 0.5 * (1 + math.erf(0.5 / math.sqrt(2.0))), rel=0.01)


@pytest.fixture(scope="module")
def wcs_and_scene():
    reference = make_reference_data("nircam", "nrcb4", "f115w")
    subarray = choose_subarray(reference.detector, 320)
    pointing = aperture_pointing(reference.detector, subarray, 150.1, 2.2, 37.0)
    wcs = exposure_wcs(reference, subarray, pointing)
    scene = make_scene(np.random.default_rng(4), (150.1, 2.2), (8.0, 8.0), instrument="nircam")
    return reference, subarray, wcs, scene


def test_project_inverts_the_forward_transform(wcs_and_scene):
    _, _, wcs, scene = wcs_and_scene
    x, y, jacobian = project(wcs, scene.ra, scene.dec)
    ra, dec = wcs.forward_transform(x, y)
    east, north = sky_offsets(ra, dec, scene.ra, scene.dec)
    assert np.max(np.hypot(east, north)) < 1e-5  # arcsec
    scale = np.sqrt(np.abs(np.linalg.det(jacobian)))
    assert np.all(np.abs(scale - 0.031) < 0.001)  # NIRCam SW: ~31 mas pixels


def test_render_places_and_scales_a_star(wcs_and_scene):
    _, subarray, wcs, _ = wcs_and_scene
    x0, y0 = 150.37, 170.81
    ra, dec = wcs.forward_transform(x0, y0)
    star = Scene(
        *(np.array([v]) for v in (ra, dec)), np.array(["star"]), np.array([1e-6]), *(np.zeros(1) for _ in range(4))
    )
    x, y, jacobian = project(wcs, star.ra, star.dec)
    image = render(star, x, y, jacobian, subarray.shape, dn_per_jy=1e8, psf_fwhm=0.04)
    assert image.sum() == pytest.approx(100.0, rel=1e-4)
    core = image[160:182, 140:162]
    yy, xx = np.mgrid[160:182, 140:162]
    assert (core * xx).sum() / core.sum() == pytest.approx(x0, abs=0.02)
    assert (core * yy).sum() / core.sum() == pytest.approx(y0, abs=0.02)


def test_render_draws_galaxies_with_their_orientation(wcs_and_scene):
    _, subarray, wcs, _ = wcs_and_scene
    ra, dec = wcs.forward_transform(160.0, 160.0)
    galaxy = Scene(np.array([ra]), np.array([dec]), np.array(["galaxy"]), np.array([1e-6]), np.array([1.0]),
                   np.array([0.3]), np.array([0.3]), np.array([0.0]))  # fmt: skip
    x, y, jacobian = project(wcs, galaxy.ra, galaxy.dec)
    image = render(galaxy, x, y, jacobian, subarray.shape, dn_per_jy=1e8, psf_fwhm=0.04)
    assert image.sum() == pytest.approx(100.0, rel=1e-3)
    # Major axis north (PA 0): the image's second moments follow the north direction through the Jacobian.
    yy, xx = np.mgrid[: subarray.shape[0], : subarray.shape[1]]
    dx, dy = xx - x[0], yy - y[0]
    cov = (
        np.array(
            [[np.sum(image * dx * dx), np.sum(image * dx * dy)], [np.sum(image * dx * dy), np.sum(image * dy * dy)]]
        )
        / image.sum()
    )
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    major_pixel = eigenvectors[:, 1]
    major_sky = jacobian[0] @ major_pixel
    angle = math.degrees(math.atan2(abs(major_sky[0]), abs(major_sky[1])))  # from north
    assert angle < 5.0
    assert eigenvalues[1] > 4 * eigenvalues[0]
