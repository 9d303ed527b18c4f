"""Scalar building blocks of compiled WCS transforms (CPU, CUDA and simulator).

Every function here is a plain Python function of float64 scalars registered
with ``numba.extending.register_jitable``: the same source compiles
into numba CPU code and CUDA device code and runs unchanged in the CUDA
simulator. They reproduce, operation by operation, what astropy, gwcs and
WCSLIB (inside astropy) compute, so that compiled results agree with ``gwcs``
to rounding:

* numpy's ``deg2rad``/``rad2deg`` multiply by ``pi/180`` and ``180/pi``;
  spherical <-> Cartesian conversions use the branch-free ``sin``/``cos`` and
  ``atan2``/``hypot`` of :mod:`gpucal.wcs._compile_elementary` (within a few
  ulp of the library functions, and vectorizable);
* WCSLIB's degree trigonometry (``wcstrig.c``) special-cases exact multiples
  of 90 degrees (``fmod(a, 90) == 0`` exactly when Python's ``a % 90 == 0``),
  and its macros ``D2R`` and ``R2D`` expand textually, so ``angle*D2R`` is
  ``(angle*PI)/180`` and ``atan2(y, x)*R2D`` is ``(atan2(y, x)*180)/PI``;
* the TAN projection (``tanx2s``/``tans2x`` in WCSLIB's ``prj.c``) with
  ``r0 = 180/pi``, flagging the far hemisphere (``sin(theta) <= 0``) as
  invalid (NaN, as astropy reports invalid projections);
* ``numpy.mod`` (result takes the sign of the divisor) for gwcs's longitude
  wrapping.

Two fused forms (:func:`perspective` and :func:`inverse_perspective`) stand in
for "unit vector -> spherical -> TAN plane" and back when the intermediate
angles are not needed: the gnomonic projection is a central projection of the
native unit vector, which needs no trigonometry.

Straight-line helpers (assignments and one final ``return``) are pasted into
the generated code by :mod:`gpucal.wcs._compile_inline` so the CPU pixel
loops vectorize; the WCSLIB-faithful ones with branches are called.
"""

import math

from gpucal.engine.cache import configure_numba_cache

configure_numba_cache()

from numba.extending import register_jitable  # noqa: E402

from gpucal.wcs._compile_elementary import atan2_hypot, fast_atan2, mod360, sin_cos  # noqa: E402

__all__ = [
    "TAN_R0",
    "cartesian_to_spherical_gwcs180",
    "cartesian_to_spherical_gwcs360",
    "cartesian_to_spherical_plain",
    "cartesian_to_spherical_sky",
    "interp2_lagrange",
    "inverse_perspective",
    "perspective",
    "spherical_to_cartesian",
    "tan_pix2sky",
    "tan_sky2pix",
    "wcs_atan2d",
    "wcs_cosd",
    "wcs_sincosd",
    "wcs_sind",
]

_PI = 3.141592653589793  # WCSLIB's PI (wcsmath.h) rounds to math.pi
_NP_D2R = math.pi / 180.0  # numpy.deg2rad factor
_NP_R2D = 180.0 / math.pi  # numpy.rad2deg factor
TAN_R0 = 180.0 / _PI  # WCSLIB sets prjprm.r0 = R2D when it is 0


@register_jitable
def wcs_cosd(angle):
    """WCSLIB ``cosd``: cosine of an angle in degrees, exact at multiples of 90."""
    if angle % 90.0 == 0.0:
        i = abs(int(math.floor(angle / 90.0 + 0.5))) % 4  # noqa: RUF046 - C's (int)floor(); numba's floor may be a float
        if i == 0:
            return 1.0
        if i == 2:
            return -1.0
        return 0.0
    return math.cos((angle * _PI) / 180.0)


@register_jitable
def wcs_sind(angle):
    """WCSLIB ``sind``: sine of an angle in degrees, exact at multiples of 90."""
    if angle % 90.0 == 0.0:
        i = abs(int(math.floor(angle / 90.0 - 0.5))) % 4  # noqa: RUF046 - as above
        if i == 0:
            return 1.0
        if i == 2:
            return -1.0
        return 0.0
    return math.sin((angle * _PI) / 180.0)


@register_jitable
def wcs_sincosd(angle):
    """WCSLIB ``sincosd``: ``(sin, cos)`` of an angle in degrees."""
    if angle % 90.0 == 0.0:
        i = abs(int(math.floor(angle / 90.0 + 0.5))) % 4  # noqa: RUF046 - C's (int)floor(); numba's floor may be a float
        if i == 0:
            return 0.0, 1.0
        if i == 1:
            return (1.0 if angle > 0.0 else -1.0), 0.0
        if i == 2:
            return 0.0, -1.0
        return (-1.0 if angle > 0.0 else 1.0), 0.0
    radians = (angle * _PI) / 180.0
    return math.sin(radians), math.cos(radians)


@register_jitable
def wcs_atan2d(y, x):
    """WCSLIB ``atan2d``: ``atan2`` in degrees, exact on the axes."""
    if y == 0.0:
        if x >= 0.0:
            return 0.0
        if x < 0.0:
            return 180.0
    elif x == 0.0:
        if y > 0.0:
            return 90.0
        if y < 0.0:
            return -90.0
    return (math.atan2(y, x) * 180.0) / _PI


@register_jitable
def spherical_to_cartesian(lon, lat):
    """Unit vector of ``(lon, lat)`` in degrees (gwcs ``SphericalToCartesian``, astropy rotations)."""
    sin_lon, cos_lon = sin_cos(lon * _NP_D2R)
    sin_lat, cos_lat = sin_cos(lat * _NP_D2R)
    return cos_lat * cos_lon, cos_lat * sin_lon, sin_lat


