"""Fixtures for pipeline tests: small exposures and minimal reference files."""

import pytest

from tests.factories import write_reference_files, write_small_rate


@pytest.fixture
def refs(tmp_path):
    return write_reference_files(tmp_path / "refs")


@pytest.fixture
def rate(tmp_path):
    return write_small_rate(tmp_path)


@pytest.fixture
def steps(refs):
    """jwst-style step parameters overriding every reference, resample skipped."""
    return {
        "assign_wcs": {"override_distortion": refs["distortion"], "override_filteroffset": refs["filteroffset"]},
        "flat_field": {"override_flat": refs["flat"]},
        "photom": {"override_photom": refs["photom"], "override_area": refs["area"]},
        "resample": {"skip": True},
    }
