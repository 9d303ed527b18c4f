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