@register_jitable
def _gwcs_angles(x, y, z):
    lon, h = atan2_hypot(y, x)
    lat = fast_atan2(z, h) * _NP_R2D
    lon = lon * 0.0 if h == 0.0 else lon
    return lon * _NP_R2D, lat


@register_jitable
def cartesian_to_spherical_gwcs180(x, y, z):
    """gwcs ``CartesianToSpherical(wrap_lon_at=180)``: longitude in [-180, 180]."""
    return _gwcs_angles(x, y, z)


@register_jitable
def cartesian_to_spherical_gwcs360(x, y, z):
    """gwcs ``CartesianToSpherical(wrap_lon_at=360)``: longitude wrapped to [0, 360)."""
    lon, lat = _gwcs_angles(x, y, z)
    wrapped = mod360(lon)
    return (wrapped if math.isfinite(lon) else lon), lat


@register_jitable
def cartesian_to_spherical_plain(x, y, z):
    """astropy ``cartesian2spherical`` (rotation models), no wrapping."""
    lon, h = atan2_hypot(y, x)
    return lon * _NP_R2D, fast_atan2(z, h) * _NP_R2D


@register_jitable
def cartesian_to_spherical_sky(x, y, z):
    """astropy ``RotateNative2Celestial``/``RotateCelestial2Native`` output: negative longitudes + 360."""
    lon, lat = cartesian_to_spherical_plain(x, y, z)
    return (lon + 360.0 if lon < 0.0 else lon), lat


@register_jitable
def tan_pix2sky(x, y):
    """``Pix2Sky_TAN``: projection-plane ``(x, y)`` (deg) to native ``(phi, theta)`` (deg), WCSLIB ``tanx2s``."""
    xj = x + 0.0
    yj = y + 0.0
    r = math.sqrt(xj * xj + yj * yj)
    phi = 0.0 if r == 0.0 else wcs_atan2d(xj, -yj)
    return phi, wcs_atan2d(TAN_R0, r)


@register_jitable
def tan_sky2pix(phi, theta):
    """``Sky2Pix_TAN``: native ``(phi, theta)`` (deg) to the plane, WCSLIB ``tans2x``; NaN where ``sin(theta) <= 0``."""
    sin_phi, cos_phi = wcs_sincosd(phi)
    s = wcs_sind(theta)
    if s == 0.0 or s < 0.0:
        return math.nan, math.nan
    r = (TAN_R0 * wcs_cosd(theta)) / s
    return r * sin_phi - 0.0, -r * cos_phi - 0.0


@register_jitable
def perspective(a, b, c):
    """TAN plane of a native direction ``(a, b, c)`` (any positive length): ``Sky2Pix_TAN(C2S(v))`` fused.

    NaN where WCSLIB flags the far hemisphere (``c <= 0``).
    """
    scale = TAN_R0 / c if c > 0.0 else math.nan
    return scale * b, -(scale * a)


@register_jitable
def inverse_perspective(x, y):
    """Native unit vector of TAN plane ``(x, y)`` (deg): ``S2C(Pix2Sky_TAN(x, y))`` fused."""
    norm = math.sqrt(TAN_R0 * TAN_R0 + x * x + y * y)
    return -y / norm, x / norm, TAN_R0 / norm


@register_jitable
def _lagrange_weights(t):
    """Cubic Lagrange weights of nodes 0, 1, 2, 3 at position ``t``."""
    t0 = t
    t1 = t - 1.0
    t2 = t - 2.0
    t3 = t - 3.0
    return -(t1 * t2 * t3) / 6.0, (t0 * t2 * t3) / 2.0, -(t0 * t1 * t3) / 2.0, (t0 * t1 * t2) / 6.0


@register_jitable
def _stencil(coord, origin, step, count):
    """First node index of the 4-node stencil around ``coord`` and the position within it."""
    f = (coord - origin) / step
    first = int(math.floor(f)) - 1  # noqa: RUF046 - an index on every target
    if first < 0:
        first = 0
    if first > count - 4:
        first = count - 4
    return first, f - first


@register_jitable
def interp2_lagrange(x, y, p, base):
    """Bicubic (4x4 Lagrange) interpolation of a 2-output map sampled on a regular node grid.

    ``p[base:base+6]`` holds ``x0, dx, nx, y0, dy, ny`` of the node grid, then
    the ``ny*nx`` node values of output 0 and of output 1 (row-major). Near the
    edges the stencil stays inside the grid (one-sided, still cubic).
    """
    if not (math.isfinite(x) and math.isfinite(y)):
        return math.nan, math.nan
    nxn = int(p[base + 2])
    nyn = int(p[base + 5])
    ix, tx = _stencil(x, p[base], p[base + 1], nxn)
    iy, ty = _stencil(y, p[base + 3], p[base + 4], nyn)
    wx0, wx1, wx2, wx3 = _lagrange_weights(tx)
    wy0, wy1, wy2, wy3 = _lagrange_weights(ty)
    first0 = base + 6
    first1 = first0 + nxn * nyn
    out0 = 0.0
    out1 = 0.0
    for k in range(4):
        wy = wy0 if k == 0 else (wy1 if k == 1 else (wy2 if k == 2 else wy3))
        row = (iy + k) * nxn + ix
        a0 = p[first0 + row] * wx0 + p[first0 + row + 1] * wx1 + p[first0 + row + 2] * wx2 + p[first0 + row + 3] * wx3
        a1 = p[first1 + row] * wx0 + p[first1 + row + 1] * wx1 + p[first1 + row + 2] * wx2 + p[first1 + row + 3] * wx3
        out0 += wy * a0
        out1 += wy * a1
    return out0, out1
