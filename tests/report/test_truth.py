"""gpucal.report.truth: recovered vs injected pointing errors, catalog completeness and flux accuracy."""

import math

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import QTable

from gpucal.report.truth import (
    compare_catalog,
    exposure_root,
    misalignment,
    pointing_recovery,
    tangent_offsets,
    wcs_offset,
)
from tests.report._sky import FIELD, SHAPE, pointings_table, tan_wcs, truth_table


def test_exposure_root_of_every_product_name():
    root = "jw00001001001_02101_00001_nrca1"
    for name in (f"{root}_rate.fits", f"{root}_rateints.fits", f"{root}_cal.fits", f"{root}_o001_crf.fits",
                 f"/some/dir/{root}_cal.fits"):  # fmt: skip
        assert exposure_root(name) == root, name


def test_tangent_offsets_are_east_and_north_arcsec():
    east, north = tangent_offsets(FIELD[0] + 1 / 3600 / math.cos(math.radians(FIELD[1])), FIELD[1] - 2 / 3600, *FIELD)
    assert float(east) == pytest.approx(1.0, abs=1e-4) and float(north) == pytest.approx(-2.0, abs=1e-4)


def test_wcs_offset_measures_the_pointing_error_from_sources_on_the_detector():
    truth = truth_table()
    east, north, n = wcs_offset(tan_wcs(east_mas=30.0, north_mas=-20.0), truth, "a", SHAPE)
    assert (east, north) == (pytest.approx(30.0, abs=0.01), pytest.approx(-20.0, abs=0.01))
    x, y = np.asarray(truth["x_a"]), np.asarray(truth["y_a"])
    inside = (x >= 2) & (x <= SHAPE[1] - 3) & (y >= 2) & (y <= SHAPE[0] - 3)
    assert n == inside.sum() < len(truth), "sources off the detector are not used"
    assert wcs_offset(tan_wcs(), truth, "a", (1, 1))[2] == 0


def _recovery(after_b):
    truth = truth_table()
    injected = {"a": (30.0, -20.0), "b": (-50.0, 40.0)}
    before = {root: tan_wcs(east_mas=e, north_mas=n) for root, (e, n) in injected.items()}
    after = {"a": before["a"], "b": tan_wcs(east_mas=after_b[0], north_mas=after_b[1])}
    return pointing_recovery(truth, pointings_table(injected), before, after, {"a": SHAPE, "b": SHAPE},
                             aligned={"b": after_b != injected["b"]})  # fmt: skip


def test_a_perfect_relative_alignment_recovers_the_injected_errors():
    recovery = _recovery(after_b=(30.0, -20.0))  # b moved onto a: tweakreg's relative alignment
    rows = recovery.relative()
    assert rows[1]["injected"] == pytest.approx((-80.0, 60.0))
    assert rows[1]["recovered"] == pytest.approx((-80.0, 60.0), abs=0.01)
    assert recovery.max_error_mas == pytest.approx(0.0, abs=0.02)
    assert recovery.max_misalignment_mas == pytest.approx(0.0, abs=0.02)
    assert recovery.common_offset_mas == pytest.approx((30.0, -20.0), abs=0.01)
    record = recovery.to_dict()
    assert record["relative_to"] == "a"
    assert [e["aligned"] for e in record["exposures"]] == [False, True]
    assert record["exposures"][1]["before_mas"] == pytest.approx([-50.0, 40.0], abs=0.01)


def test_an_exposure_left_unaligned_shows_its_whole_error():
    recovery = _recovery(after_b=(-50.0, 40.0))
    assert recovery.relative()[1]["recovered"] == pytest.approx((0.0, 0.0), abs=1e-6)
    assert recovery.max_error_mas == pytest.approx(100.0, abs=0.02)
    assert recovery.max_misalignment_mas == pytest.approx(100.0, abs=0.02)


def test_a_partial_correction_is_reported_as_what_is_left():
    recovery = _recovery(after_b=(27.0, -16.0))  # 5 mas short of a
    assert recovery.max_error_mas == pytest.approx(5.0, abs=0.02)


