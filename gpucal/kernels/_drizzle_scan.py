"""Which input pixels drizzle visits: the input box and the polygon scanner.

drizzle 2.2 (``cdrizzleapi.c``, ``cdrizzlemap.c``) does not visit every input
pixel. It first shrinks the requested input box to the rows and columns that
hold finite pixmap values (``shrink_image_section``), then:

1. maps the box outline (edges at +-0.5) to the output frame by bilinear
   pixmap interpolation and clips it to the output grid ``[-0.5, n-0.5]``
   (Sutherland-Hodgman);
2. maps the clipped polygon back to the input frame (golden-section search,
   tolerance 0.03 px, at most 50 iterations);
3. scans that polygon row by row, keeping only pixels lying wholly inside it
   (edges moved inwards by ``0.5 + 0.5|slope|``, relaxed by 0.03).

This matters where an input crosses the output edge. The functions here
reproduce those steps exactly (same operations, same order, same failure
paths) as scalar code that compiles for the CPU and as CUDA device code. The
result is a per-row table ``row_lo[j]..row_hi[j]`` of input columns to visit
(empty where ``row_lo > row_hi``).

Scratch storage comes from the caller (``poly``: float64 ``(6, 8, 2)``,
``edges``: float64 ``(2, 8, 3)``), so nothing is allocated in device code.
"""

import math

from numba.extending import register_jitable

from gpucal.kernels._drizzle_math import c_round, interpolate_point

__all__ = ["INFO_SIZE", "plan_scan", "row_first_last", "shrink_reduce"]

_VERTEX_ATOL = 1.0e-12
_APPROX_ZERO = 1.0e3 * 2.2250738585072014e-308  # 1e3 * DBL_MIN
_MAX_INV_ERR = 0.03
_GOLDEN = 0.6180339887498948482
_MAX_ITER = 50

# Polygon slots in the ``poly`` scratch array.
_INPQ, _P, _Q, _PQ, _T1, _T2 = 0, 1, 2, 3, 4, 5
# Fields of an edge in the ``edges`` scratch array.
_V2Y, _M, _C = 0, 1, 2

INFO_SIZE = 8  # fail, xmin, xmax, ymin, ymax, scanner status, first row, last row


@register_jitable
def row_first_last(pixmap, j, i1, i2):
    """First and last column in ``[i1, i2]`` of row ``j`` with a finite (non-NaN) pixmap, or -1."""
    first = -1
    for i in range(i1, i2 + 1):
        if not (pixmap[j, i, 0] != pixmap[j, i, 0] or pixmap[j, i, 1] != pixmap[j, i, 1]):
            first = i
            break
    last = -1
    for i in range(i2, i1 - 1, -1):
        if not (pixmap[j, i, 0] != pixmap[j, i, 0] or pixmap[j, i, 1] != pixmap[j, i, 1]):
            last = i
            break
    return first, last


@register_jitable
def shrink_reduce(first, last, xmin, xmax, ymin, ymax):
    """``shrink_image_section`` from per-row first/last finite columns.

    Returns ``(fail, xmin, xmax, ymin, ymax)``; ``fail`` when fewer than two
    rows or columns hold finite values (the C engine then raises).
    """
    imin = xmax
    jmin = ymax
    for j in range(ymin, ymax + 1):
        if first[j] >= 0:
            if first[j] < imin:
                imin = first[j]
            if j < jmin:
                jmin = j
    imax = imin
    jmax = jmin
    for j in range(ymax, ymin - 1, -1):
        if last[j] >= 0:
            if last[j] > imax:
                imax = last[j]
            if j > jmax:
                jmax = j
    return imin >= imax or jmin >= jmax, imin, imax, jmin, jmax


@register_jitable
def _cross(ax, ay, bx, by):
    """z-component of the cross product ``a x b`` (``area``)."""
    return ax * by - ay * bx


