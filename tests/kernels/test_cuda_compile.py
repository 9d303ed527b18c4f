"""Every CUDA kernel form compiles to PTX with NVVM (no GPU needed).

The CUDA simulator executes kernels as Python, so code the real compiler
rejects (unsupported calls, type-unification errors, allocation) can pass it.
This test compiles each kernel for compute capability 9.0 in a subprocess
with the simulator off. It skips when NVVM/NVRTC are not installed (the
``test`` extra installs them).
"""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_cuda_kernels_compile_to_ptx():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    probe = subprocess.run(
        [sys.executable, "-c", "from cuda.pathfinder import load_nvidia_dynamic_lib as l; l('nvvm'); l('nvrtc')"],
        env=env, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    if probe.returncode != 0:
        pytest.skip("NVVM/NVRTC not installed; install the test extra to compile CUDA kernels")
    result = subprocess.run(
        [sys.executable, "-m", "tests.kernels._ptx_compile"],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=1800,
    )
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
