"""Per-pixel drizzle math shared by the numba CPU and CUDA forms.

Everything here is a scalar function registered with
``numba.extending.register_jitable``: it compiles into CPU code (``njit``)
and into CUDA device code, and runs as plain Python in the CUDA simulator.
The arithmetic follows drizzle 2.2's C engine (``cdrizzlebox.c``,
``cdrizzlemap.c``) operation by operation, in the same order and with the
same float32/float64 split, so results match it to the last bit on the CPU:

* ``float`` quantities of the C code (data, weights, ``dow``, the output
  arrays) stay float32; the overlap geometry is float64;
* C's ``round()`` (half away from zero) is :func:`c_round`;
* the running mean is ``out = (float)((double)(out*wht + dow*d) / (double)(wht+dow))``
  where ``out*wht + dow*d`` and ``wht + dow`` are float32 operations, exactly
  as the C expression ``(get_pixel(out)*vc + dow*d) / vc_plus_dow`` evaluates.

Kernels are identified by the C engine's enumeration values (:data:`SQUARE`
...). Kernel constants derived once per image live in a float64 ``params``
array (indices ``P_*``).

The functions are registered with ``forceinline=True, _nrt=False``: on the
CPU an out-of-line call that passes arrays pays for their reference counting
(atomic operations), which cost three times the arithmetic; inlined and
without reference counting they compile to what the C code does. CUDA
inlines device functions anyway.
"""

import math

from numba.extending import register_jitable
from numpy import float32, float64

__all__ = [
    "GAUSSIAN",
    "KERNEL_CODES",
    "LANCZOS2",
    "LANCZOS3",
    "NPARAMS",
    "POINT",
    "P_DH",
    "P_EFAC",
    "P_ES",
    "P_ISCALE",
    "P_NLUT",
    "P_PFO",
    "P_SCALE",
    "P_SDP",
    "SQUARE",
    "TURBO",
    "accumulate",
    "boxer",
    "c_round",
    "footprint",
    "interpolate_point",
    "pair_dow",
]

SQUARE, GAUSSIAN, POINT, TURBO, LANCZOS2, LANCZOS3 = 0, 1, 2, 3, 4, 5
KERNEL_CODES = {
    "square": SQUARE,
    "gaussian": GAUSSIAN,
    "point": POINT,
    "turbo": TURBO,
    "lanczos2": LANCZOS2,
    "lanczos3": LANCZOS3,
}

# Layout of the per-image float64 ``params`` array.
P_DH = 0  # square: half the shrunken pixel side, pixfrac / 2
P_PFO = 1  # turbo, gaussian, lanczos: half-width of the kernel in output pixels
P_SCALE = 2  # turbo: pscale_ratio**2 / pixfrac**2
P_EFAC = 3  # gaussian: exponent factor
P_ES = 4  # gaussian: normalisation, efac / pi
P_SDP = 5  # lanczos: pscale_ratio / LUT spacing
P_NLUT = 6  # lanczos: number of LUT entries
P_ISCALE = 7  # intensity scale (a float32 value)
NPARAMS = 8

_MAX_DOUBLE = 1.7976931348623158e308  # min_doubles() start value in cdrizzleutil.h
_MIN_DOUBLE = 2.2250738585072014e-308  # max_doubles() start value (sic: the smallest positive double)


@register_jitable(forceinline=True, _nrt=False)
def c_round(x):
    """C ``(int)round(x)``: nearest integer, halves away from zero."""
    ax = abs(x)
    whole = math.floor(ax)
    n = int(whole)
    if ax - whole >= 0.5:
        n += 1
    if x < 0.0:
        return -n
    return n


