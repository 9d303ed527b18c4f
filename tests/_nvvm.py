"""Run a PTX-compilation module in a subprocess with the CUDA simulator off (no GPU needed)."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def run_with_nvvm(module):
    """Run ``python -m module`` with ``NUMBA_ENABLE_CUDASIM=0``; skip when NVVM/NVRTC are not installed.

    Returns
    -------
    subprocess.CompletedProcess
        With text ``stdout``/``stderr``; the caller asserts on them.
    """
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    probe = subprocess.run(
        [sys.executable, "-c", "from cuda.pathfinder import load_nvidia_dynamic_lib as l; l('nvvm'); l('nvrtc')"],
        env=env, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    if probe.returncode != 0:
        pytest.skip("NVVM/NVRTC not installed; install the test extra to compile CUDA kernels")
    result = subprocess.run(
        [sys.executable, "-m", module], env=env, capture_output=True, text=True, cwd=ROOT, timeout=1800
    )
    print(result.stdout)
    return result
