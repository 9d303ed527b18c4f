"""TweakRegStep parameters: jwst 3.0's names and defaults, and clear errors for bad values."""

import math

import pytest

from gpucal.errors import ParameterError
from gpucal.pipelines.image3.tweakreg import TweakRegStep


def test_parameters_are_jwsts():
    pytest.importorskip("jwst")
    from jwst.tweakreg import TweakRegStep as JwstTweakRegStep

    theirs = JwstTweakRegStep()
    spec_names = {line.split("=")[0].strip() for line in JwstTweakRegStep.spec.splitlines()
                  if "=" in line and not line.strip().startswith("#")}  # fmt: skip
    ours = TweakRegStep().to_dict()
    generic = {"skip", "save_results", "suffix", "output_dir", "output_file"}
    assert spec_names - {"output_use_model"} == set(ours) - generic
    for name in sorted(spec_names - {"output_use_model"}):
        expected = getattr(theirs, name)
        value = ours[name]
        if name == "connectivity":
            expected = int(expected)
        if isinstance(expected, float):
            assert value == pytest.approx(expected), name
        else:
            assert value == expected, name


def test_jwst_parameter_file_values_are_coerced():
    step = TweakRegStep.from_dict({"fitgeometry": "general", "kron_params": "2.5 1.4", "connectivity": "4",
                                   "peakmax": "None", "output_use_model": True})  # fmt: skip
    assert (step.fitgeometry, step.kron_params, step.connectivity, step.peakmax) == ("general", (2.5, 1.4), 4, None)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"starfinder": "sextractor"}, "tweakreg.starfinder"),
        ({"fitgeometry": "affine"}, "tweakreg.fitgeometry"),
        ({"abs_fitgeometry": "affine"}, "tweakreg.abs_fitgeometry"),
        ({"nclip": -1}, "tweakreg.nclip"),
        ({"sigma": -0.5}, "tweakreg.sigma"),
        ({"connectivity": 6}, "tweakreg.connectivity"),
        ({"catalog_format": "csv"}, "tweakreg.catalog_format"),
        ({"sip_degree": 7}, "tweakreg.sip_degree"),
        ({"kron_params": "2.5"}, "tweakreg.kron_params"),
        ({"separation": 0.9}, r"tweakreg.separation \(0.9\) must be larger than tweakreg.tolerance"),
        ({"tolerance": 1.0}, "tweakreg.separation"),
        ({"abs_refcat": "cat.ecsv", "abs_separation": 0.5}, "tweakreg.abs_separation"),
        ({"abs_refcat": "GAIADR3"}, "web catalog and gpucal runs offline"),
        ({"abs_refcat": "cat.ecsv", "save_abs_catalog": True}, "tweakreg.save_abs_catalog"),
        ({"sharplo": 3.0}, "tweakreg.sharplo"),
        ({"searchrad": math.inf}, "tweakreg.searchrad"),
        ({"minobj": 0}, "tweakreg.minobj"),
        ({"enforce_user_ordr": True}, "unknown parameter 'enforce_user_ordr'"),
    ],
)
def test_bad_parameters_are_errors(params, message):
    with pytest.raises(ParameterError, match=message):
        TweakRegStep.from_dict(params)


def test_separation_check_only_applies_to_abs_when_used():
    assert TweakRegStep.from_dict({"abs_separation": 0.5}).abs_separation == 0.5
