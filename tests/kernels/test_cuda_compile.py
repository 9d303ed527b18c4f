"""Every CUDA kernel form compiles to PTX with NVVM (no GPU needed).

The CUDA simulator executes kernels as Python, so code the real compiler
rejects (unsupported calls, type-unification errors, allocation) can pass it.
This test compiles each kernel for compute capability 9.0 in a subprocess
with the simulator off. It skips when NVVM/NVRTC are not installed (the
``test`` extra installs them).
"""

import pytest

from tests._nvvm import run_with_nvvm


@pytest.mark.slow
def test_cuda_kernels_compile_to_ptx():
    result = run_with_nvvm("tests.kernels._ptx_compile")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok ") >= 21  # every CUDA kernel of every registered kernel