@register_jitable(forceinline=True, _nrt=False)
def interpolate_point(pixmap, xin, yin):
    """Bilinear pixmap interpolation at a fractional input position (``interpolate_point``).

    Outside ``[0, n-2]`` the cell index is clamped, so the interpolation
    extrapolates from the border cell. Returns ``(ok, xout, yout)``; ``ok`` is
    False when a result is NaN.
    """
    nx2 = pixmap.shape[1] - 2
    ny2 = pixmap.shape[0] - 2
    i0 = int(xin)
    j0 = int(yin)
    if i0 < 0:
        i0 = 0
    elif i0 > nx2:
        i0 = nx2
    if j0 < 0:
        j0 = 0
    elif j0 > ny2:
        j0 = ny2
    x = xin - i0
    y = yin - j0
    x1 = 1.0 - x
    y1 = 1.0 - y
    f00 = pixmap[j0, i0, 0]
    g00 = pixmap[j0, i0, 1]
    f10 = pixmap[j0, i0 + 1, 0]
    g10 = pixmap[j0, i0 + 1, 1]
    f01 = pixmap[j0 + 1, i0, 0]
    g01 = pixmap[j0 + 1, i0, 1]
    f11 = pixmap[j0 + 1, i0 + 1, 0]
    g11 = pixmap[j0 + 1, i0 + 1, 1]
    xout = f00 * x1 * y1 + f10 * x * y1 + f01 * x1 * y + f11 * x * y
    yout = g00 * x1 * y1 + g10 * x * y1 + g01 * x1 * y + g11 * x * y
    return not (xout != xout or yout != yout), xout, yout


@register_jitable(forceinline=True, _nrt=False)
def _fac(a, b, h):
    """Weight of neighbour ``(a, b)`` (0..2 each) in ``interpolate_four_points``."""
    if a == 1 and b == 1:
        return (1.0 - h) * (1.0 - h)
    if a == 1 or b == 1:
        return (1.0 - h) * h
    return h * h


@register_jitable(forceinline=True, _nrt=False)
def _four_points(pixmap, i, j, h, comp):
    """One coordinate (``comp`` 0: x, 1: y) of the four corners, ``interpolate_four_points``."""
    f00 = pixmap[j - 1, i - 1, comp] * _fac(0, 0, h)
    f10 = pixmap[j - 1, i, comp] * _fac(1, 0, h)
    f20 = pixmap[j - 1, i + 1, comp] * _fac(2, 0, h)
    f01 = pixmap[j, i - 1, comp] * _fac(0, 1, h)
    f11 = pixmap[j, i, comp] * _fac(1, 1, h)
    f21 = pixmap[j, i + 1, comp] * _fac(2, 1, h)
    f02 = pixmap[j + 1, i - 1, comp] * _fac(0, 2, h)
    f12 = pixmap[j + 1, i, comp] * _fac(1, 2, h)
    f22 = pixmap[j + 1, i + 1, comp] * _fac(2, 2, h)
    # Corners clockwise from (-h, +h): (-h,+h), (+h,+h), (+h,-h), (-h,-h).
    c0 = f01 + f11 + f02 + f12
    c1 = f11 + f21 + f12 + f22
    c2 = f10 + f20 + f11 + f21
    c3 = f00 + f10 + f01 + f11
    return c0, c1, c2, c3


@register_jitable(forceinline=True, _nrt=False)
def _square_corners(pixmap, i, j, h):
    """Output-frame corners of the pixfrac-shrunken input pixel ``(i, j)``.

    Interior pixels use the pre-weighted 3x3 form; pixels on the pixmap
    border interpolate each corner (with extrapolation). Returns
    ``(ok, x0, x1, x2, x3, y0, y1, y2, y3)``.
    """
    ny, nx = pixmap.shape[0], pixmap.shape[1]
    if i > 0 and i < nx - 2 and j > 0 and j < ny - 2:
        x0, x1, x2, x3 = _four_points(pixmap, i, j, h, 0)
        y0, y1, y2, y3 = _four_points(pixmap, i, j, h, 1)
        ok = not (x0 != x0 or y0 != y0 or x1 != x1 or y1 != y1 or x2 != x2 or y2 != y2 or x3 != x3 or y3 != y3)
        return ok, x0, x1, x2, x3, y0, y1, y2, y3
    xl = float64(i) - h
    xr = float64(i) + h
    yt = float64(j) + h
    yb = float64(j) - h
    ok0, x0, y0 = interpolate_point(pixmap, xl, yt)
    ok1, x1, y1 = interpolate_point(pixmap, xr, yt)
    ok2, x2, y2 = interpolate_point(pixmap, xr, yb)
    ok3, x3, y3 = interpolate_point(pixmap, xl, yb)
    return ok0 and ok1 and ok2 and ok3, x0, x1, x2, x3, y0, y1, y2, y3