def test_a_wrong_rotation_is_measured_where_it_shows_not_only_at_the_middle():
    """tweakreg's fit turned b by 360" about its centre: the median shift hides it, the source-by-source check not."""
    truth = truth_table(n=200)
    injected = {"a": (30.0, -20.0), "b": (-50.0, 40.0)}
    before = {root: tan_wcs(east_mas=e, north_mas=n) for root, (e, n) in injected.items()}
    after = {"a": before["a"], "b": tan_wcs(east_mas=30.0, north_mas=-20.0, rotation_arcsec=360.0)}
    recovery = pointing_recovery(truth, pointings_table(injected), before, after, {"a": SHAPE, "b": SHAPE})
    x, y = np.asarray(truth["x_b"]), np.asarray(truth["y_b"])
    inside = (x >= 2) & (x <= SHAPE[1] - 3) & (y >= 2) & (y <= SHAPE[0] - 3)
    radius = np.hypot(x - (SHAPE[1] - 1) / 2, y - (SHAPE[0] - 1) / 2)[inside] * 0.031  # arcsec from the centre
    angle = math.radians(360.0 / 3600.0)
    assert recovery.max_misalignment_mas == pytest.approx(angle * radius.max() * 1000.0, rel=1e-3)
    assert recovery.max_misalignment_mas > 7.0
    assert recovery.max_error_mas < 0.2 * recovery.max_misalignment_mas  # the median shift nearly right, corners not
    record = recovery.to_dict()
    field = record["exposures"][1]["misalignment_after_mas"]
    assert field["n_sources"] == inside.sum()
    assert field["max"] == pytest.approx(angle * radius.max() * 1000.0, rel=1e-3)
    assert field["median"] == pytest.approx(angle * np.median(radius) * 1000.0, rel=1e-3)
    assert record["exposures"][0]["misalignment_after_mas"]["max"] == 0.0
    assert record["max_misalignment_after_mas"] == pytest.approx(field["max"], abs=1e-3)


def test_misalignment_uses_only_sources_both_exposures_see():
    truth = truth_table(centers={"a": FIELD, "b": (FIELD[0], FIELD[1] + 100 * 0.031 / 3600)})  # b 100 px north
    wcs_b = tan_wcs((FIELD[0], FIELD[1] + 100 * 0.031 / 3600))
    median, largest, n = misalignment(wcs_b, tan_wcs(), truth, "b", "a", SHAPE, SHAPE)
    both = [
        (np.asarray(truth[f"x_{r}"]) >= 2)
        & (np.asarray(truth[f"x_{r}"]) <= SHAPE[1] - 3)
        & (np.asarray(truth[f"y_{r}"]) >= 2)
        & (np.asarray(truth[f"y_{r}"]) <= SHAPE[0] - 3)
        for r in "ab"
    ]
    assert n == (both[0] & both[1]).sum() > 0 and n < both[0].sum()
    assert largest == pytest.approx(0.0, abs=1e-6) and median == pytest.approx(0.0, abs=1e-6)
    assert misalignment(wcs_b, tan_wcs(), truth, "b", "a", SHAPE, (1, 1))[2] == 0


def test_an_exposure_missing_from_the_truth_is_an_error():
    truth = truth_table()
    with pytest.raises(KeyError, match="b: not in the simulator's truth_pointings"):
        pointing_recovery(truth, pointings_table({"a": (0.0, 0.0)}), {"b": tan_wcs()}, {"b": tan_wcs()},
                          {"b": SHAPE})  # fmt: skip


def _catalog(truth, rows, offset_mas=(40.0, -10.0), jitter_mas=10.0, ratio=None, extra=()):
    """A catalog of the truth ``rows`` moved by a common offset and some jitter, with fluxes ``ratio`` x true."""
    rng = np.random.default_rng(1)
    ra = np.asarray(truth["ra"])[rows]
    dec = np.asarray(truth["dec"])[rows]
    east = offset_mas[0] + rng.normal(0, jitter_mas, len(rows))
    north = offset_mas[1] + rng.normal(0, jitter_mas, len(rows))
    ra = ra + east / 3.6e6 / np.cos(np.radians(dec))
    dec = dec + north / 3.6e6
    flux = np.asarray(truth["flux"])[rows] * (1.0 if ratio is None else np.asarray(ratio))
    for extra_ra, extra_dec in extra:
        ra, dec, flux = np.append(ra, extra_ra), np.append(dec, extra_dec), np.append(flux, 1e-6)
    table = QTable()
    table["sky_centroid"] = SkyCoord(ra, dec, unit="deg")
    table["aper_total_flux"] = flux * u.Jy
    return table


def _bright_on_detector(truth, limit=24.5, margin=5.0):
    x, y = np.asarray(truth["x_a"]), np.asarray(truth["y_a"])
    on = (x >= margin) & (x <= SHAPE[1] - 1 - margin) & (y >= margin) & (y <= SHAPE[0] - 1 - margin)
    return np.flatnonzero(on & (np.asarray(truth["abmag"]) <= limit))


