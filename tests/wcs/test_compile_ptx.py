"""Every op kind of the transform compiler compiles to PTX with NVVM (no GPU needed)."""

import pytest

from tests._nvvm import run_with_nvvm


@pytest.mark.slow
def test_transform_kernels_compile_to_ptx():
    result = run_with_nvvm("tests.wcs._ptx_models")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok ") >= 28