@register_jitable(forceinline=True, _nrt=False)
def _min4(a, b, c, d):
    """``min_doubles`` of four values (start value and strict ``<`` as in C)."""
    v = _MAX_DOUBLE
    if a < v:
        v = a
    if b < v:
        v = b
    if c < v:
        v = c
    if d < v:
        v = d
    return v


@register_jitable(forceinline=True, _nrt=False)
def _max4(a, b, c, d):
    """``max_doubles`` of four values; starts at the smallest positive double, as C does."""
    v = _MIN_DOUBLE
    if a > v:
        v = a
    if b > v:
        v = b
    if c > v:
        v = c
    if d > v:
        v = d
    return v


@register_jitable(forceinline=True, _nrt=False)
def footprint(kernel, pixmap, i, j, out_nx, out_ny, params):
    """Where input pixel ``(i, j)`` lands: geometry and the output pixel range it may touch.

    Returns ``(ok, x0, x1, x2, x3, y0, y1, y2, y3, jaco, ii0, ii1, jj0, jj1)``.
    For the square kernel ``x*``/``y*`` are the four corners and ``jaco`` the
    quadrilateral's signed area; for the other kernels ``(x0, y0)`` is the
    mapped pixel centre and ``jaco`` is 1. ``ok`` is False for an unmapped
    (NaN) pixel: such a pixel counts as missed and contributes nothing. The
    output range ``[ii0, ii1] x [jj0, jj1]`` is clipped to the grid and may be
    empty.
    """
    zero = 0.0
    if kernel == SQUARE:
        ok, x0, x1, x2, x3, y0, y1, y2, y3 = _square_corners(pixmap, i, j, params[P_DH])
        if not ok:
            return False, zero, zero, zero, zero, zero, zero, zero, zero, 1.0, 0, -1, 0, -1
        jaco = 0.5 * ((x1 - x3) * (y0 - y2) - (x0 - x2) * (y1 - y3))
        jj0 = max(c_round(_min4(y0, y1, y2, y3)), 0)
        jj1 = min(c_round(_max4(y0, y1, y2, y3)), out_ny - 1)
        ii0 = max(c_round(_min4(x0, x1, x2, x3)), 0)
        ii1 = min(c_round(_max4(x0, x1, x2, x3)), out_nx - 1)
        return True, x0, x1, x2, x3, y0, y1, y2, y3, jaco, ii0, ii1, jj0, jj1
    ox = pixmap[j, i, 0]
    oy = pixmap[j, i, 1]
    if ox != ox or oy != oy:
        return False, zero, zero, zero, zero, zero, zero, zero, zero, 1.0, 0, -1, 0, -1
    if kernel == POINT:
        ii0 = c_round(ox)
        jj0 = c_round(oy)
        if ii0 < 0 or ii0 >= out_nx or jj0 < 0 or jj0 >= out_ny:
            return True, ox, zero, zero, zero, oy, zero, zero, zero, 1.0, 0, -1, 0, -1
        return True, ox, zero, zero, zero, oy, zero, zero, zero, 1.0, ii0, ii0, jj0, jj0
    pfo = params[P_PFO]
    if kernel == LANCZOS2 or kernel == LANCZOS3:  # noqa: SIM109 (tuple membership in device code)
        # C: (integer_t) floor(...); math.floor gives a float in CUDA device code, hence int().
        ii0 = max(int(math.floor(ox - pfo)) + 1, 0)  # noqa: RUF046
        ii1 = min(int(math.floor(ox + pfo)), out_nx - 1)  # noqa: RUF046
        jj0 = max(int(math.floor(oy - pfo)) + 1, 0)  # noqa: RUF046
        jj1 = min(int(math.floor(oy + pfo)), out_ny - 1)  # noqa: RUF046
    else:  # turbo, gaussian
        ii0 = max(c_round(ox - pfo), 0)
        ii1 = min(c_round(ox + pfo), out_nx - 1)
        jj0 = max(c_round(oy - pfo), 0)
        jj1 = min(c_round(oy + pfo), out_ny - 1)
    return True, ox, zero, zero, zero, oy, zero, zero, zero, 1.0, ii0, ii1, jj0, jj1