def test_completeness_and_flux_accuracy_against_the_truth():
    truth = truth_table(n=120)
    bright = _bright_on_detector(truth)
    found = bright[1:]  # one bright source missed
    kinds = np.asarray(truth["type"])[found]
    ratio = np.where(kinds == "star", 0.9, 0.5)
    catalog = _catalog(truth, found, ratio=ratio, extra=[(FIELD[0], FIELD[1] + 3 / 3600)])
    result = compare_catalog(truth, catalog, {"a": SHAPE})
    assert result.n_truth == len(bright) and result.n_matched == len(bright) - 1
    assert result.completeness == pytest.approx((len(bright) - 1) / len(bright))
    assert result.n_catalog == len(found) + 1
    assert result.offset_mas == (pytest.approx(40.0, abs=5.0), pytest.approx(-10.0, abs=5.0))
    assert result.flux["star"].median == pytest.approx(0.9) and result.flux["star"].scatter == pytest.approx(0.0)
    assert result.flux["galaxy"].median == pytest.approx(0.5)
    assert result.flux["all"].n == len(found) == result.flux["star"].n + result.flux["galaxy"].n
    record = result.to_dict()
    assert record["completeness"] == pytest.approx(result.completeness, abs=1e-4)
    assert record["flux_ratio"]["star"]["median"] == pytest.approx(0.9)


def test_the_magnitude_limit_and_radius_are_used():
    truth = truth_table(n=120)
    bright = _bright_on_detector(truth)
    catalog = _catalog(truth, bright, jitter_mas=0.0)
    assert compare_catalog(truth, catalog, {"a": SHAPE}, mag_limit=22.0).n_truth < len(bright)
    # 150 mas of jitter: most sources fall outside 0.1" (the common offset cannot absorb random errors)
    scattered = _catalog(truth, bright, offset_mas=(0.0, 0.0), jitter_mas=150.0)
    assert compare_catalog(truth, scattered, {"a": SHAPE}).completeness < 0.5
    assert compare_catalog(truth, scattered, {"a": SHAPE}, radius_arcsec=1.0).completeness == 1.0


def test_a_common_offset_larger_than_the_radius_is_removed_before_matching():
    truth = truth_table(n=120)
    bright = _bright_on_detector(truth)
    result = compare_catalog(truth, _catalog(truth, bright, offset_mas=(150.0, 100.0), jitter_mas=5.0),
                             {"a": SHAPE})  # fmt: skip
    assert result.completeness == 1.0
    assert result.offset_mas == (pytest.approx(150.0, abs=5.0), pytest.approx(100.0, abs=5.0))


def test_a_blend_counts_for_completeness_but_not_for_flux():
    truth = truth_table(n=120)
    bright = _bright_on_detector(truth)
    # move the second bright source to 40 mas from the first: one catalog source stands for both
    truth["ra"][bright[1]] = truth["ra"][bright[0]] + 0.04 / 3600 / np.cos(np.radians(truth["dec"][bright[0]]))
    truth["dec"][bright[1]] = truth["dec"][bright[0]]
    truth["x_a"][bright[1]] = truth["x_a"][bright[0]] + 0.04 / 0.031
    truth["y_a"][bright[1]] = truth["y_a"][bright[0]]
    found = np.delete(bright, 1)
    result = compare_catalog(truth, _catalog(truth, found, offset_mas=(0.0, 0.0), jitter_mas=0.0), {"a": SHAPE})
    assert result.n_matched == result.n_truth == len(bright)
    assert result.flux["all"].n == len(found)


def test_an_empty_catalog_is_zero_completeness():
    truth = truth_table()
    empty = QTable({"sky_centroid": SkyCoord([], [], unit="deg"), "aper_total_flux": [] * u.Jy})
    result = compare_catalog(truth, empty, {"a": SHAPE})
    assert result.n_matched == 0 and result.n_truth > 0 and result.completeness == 0.0
    assert result.to_dict()["flux_ratio"]["all"] == {"n": 0, "median": None, "scatter": None}


def test_no_truth_source_on_the_detectors_has_undefined_completeness():
    truth = truth_table()
    result = compare_catalog(truth, _catalog(truth, [0, 1]), {"a": (1, 1)})
    assert result.n_truth == 0 and math.isnan(result.completeness)
    assert result.to_dict()["completeness"] is None
