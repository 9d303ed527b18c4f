"""Every registered kernel: numpy reference vs numba CPU vs CUDA on the same inputs."""

import numpy as np
import pytest

from gpucal.kernels import KERNELS
from tests.kernels._cases import all_cases

CASES = all_cases()


def _as_tuple(value):
    return value if isinstance(value, tuple) else (value,)


def assert_outputs_match(expected, actual, spec, label):
    expected, actual = _as_tuple(expected), _as_tuple(actual)
    assert len(expected) == len(actual), label
    for k, (e, a) in enumerate(zip(expected, actual, strict=True)):
        e, a = np.asarray(e), np.asarray(a)
        assert a.dtype == e.dtype, f"{label} output {k}: dtype {a.dtype} != {e.dtype}"
        assert a.shape == e.shape, f"{label} output {k}: shape {a.shape} != {e.shape}"
        if e.dtype.kind in "iub":
            np.testing.assert_array_equal(a, e, err_msg=f"{label} output {k}")
        else:
            np.testing.assert_array_equal(np.isnan(a), np.isnan(e), err_msg=f"{label} output {k}: NaN positions")
            np.testing.assert_allclose(
                a, e, rtol=spec.rtol, atol=spec.atol, equal_nan=True, err_msg=f"{label} output {k}"
            )


def test_every_registered_kernel_has_a_parity_case():
    covered = {case.kernel for case in CASES}
    missing = sorted(set(KERNELS) - covered)
    assert not missing, f"kernels without a numpy/numba/CUDA parity case: {missing}"


def test_every_case_names_a_registered_kernel():
    unknown = sorted({case.kernel for case in CASES} - set(KERNELS))
    assert not unknown, f"cases for unregistered kernels: {unknown}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.kernel}-{c.id}")
@pytest.mark.parametrize("form", ["numba", "cuda"])
def test_form_matches_reference(case, form):
    from tests.conftest import Backend

    spec = KERNELS[case.kernel]
    args = case.make(np.random.default_rng(20261121))
    expected = Backend("numpy").run(case.kernel, *args)
    actual = Backend(form).run(case.kernel, *args)
    if case.compare is not None:
        case.compare(expected, actual, spec)
    else:
        assert_outputs_match(expected, actual, spec, f"{case.kernel}[{case.id}] {form}")
