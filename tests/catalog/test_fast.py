"""gpucal's kernels inside photutils' detection give photutils' own results, bit for bit."""

import numpy as np
import pytest

photutils = pytest.importorskip("photutils")


def _image(shape=(300, 280), seed=5):
    rng = np.random.default_rng(seed)
    y, x = np.indices(shape)
    data = rng.normal(1.0, 0.1, shape) + 0.002 * x
    for _ in range(40):
        cx, cy, flux = rng.uniform(5, shape[1] - 5), rng.uniform(5, shape[0] - 5), rng.uniform(5, 200)
        data += flux / (2 * np.pi * 1.5**2) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 1.5**2))
    mask = np.zeros(shape, bool)
    mask[:4] = mask[:, :4] = True  # reference pixels
    return data.astype(np.float32), mask


def test_background_images_equal_background2d():
    from astropy.stats import SigmaClip
    from photutils.background import Background2D, MedianBackground

    from gpucal.catalog.fast import background_images

    data, mask = _image()
    bkg = Background2D(data, 64, filter_size=(3, 3), coverage_mask=mask, sigma_clip=SigmaClip(sigma=3.0),
                       bkg_estimator=MedianBackground())  # fmt: skip
    sky, rms = background_images(bkg, data.shape)
    for got, expected in ((sky, bkg.background), (rms, bkg.background_rms)):
        assert got.dtype == expected.dtype
        assert got.tobytes() == expected.tobytes()


@pytest.mark.parametrize("finder", ["IRAFStarFinder", "DAOStarFinder"])
def test_star_finders_give_the_same_catalog_with_the_peak_kernel(finder):
    from photutils import detection
    from photutils.detection import peakfinder

    from gpucal.catalog.fast import fast_circular_peaks

    data, mask = _image()
    find = getattr(detection, finder)(threshold=1.0, fwhm=2.5, min_separation=2, n_brightest=30)
    original = peakfinder._fast_circular_peaks
    expected = find(data - 1.0, mask=mask)
    with fast_circular_peaks():
        assert peakfinder._fast_circular_peaks is not original
        with fast_circular_peaks():  # nested blocks share the replacement
            got = find(data - 1.0, mask=mask)
        assert peakfinder._fast_circular_peaks is not original
    assert peakfinder._fast_circular_peaks is original
    assert len(expected) > 10
    assert got.colnames == expected.colnames
    for name in expected.colnames:
        np.testing.assert_array_equal(np.asarray(got[name]), np.asarray(expected[name]), err_msg=name)


def test_an_unknown_interpolator_falls_back_to_photutils():
    from gpucal.catalog.fast import background_images

    class Other:
        interpolator = object()
        background = "bkg"
        background_rms = "rms"

    assert background_images(Other(), (4, 4)) == ("bkg", "rms")


def test_background_images_keep_the_unit_of_quantity_data():
    import astropy.units as u
    from astropy.stats import SigmaClip
    from photutils.background import Background2D, MedianBackground

    from gpucal.catalog.fast import background_images

    data, mask = _image()
    data = data * u.Jy
    bkg = Background2D(data, 50, filter_size=(3, 3), coverage_mask=mask, sigma_clip=SigmaClip(sigma=3.0),
                       bkg_estimator=MedianBackground())  # fmt: skip
    sky, rms = background_images(bkg, data.shape)
    for got, expected in ((sky, bkg.background), (rms, bkg.background_rms)):
        assert got.unit == expected.unit == u.Jy
        assert got.value.tobytes() == expected.value.tobytes()