@register_jitable(forceinline=True, _nrt=False)
def _sgarea(x1, y1, x2, y2):
    """Signed area under segment (x1,y1)-(x2,y2) inside the unit square (``sgarea``)."""
    dx = x2 - x1
    dy = y2 - y1
    if dx == 0.0:
        return 0.0
    if dx < 0.0:
        sgn_dx = -1.0
        xlo = x2
        xhi = x1
    else:
        sgn_dx = 1.0
        xlo = x1
        xhi = x2
    if xlo >= 1.0 or xhi <= 0.0:
        return 0.0
    xlo = xlo if xlo > 0.0 else 0.0
    xhi = xhi if xhi < 1.0 else 1.0
    slope = dy / dx
    ylo = y1 + slope * (xlo - x1)
    yhi = y1 + slope * (xhi - x1)
    if ylo <= 0.0 and yhi <= 0.0:
        return 0.0
    if ylo >= 1.0 and yhi >= 1.0:
        return sgn_dx * (xhi - xlo)
    det = x1 * y2 - y1 * x2
    if ylo < 0.0:
        ylo = 0.0
        xlo = det / dy
    if yhi < 0.0:
        yhi = 0.0
        xhi = det / dy
    if ylo <= 1.0:
        if yhi <= 1.0:
            return sgn_dx * 0.5 * (xhi - xlo) * (yhi + ylo)
        xtop = (dx + det) / dy
        return sgn_dx * (0.5 * (xtop - xlo) * (1.0 + ylo) + xhi - xtop)
    xtop = (dx + det) / dy
    return sgn_dx * (0.5 * (xhi - xtop) * (1.0 + yhi) + xtop - xlo)


@register_jitable(forceinline=True, _nrt=False)
def boxer(ii, jj, x0, x1, x2, x3, y0, y1, y2, y3):
    """Signed overlap of quadrilateral ``(x*, y*)`` with output pixel ``(ii, jj)`` (``boxer``)."""
    bx = float64(ii) - 0.5
    by = float64(jj) - 0.5
    px0 = x0 - bx
    px1 = x1 - bx
    px2 = x2 - bx
    px3 = x3 - bx
    py0 = y0 - by
    py1 = y1 - by
    py2 = y2 - by
    py3 = y3 - by
    total = 0.0
    total += _sgarea(px0, py0, px1, py1)
    total += _sgarea(px1, py1, px2, py2)
    total += _sgarea(px2, py2, px3, py3)
    total += _sgarea(px3, py3, px0, py0)
    return total


@register_jitable(forceinline=True, _nrt=False)
def _over(ii, jj, xmin, xmax, ymin, ymax):
    """Overlap of an axis-aligned box with output pixel ``(ii, jj)`` (``over``, turbo kernel)."""
    lo = float64(ii) - 0.5
    hi = float64(ii) + 0.5
    dx = (xmax if xmax < hi else hi) - (xmin if xmin > lo else lo)
    lo = float64(jj) - 0.5
    hi = float64(jj) + 0.5
    dy = (ymax if ymax < hi else hi) - (ymin if ymin > lo else lo)
    if dx > 0.0 and dy > 0.0:
        return dx * dy
    return 0.0