@register_jitable
def _orient_ccw(poly, n):
    """Reverse the vertex order of ``poly[:n]`` if it is clockwise (``orient_ccw``)."""
    if n < 3:
        return
    cx = 0.0
    cy = 0.0
    for k in range(n):
        cx += poly[k, 0]
        cy += poly[k, 1]
    cx /= n
    cy /= n
    if _cross(poly[0, 0] - cx, poly[0, 1] - cy, poly[1, 0] - cx, poly[1, 1] - cy) >= 0.0:
        return
    for k in range(n // 2):
        m = n - 1 - k
        tx = poly[k, 0]
        ty = poly[k, 1]
        poly[k, 0] = poly[m, 0]
        poly[k, 1] = poly[m, 1]
        poly[m, 0] = tx
        poly[m, 1] = ty


@register_jitable
def _append_vertex(poly, n, x, y):
    """Append ``(x, y)`` unless it repeats the last or first vertex; returns the new count."""
    if n > 0 and abs(poly[n - 1, 0] - x) < _VERTEX_ATOL and abs(poly[n - 1, 1] - y) < _VERTEX_ATOL:
        return n
    if n > 0 and abs(poly[0, 0] - x) < _VERTEX_ATOL and abs(poly[0, 1] - y) < _VERTEX_ATOL:
        return n
    if n >= poly.shape[0]:
        return n
    poly[n, 0] = x
    poly[n, 1] = y
    return n + 1


@register_jitable
def _simplify(poly, n, tmp):
    """Drop vertices lying on the line through their neighbours (``simplify_polygon``)."""
    if n < 3:
        return n
    m = 0
    for k in range(n):
        prev = (k + n - 1) % n
        nxt = (k + 1) % n
        dpx = poly[nxt, 0] - poly[prev, 0]
        dpy = poly[nxt, 1] - poly[prev, 1]
        dqx = poly[k, 0] - poly[prev, 0]
        dqy = poly[k, 1] - poly[prev, 1]
        if abs(_cross(dpx, dpy, dqx, dqy)) > _APPROX_ZERO and math.sqrt(dpx * dpx + dpy * dpy) > _VERTEX_ATOL:
            tmp[m, 0] = poly[k, 0]
            tmp[m, 1] = poly[k, 1]
            m += 1
    for k in range(m):
        poly[k, 0] = tmp[k, 0]
        poly[k, 1] = tmp[k, 1]
    return m


@register_jitable
def _strictly_inside(ptx, pty, v_x, v_y, vx, vy):
    """``is_point_strictly_in_hp(pt, v_, v)``."""
    return (_cross(vx, vy, ptx, pty) - _cross(v_x, v_y, ptx, pty) - _cross(vx, vy, v_x, v_y)) > 0.0


@register_jitable
def _clip(poly, n_p, n_w):
    """Clip polygon ``poly[_P]`` by the convex window ``poly[_Q]`` into ``poly[_PQ]``; returns its size.

    ``clip_polygon_to_window``: both inputs are first oriented
    counter-clockwise in place; the result is oriented and simplified.
    """
    p = poly[_P]
    w = poly[_Q]
    _orient_ccw(p, n_p)
    _orient_ccw(w, n_w)
    src = poly[_T1]
    dst = poly[_T2]
    for k in range(n_p):
        dst[k, 0] = p[k, 0]
        dst[k, 1] = p[k, 1]
    n_dst = n_p
    for k in range(n_w):
        kw_ = (k + n_w - 1) % n_w
        wx_, wy_ = w[kw_, 0], w[kw_, 1]
        wx, wy = w[k, 0], w[k, 1]
        dwx = wx - wx_
        dwy = wy - wy_
        src, dst = dst, src
        n_src = n_dst
        n_dst = 0
        for j in range(n_src):
            jp_ = (j + n_src - 1) % n_src
            px_, py_ = src[jp_, 0], src[jp_, 1]
            px, py = src[j, 0], src[j, 1]
            dpx = px - px_
            dpy = py - py_
            v1_inside = _strictly_inside(wx_, wy_, wx, wy, px_, py_)
            v2_inside = _strictly_inside(wx_, wy_, wx, wy, px, py)
            if v2_inside != v1_inside:
                d = _cross(dpx, dpy, dwx, dwy)
                app_ = _cross(px, py, px_, py_)
                aww_ = _cross(wx, wy, wx_, wy_)
                vix = (app_ * dwx - aww_ * dpx) / d
                viy = (app_ * dwy - aww_ * dpy) / d
                if math.isfinite(vix) and math.isfinite(viy):
                    n_dst = _append_vertex(dst, n_dst, vix, viy)
                if v2_inside:
                    n_dst = _append_vertex(dst, n_dst, px, py)
            elif v1_inside:
                n_dst = _append_vertex(dst, n_dst, px, py)
    _orient_ccw(dst, n_dst)
    n_dst = _simplify(dst, n_dst, src)
    out = poly[_PQ]
    for k in range(n_dst):
        out[k, 0] = dst[k, 0]
        out[k, 1] = dst[k, 1]
    return n_dst


@register_jitable
def _invert(pixmap, xmin, xmax, ymin, ymax, xout, yout):
    """Input position mapping to output ``(xout, yout)`` (``invert_pixmap``, golden-section search).

    Returns ``(ok, xin, yin)``; not ok when an interpolation is NaN or the
    search used all 50 iterations.
    """
    x0 = float(xmin) - 0.5
    x1 = float(xmax) + 0.5
    y0 = float(ymin) - 0.5
    y1 = float(ymax) + 0.5
    dx = x1 - x0
    dy = y1 - y0
    niter = 0
    while (dx > _MAX_INV_ERR or dy > _MAX_INV_ERR) and niter < _MAX_ITER:
        niter += 1
        xa = x1 - _GOLDEN * dx
        xb = x0 + _GOLDEN * dx
        ya = y1 - _GOLDEN * dy
        yb = y0 + _GOLDEN * dy
        ok, u, v = interpolate_point(pixmap, xa, ya)
        if not ok:
            return False, 0.0, 0.0
        d11 = (u - xout) * (u - xout) + (v - yout) * (v - yout)
        ok, u, v = interpolate_point(pixmap, xa, yb)
        if not ok:
            return False, 0.0, 0.0
        d12 = (u - xout) * (u - xout) + (v - yout) * (v - yout)
        ok, u, v = interpolate_point(pixmap, xb, ya)
        if not ok:
            return False, 0.0, 0.0
        d21 = (u - xout) * (u - xout) + (v - yout) * (v - yout)
        ok, u, v = interpolate_point(pixmap, xb, yb)
        if not ok:
            return False, 0.0, 0.0
        d22 = (u - xout) * (u - xout) + (v - yout) * (v - yout)
        if d11 < d12 and d11 < d21 and d11 < d22:
            x1 = xb
            y1 = yb
        elif d12 < d11 and d12 < d21 and d12 < d22:
            x1 = xb
            y0 = ya
        elif d21 < d11 and d21 < d12 and d21 < d22:
            x0 = xa
            y1 = yb
        else:
            x0 = xa
            y0 = ya
        dx = x1 - x0
        dy = y1 - y0
    return niter != _MAX_ITER, 0.5 * (x0 + x1), 0.5 * (y0 + y1)


@register_jitable
def _init_edge(edges, side, k, v1x, v1y, v2x, v2y, position):
    """Store edge ``k`` of ``side`` (0 left, 1 right): top y, slope and the inward-shifted intercept."""
    m = (v2x - v1x) / (v2y - v1y)
    b = (v1x * v2y - v1y * v2x) / (v2y - v1y)
    edges[side, k, _V2Y] = v2y
    edges[side, k, _M] = m
    edges[side, k, _C] = b - math.copysign(0.5 + 0.5 * abs(m), position)


@register_jitable
def _init_scanner(v, n, edges):
    """Split polygon ``v[:n]`` into left and right edge chains (``init_scanner``).

    Returns ``(status, nleft, nright, min_y, max_y)``; status 1 when the
    polygon has fewer than 3 vertices (the C kernels then drizzle nothing).
    """
    if n < 3:
        return 1, 0, 0, 0.0, 0.0
    min_y = v[0, 1]
    min_left = 0
    for k in range(1, n):
        if v[k, 1] < min_y:
            min_left = k
            min_y = v[k, 1]
    i1 = (min_left - 1 + n) % n
    i2 = (min_left + 1 + n) % n
    min_right = i1 if v[i1, 1] < v[i2, 1] else i2
    if v[min_right, 1] <= min_y * (1.0 + math.copysign(_VERTEX_ATOL, min_y)):
        if v[min_left, 0] > v[min_right, 0]:
            min_left, min_right = min_right, min_left
    else:
        min_right = min_left
    max_y = v[0, 1]
    max_right = 0
    for k in range(1, n):
        if v[k, 1] > max_y:
            max_right = k
            max_y = v[k, 1]
    i1 = (max_right - 1 + n) % n
    i2 = (max_right + 1 + n) % n
    max_left = i1 if v[i1, 1] > v[i2, 1] else i2
    if v[max_left, 1] >= max_y * (1.0 - math.copysign(_VERTEX_ATOL, max_y)):
        if v[max_left, 0] > v[max_right, 0]:
            max_left, max_right = max_right, max_left
    else:
        max_left = max_right
    if max_left > min_left:
        min_left += n
    nleft = min_left - max_left
    for k in range(nleft):
        a = (min_left - k + n) % n
        b = (a - 1 + n) % n
        _init_edge(edges, 0, k, v[a, 0], v[a, 1], v[b, 0], v[b, 1], -1.0)
    if max_right < min_right:
        max_right += n
    nright = max_right - min_right
    for k in range(nright):
        a = (min_right + k + n) % n
        b = (a + 1 + n) % n
        _init_edge(edges, 1, k, v[a, 0], v[a, 1], v[b, 0], v[b, 1], 1.0)
    return 0, nleft, nright, min_y, max_y


@register_jitable
def _scan_rows(edges, nleft, nright, min_y, max_y, xmin, xmax, ymax, first_row, last_row, row_lo, row_hi):
    """Column limits of every scanned row (``get_scanline_limits`` called for rows in order).

    Rows the scanner skips (codes 2 and 3) and all rows after the scan ends
    (code 1) keep an empty range.
    """
    left = 0
    right = 0
    if nleft < 1 or nright < 1:  # degenerate polygon: nothing to scan
        return
    for y in range(first_row, last_row + 1):
        # Code 2: the row lies outside the box or the polygon's y range.
        if y < 0 or y > ymax:
            continue
        pyb = float(y) - 0.5
        pyt = float(y) + 0.5
        if pyt <= min_y or pyb >= max_y + 1.0:
            continue
        while pyb > edges[0, left, _V2Y]:
            if left == nleft - 1:
                return
            left += 1
        while pyb > edges[1, right, _V2Y]:
            if right == nright - 1:
                return
            right += 1
        xlb = edges[0, left, _M] * y + edges[0, left, _C] - _MAX_INV_ERR
        xrb = edges[1, right, _M] * y + edges[1, right, _C] + _MAX_INV_ERR
        edge_ymax = edges[0, left, _V2Y] + 0.5 + _MAX_INV_ERR
        while pyt > edge_ymax:
            if left == nleft - 1:
                return
            left += 1
            edge_ymax = edges[0, left, _V2Y] + 0.5 + _MAX_INV_ERR
        edge_ymax = edges[1, right, _V2Y] + 0.5 + _MAX_INV_ERR
        while pyt > edge_ymax:
            if right == nright - 1:
                return
            right += 1
            edge_ymax = edges[1, right, _V2Y] + 0.5 + _MAX_INV_ERR
        xlt = edges[0, left, _M] * y + edges[0, left, _C] - _MAX_INV_ERR
        xrt = edges[1, right, _M] * y + edges[1, right, _C] + _MAX_INV_ERR
        if xmax >= xmin:
            lo = float(xmin)
            hi = float(xmax)
            xlb = lo if xlb < lo else xlb
            xlt = lo if xlt < lo else xlt
            xrb = hi if xrb > hi else xrb
            xrt = hi if xrt > hi else xrt
        if xlt >= xrt:
            if xlb >= xrb:  # code 3: zero-width row
                continue
            row_lo[y] = c_round(xlb)
            row_hi[y] = c_round(xrb)
        elif xlb >= xrb:
            row_lo[y] = c_round(xlt)
            row_hi[y] = c_round(xrt)
        else:
            row_lo[y] = c_round(xlb if xlb > xlt else xlt)
            row_hi[y] = c_round(xrb if xrb < xrt else xrt)


@register_jitable
def plan_scan(pixmap, xmin, xmax, ymin, ymax, out_nx, out_ny, poly, edges, row_lo, row_hi):
    """Set up the scanner for the (shrunken) box and fill the per-row column table.

    ``init_image_scanner`` followed by the kernels' row loop. ``row_lo`` and
    ``row_hi`` (int, one entry per input row) must come in as an empty range
    (``lo > hi``) everywhere. Returns ``(status, first_row, last_row)``:
    status 1 means the C kernels would return without drizzling anything.
    """
    inpq = poly[_INPQ]
    inpq[0, 0] = float(xmin) - 0.5
    inpq[0, 1] = float(ymin) - 0.5
    inpq[1, 0] = float(xmax) + 0.5
    inpq[1, 1] = inpq[0, 1]
    inpq[2, 0] = inpq[1, 0]
    inpq[2, 1] = float(ymax) + 0.5
    inpq[3, 0] = inpq[0, 0]
    inpq[3, 1] = inpq[2, 1]
    n_inpq = 4
    p = poly[_P]
    mapped = True
    for k in range(4):
        ok, u, v = interpolate_point(pixmap, inpq[k, 0], inpq[k, 1])
        if not ok:
            mapped = False
            break
        p[k, 0] = u
        p[k, 1] = v
    if mapped:
        q = poly[_Q]
        q[0, 0] = -0.5
        q[0, 1] = -0.5
        q[1, 0] = float(out_nx) - 0.5
        q[1, 1] = -0.5
        q[2, 0] = float(out_nx) - 0.5
        q[2, 1] = float(out_ny) - 0.5
        q[3, 0] = -0.5
        q[3, 1] = float(out_ny) - 0.5
        n_pq = _clip(poly, 4, 4)
        pq = poly[_PQ]
        inverted = True
        for k in range(n_pq):
            ok, u, v = _invert(pixmap, xmin, xmax, ymin, ymax, pq[k, 0], pq[k, 1])
            if not ok:
                inverted = False
                break
            inpq[k, 0] = u
            inpq[k, 1] = v
        if inverted:
            n_inpq = n_pq
            _orient_ccw(inpq, n_inpq)
    status, nleft, nright, min_y, max_y = _init_scanner(inpq, n_inpq, edges)
    if status != 0:
        return status, 0, -1
    first_row = max(0, int(min_y + 0.5 + 2.0 * _MAX_INV_ERR))
    last_row = min(ymax, int(max_y + 2.0 * _MAX_INV_ERR))
    _scan_rows(edges, nleft, nright, min_y, max_y, xmin, xmax, ymax, first_row, last_row, row_lo, row_hi)
    return 0, first_row, last_row
