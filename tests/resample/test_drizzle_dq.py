"""DQ propagation through the drizzle kernel: the three forms agree, and match drizzle's C engine.

The kernel parity tier compares the science outputs of the DQ cases; the
output DQ travels on ``DrizzleResult.dq``, compared here on the caller's arrays.
"""

import numpy as np
import pytest

from gpucal.kernels.drizzle import drizzle_cpu, drizzle_gpu, drizzle_ref
from tests.kernels.cases_drizzle import CASES

DQ_CASES = [case for case in CASES if case.kernel == "drizzle" and "dq" in case.id]


@pytest.mark.parametrize("case", DQ_CASES, ids=lambda c: c.id)
def test_dq_forms_agree(case):
    outputs = []
    for form in (drizzle_ref, drizzle_cpu, drizzle_gpu):
        args = tuple(case.make(np.random.default_rng(7)))
        result = form(*args)
        assert result.dq is args[-2]  # updated in place
        outputs.append(result.dq)
    assert outputs[0].dtype == np.uint32 and np.any(outputs[0] == 4) and np.any(outputs[0] & 2)
    for out in outputs[1:]:
        np.testing.assert_array_equal(out, outputs[0])


@pytest.mark.parametrize("kernel", ["square", "lanczos3", "point"])
def test_dq_matches_cdrizzle(kernel):
    from drizzle.resample import Drizzle

    from tests.kernels.cases_drizzle import OUT_SHAPE, make_image, make_pixmap

    rng = np.random.default_rng(11)
    shape = (20, 24)
    data, weight = make_image(rng, shape)
    data[np.isnan(data)] = 0.0
    pixmap = make_pixmap(shape, OUT_SHAPE)
    dq = rng.choice(np.array([0, 0, 1, 4, 64, 1 << 30], np.uint32), shape).astype(np.uint32)
    driz = Drizzle(kernel=kernel, fillval="NAN", out_shape=OUT_SHAPE)
    ours = (np.full(OUT_SHAPE, np.nan, np.float32), np.zeros(OUT_SHAPE, np.float32), np.zeros(OUT_SHAPE, np.uint32))
    for k in range(2):  # twice: the second image ORs into a non-empty DQ
        driz.add_image(
            data, exptime=1.0, pixmap=pixmap, weight_map=weight, dq=dq, pixel_scale_ratio=1.1, in_units="cps"
        )
        drizzle_cpu(data, weight, pixmap, ours[0], ours[1], None, kernel, 1.0, 1.1, 1.0, k, fillval="NAN", dq=dq,
                    out_dq=ours[2])  # fmt: skip
        dq = np.roll(dq, 3)
    np.testing.assert_array_equal(ours[2], driz.out_dq)
    np.testing.assert_array_equal(ours[1], driz.out_wht)
