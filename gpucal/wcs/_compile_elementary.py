"""Branch-free float64 ``sin``/``cos``, ``atan2`` and ``hypot`` for compiled transforms.

A library call inside the pixel loop stops LLVM from vectorizing it; written
as straight-line arithmetic with selects (pasted into the generated code by
:mod:`gpucal.wcs._compile_inline`), these let the CPU loops run 4 pixels per
AVX2 instruction, and run without divergence on GPUs.
Accuracy, measured against 80-bit long double in ``tests/wcs``: within 1 ulp
for ``sin_cos`` (for ``|x| < 1e5`` rad; Cody-Waite reduction loses accuracy
beyond), a few ulp for ``atan2`` and ``hypot``, i.e. at the level of the
library functions (numpy's SIMD ``arctan2`` is itself not correctly rounded).

Methods (textbook): ``sin``/``cos`` reduce by multiples of pi/2 with a
three-part pi/2 (Cody & Waite) and evaluate Taylor series on
``|r| <= pi/4`` (``cos`` with a compensated ``1 - r**2/2``); ``atan2`` folds
to ``t = min/max`` in [0, 1], maps ``t > tan(pi/8)`` to ``(t-1)/(t+1)``,
halves the angle once (``atan(u) = 2 atan(u / (1 + sqrt(1 + u**2)))``) and
sums a Taylor series for ``|a| <= tan(pi/16)``.
"""

import math
from fractions import Fraction

from gpucal.engine.cache import configure_numba_cache

configure_numba_cache()

from numba.extending import register_jitable  # noqa: E402

__all__ = ["atan2_hypot", "fast_atan2", "mod360", "sin_cos"]


def _split_half_pi():
    """pi/2 as three doubles: two of 33 significant bits (so ``n * part`` is exact for n < 2**20) and a rest."""
    pi = Fraction("3.14159265358979323846264338327950288419716939937510582097494459230781640628620899")
    rest = pi / 2
    parts = []
    for bits in (33, 33):
        mant, exp = math.frexp(float(rest))
        part = math.ldexp(math.floor(math.ldexp(mant, bits)), exp - bits)
        parts.append(part)
        rest -= Fraction(part)
    parts.append(float(rest))
    return parts


_P1, _P2, _P3 = _split_half_pi()
_TWO_OVER_PI = 2.0 / math.pi
_S = [(-1) ** k / math.factorial(2 * k + 1) for k in range(1, 9)]  # x**3 .. x**17
_C = [(-1) ** k / math.factorial(2 * k) for k in range(2, 10)]  # x**4 .. x**18
_S3, _S5, _S7, _S9, _S11, _S13, _S15, _S17 = _S
_C4, _C6, _C8, _C10, _C12, _C14, _C16, _C18 = _C
_A = [(-1) ** k / (2 * k + 1) for k in range(1, 12)]  # x**3 .. x**23
_A3, _A5, _A7, _A9, _A11, _A13, _A15, _A17, _A19, _A21, _A23 = _A
_TAN_PI_8 = math.sqrt(2.0) - 1.0
_ROUND = 6755399441055744.0  # 1.5 * 2**52: (v + _ROUND) - _ROUND is v rounded to an integer (|v| < 2**51)
_PI = math.pi
_HALF_PI = math.pi / 2.0
_QUARTER_PI = math.pi / 4.0


@register_jitable
def sin_cos(x):
    """``(sin(x), cos(x))`` of ``x`` in radians, without branches or library calls."""
    n = (x * _TWO_OVER_PI + _ROUND) - _ROUND  # nearest multiple of pi/2 (math.floor would give an int64)
    r = ((x - n * _P1) - n * _P2) - n * _P3
    z = r * r
    s = r + r * (z * (_S3 + z * (_S5 + z * (_S7 + z * (_S9 + z * (_S11 + z * (_S13 + z * (_S15 + z * _S17))))))))
    tail = (z * z) * (_C4 + z * (_C6 + z * (_C8 + z * (_C10 + z * (_C12 + z * (_C14 + z * (_C16 + z * _C18)))))))
    half_z = 0.5 * z
    w = 1.0 - half_z
    c = w + (((1.0 - w) - half_z) + tail)
    q = n - 4.0 * ((n * 0.25 - 0.375 + _ROUND) - _ROUND)  # n mod 4 (no ties: n is an integer)
    swap = (q == 1.0) | (q == 3.0)
    sin_x = c if swap else s
    cos_x = s if swap else c
    sin_x = -sin_x if q >= 2.0 else sin_x
    cos_x = -cos_x if (q == 1.0) | (q == 2.0) else cos_x
    return sin_x, cos_x


@register_jitable
def atan2_hypot(y, x):
    """``(atan2(y, x), hypot(x, y))``, the angle in radians, without branches or library calls.

    Signed zeros follow IEEE ``atan2`` (``atan2(+-0, -0) = +-pi``). Two
    infinite arguments give NaN (never met by unit vectors).
    """
    ax = abs(x)
    ay = abs(y)
    swap = ay > ax
    big = ay if swap else ax
    small = ax if swap else ay
    t = small / big
    fold = t > _TAN_PI_8
    u = (t - 1.0) / (t + 1.0) if fold else t
    a = u / (1.0 + math.sqrt(1.0 + u * u))
    z = a * a
    series = a + a * (z * (_A3 + z * (_A5 + z * (_A7 + z * (_A9 + z * (_A11 + z * (_A13 + z * (_A15 + z * (
        _A17 + z * (_A19 + z * (_A21 + z * _A23)))))))))))  # fmt: skip
    angle = 2.0 * series + (_QUARTER_PI if fold else 0.0)
    zero = big == 0.0
    angle = 0.0 if zero else angle
    angle = _HALF_PI - angle if swap else angle
    angle = _PI - angle if math.copysign(1.0, x) < 0.0 else angle
    hyp = 0.0 if zero else big * math.sqrt(1.0 + t * t)
    return math.copysign(angle, y), hyp


@register_jitable
def fast_atan2(y, x):
    """``atan2(y, x)`` in radians (see :func:`atan2_hypot`)."""
    angle, _ = atan2_hypot(y, x)
    return angle


@register_jitable
def mod360(angle):
    """``numpy.mod(angle, 360.0)`` (result in [0, 360], sign of the divisor), without branches or calls.

    ``angle - 360 k`` is exact for the ``k`` picked (Sterbenz), so results
    equal numpy's except that numpy's two-step ``fmod`` then ``+ 360`` may
    round once more for negative angles (1 ulp of 360 at most).
    """
    k = (angle * (1.0 / 360.0) - 0.5 + _ROUND) - _ROUND
    rem = angle - 360.0 * k
    rem = rem - 360.0 if rem >= 360.0 else rem
    rem = rem + 360.0 if rem < 0.0 else rem  # like numpy, a tiny negative angle gives 360.0
    return rem + 0.0  # -0.0 -> +0.0
