"""The command line: listing, info, one-line errors with exit codes."""

import json
import subprocess
import sys


def _gpucal(*args, env=None):
    return subprocess.run([sys.executable, "-m", "gpucal.cli", *args], capture_output=True, text=True, env=env)


def test_help_lists_commands():
    result = _gpucal("--help")
    assert result.returncode == 0
    assert "info" in result.stdout and "simulate" in result.stdout


def test_info_json():
    result = _gpucal("info", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["auto_device"] in ("cpu", "cuda:0")
    assert "numpy" in info["versions"]


def test_unknown_command_is_a_usage_error():
    result = _gpucal("frobnicate")
    assert result.returncode == 2


def test_space_separated_step_option_before_the_input_keeps_its_value(tmp_path, monkeypatch):
    """``--steps.s.p VALUE INPUT`` and ``INPUT --steps.s.p=VALUE`` mean the same (issue 9, item 1)."""
    import gpucal.pipelines.image2.pipeline as image2

    seen = []

    class Recorder:
        def __init__(self, **kwargs):
            seen.append(kwargs["steps"])

        @classmethod
        def call(cls, input, **kwargs):
            cls(**kwargs)
            seen.append(input)
            return []

    monkeypatch.setattr(image2, "Image2Pipeline", Recorder)
    from gpucal.cli import main

    assert main(["image2", "--steps.flat_field.override_flat", "FLAT.fits", "x_rate.fits"]) == 0
    assert main(["image2", "x_rate.fits", "--steps.flat_field.override_flat=FLAT.fits"]) == 0
    assert seen[0] == seen[2] == {"flat_field": {"override_flat": "FLAT.fits"}}
    assert seen[1] == seen[3] == "x_rate.fits"
    assert main(["image2", "x_rate.fits", "--steps.flat_field.override_flat"]) == 2
