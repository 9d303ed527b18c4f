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


def _error_line(capsys):
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("gpucal: error:")]
    assert len(lines) == 1, lines
    return lines[0]


def test_unsupported_or_missing_exp_type_is_an_input_error_naming_the_file(tmp_path, capsys):
    """Not exit 1 without a file name: exit 4 and the file, whatever EXP_TYPE is wrong (issue 9)."""
    from gpucal.cli import main
    from tests.factories import write_small_rate

    for exp_type in ("NRC_WFSS", ""):
        rate = write_small_rate(tmp_path, name=f"x{exp_type}_rate.fits", **{"exposure.type": exp_type})
        assert main(["image2", str(rate), "--device", "cpu", "--output-dir", str(tmp_path / "out")]) == 4
        line = _error_line(capsys)
        assert line.count(str(rate)) == 1 and f"EXP_TYPE {exp_type or '(missing)'}" in line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_association_with_a_non_string_expname_exits_4(tmp_path, capsys):
    from gpucal.cli import main

    asn = tmp_path / "x_asn.json"
    asn.write_text(json.dumps({"asn_type": "image2", "products": [{"name": "x", "members": [{"expname": 12}]}]}))
    assert main(["image2", str(asn), "--device", "cpu"]) == 4
    assert "'expname' must be a non-empty string" in _error_line(capsys)


def test_require_gpu_variable_accepts_only_booleans(tmp_path, monkeypatch, capsys):
    from gpucal.cli import main
    from tests.factories import write_small_rate

    rate = write_small_rate(tmp_path)
    monkeypatch.setenv("GPUCAL_REQUIRE_GPU", "yes please")
    assert main(["image2", str(rate), "--output-dir", str(tmp_path / "out")]) == 2
    assert "GPUCAL_REQUIRE_GPU='yes please'" in _error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_config_syntax_error_is_one_line(tmp_path, capsys):
    from gpucal.cli import main

    config = tmp_path / "pars.yaml"
    config.write_text("steps:\n  - name: flat_field\n    parameters: {skip: true\n  - name: x\n")
    assert main(["image2", "x_rate.fits", "--config", str(config)]) == 2
    line = _error_line(capsys)
    assert line.count(str(config)) == 1 and "line 4" in line