@register_jitable(forceinline=True, _nrt=False)
def pair_dow(kernel, ii, jj, x0, x1, x2, x3, y0, y1, y2, y3, w, params, lut):
    """Weight one input pixel gives output pixel ``(ii, jj)``.

    ``w`` is the float64 pixel weight: ``weight / jaco`` for the square
    kernel, ``weight`` otherwise. Returns ``(hit, dow)`` with ``dow`` float32:
    ``hit`` is False where the C engine skips the pair entirely (no overlap,
    outside the Lanczos table); ``dow`` may still be 0 for a hit, which then
    changes nothing but counts as a hit.
    """
    if kernel == SQUARE:
        dover = boxer(ii, jj, x0, x1, x2, x3, y0, y1, y2, y3)
        if dover == 0.0:
            return False, float32(0.0)
        return True, float32(dover * w)
    if kernel == POINT:
        return True, float32(w)
    if kernel == TURBO:
        pfo = params[P_PFO]
        dover = _over(ii, jj, x0 - pfo, x0 + pfo, y0 - pfo, y0 + pfo)
        if dover > 0.0:
            dover *= params[P_SCALE]
            return True, float32(dover * w)
        return False, float32(0.0)
    if kernel == GAUSSIAN:
        ddx = x0 - float64(ii)
        ddy = y0 - float64(jj)
        r2 = ddx * ddx + ddy * ddy
        dover = params[P_ES] * math.exp(-r2 * params[P_EFAC])
        # C: dow = (float) dover * w;  -- the cast binds to dover only.
        return True, float32(float64(float32(dover)) * w)
    # Lanczos: product of 1-D look-up-table values.
    sdp = params[P_SDP]
    nlut = int(params[P_NLUT])
    ix = c_round(abs((x0 - float64(ii)) * sdp))
    iy = c_round(abs((y0 - float64(jj)) * sdp))
    if ix >= nlut or iy >= nlut:
        return False, float32(0.0)
    return True, float32(lut[ix] * lut[iy] * w)


@register_jitable(forceinline=True, _nrt=False)
def _running_mean(value, vc, dow, d):
    """drizzle's update of one output value: float32 numerator, float64 division."""
    if vc == float32(0.0):
        return d
    return float32(float64(value * vc + dow * d) / float64(vc + dow))


@register_jitable(forceinline=True, _nrt=False)
def accumulate(
    out_data,
    out_wht,
    out_con,
    plane,
    bitval,
    has_con,
    extra_data,
    extra_out,
    extra_wht,
    n_extra,
    own_extra_wht,
    ex0,
    ey0,
    in_dq,
    out_dq,
    has_dq,
    oy,
    ox,
    iy,
    ix,
    d,
    dow,
    iscale,
):
    """Add one contribution ``(d, dow)`` of input pixel ``(iy, ix)`` to output pixel ``(oy, ox)``.

    Sets the context bit where ``dow > 0``; skips ``dow == 0``; running mean
    of SCI with WHT (``update_data``). Extra arrays get their own running mean
    of ``extra_data[k, iy, ix] * iscale`` with the same ``dow``, against
    ``extra_wht`` when ``own_extra_wht`` (separate drizzles sharing weights),
    else against ``out_wht`` (before this update). The extras cover the output
    window whose first pixel is ``(ey0, ex0)``; pairs outside it leave them
    unchanged. With ``has_dq`` the output DQ takes the input DQ where the
    output weight was 0 and ORs it in otherwise (drizzle's ``update_data_var``).
    """
    if has_con and dow > float32(0.0):
        out_con[plane, oy, ox] |= bitval
    if dow == float32(0.0):
        return
    vc = out_wht[oy, ox]
    out_data[oy, ox] = _running_mean(out_data[oy, ox], vc, dow, d)
    if has_dq:
        if vc == float32(0.0):
            out_dq[oy, ox] = in_dq[iy, ix]
        else:
            out_dq[oy, ox] = out_dq[oy, ox] | in_dq[iy, ix]
    if n_extra > 0:
        ey = oy - ey0
        ex = ox - ex0
        if ey >= 0 and ey < extra_out.shape[1] and ex >= 0 and ex < extra_out.shape[2]:
            vce = extra_wht[ey, ex] if own_extra_wht else vc
            for k in range(n_extra):
                d2 = extra_data[k, iy, ix] * iscale
                extra_out[k, ey, ex] = _running_mean(extra_out[k, ey, ex], vce, dow, d2)
            if own_extra_wht:
                extra_wht[ey, ex] = vce + dow
    out_wht[oy, ox] = vc + dow
