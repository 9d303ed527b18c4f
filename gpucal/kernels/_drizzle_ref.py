"""Plain-Python reference of drizzle's C engine (``tdriz``): the specification of the kernels.

Written independently of the compiled forms (it shares only the validated
arguments and the layout of their ``params`` array), as a direct
transcription of drizzle 2.2's ``cdrizzleapi.c``/``cdrizzlebox.c``/
``cdrizzlemap.c``: Python floats stand for C doubles and ``np.float32``
scalars for C floats. It loops over pixels in Python, so it is only for small
test images.
"""

import math

import numpy as np

from gpucal.kernels._drizzle_math import P_DH, P_EFAC, P_ES, P_PFO, P_SCALE, P_SDP

__all__ = ["drizzle_pixels", "scan_rows"]

f32 = np.float32
_ATOL = 1.0e-12
_APPROX_ZERO = 1.0e3 * 2.2250738585072014e-308
_INV_ERR = 0.03
_DBL_MAX = 1.7976931348623158e308
_DBL_MIN = 2.2250738585072014e-308
_KERNELS = ("square", "gaussian", "point", "turbo", "lanczos2", "lanczos3")


def _nint(x):
    """C ``(int)round(x)``: halves away from zero."""
    ax = abs(x)
    n = math.floor(ax)
    if ax - n >= 0.5:
        n += 1
    return -n if x < 0 else n


def _div(a, b):
    """IEEE division (inf/NaN instead of ZeroDivisionError), as C computes it."""
    with np.errstate(all="ignore"):
        return float(np.float64(a) / np.float64(b))


def _interp(pixmap, x, y):
    """``interpolate_point``: bilinear with the cell clamped to the pixmap (extrapolating at the border)."""
    ny, nx = pixmap.shape[:2]
    i0 = min(max(int(x), 0), nx - 2)
    j0 = min(max(int(y), 0), ny - 2)
    fx, fy = x - i0, y - j0
    gx, gy = 1.0 - fx, 1.0 - fy
    out = []
    for c in (0, 1):
        f00, f10 = float(pixmap[j0, i0, c]), float(pixmap[j0, i0 + 1, c])
        f01, f11 = float(pixmap[j0 + 1, i0, c]), float(pixmap[j0 + 1, i0 + 1, c])
        out.append(f00 * gx * gy + f10 * fx * gy + f01 * gx * fy + f11 * fx * fy)
    return None if math.isnan(out[0]) or math.isnan(out[1]) else tuple(out)


# ---------------------------------------------------------------- scanner ----
def _orient_ccw(poly):
    if len(poly) < 3:
        return poly
    cx = sum(v[0] for v in poly) / len(poly)
    cy = sum(v[1] for v in poly) / len(poly)
    (ax, ay), (bx, by) = poly[0], poly[1]
    if (ax - cx) * (by - cy) - (ay - cy) * (bx - cx) >= 0.0:
        return poly
    return poly[::-1]


def _append(poly, v):
    for w in poly[-1:] + poly[:1]:
        if abs(w[0] - v[0]) < _ATOL and abs(w[1] - v[1]) < _ATOL:
            return
    if len(poly) < 8:
        poly.append(v)


def _cross(a, b):
    return a[0] * b[1] - a[1] * b[0]


def _clip(subject, window):
    """Sutherland-Hodgman clip as ``clip_polygon_to_window``, then orient and simplify."""
    subject, window = _orient_ccw(subject), _orient_ccw(window)
    out = list(subject)
    for k in range(len(window)):
        w_, w = window[k - 1], window[k]
        dw = (w[0] - w_[0], w[1] - w_[1])
        src, out = out, []
        for j in range(len(src)):
            p_, p = src[j - 1], src[j]
            dp = (p[0] - p_[0], p[1] - p_[1])
            inside1 = (_cross(p_, w_) - _cross(w, w_) - _cross(p_, w)) > 0.0
            inside2 = (_cross(p, w_) - _cross(w, w_) - _cross(p, w)) > 0.0
            if inside1 != inside2:
                d = _cross(dp, dw)
                app, aww = _cross(p, p_), _cross(w, w_)
                vi = (_div(app * dw[0] - aww * dp[0], d), _div(app * dw[1] - aww * dp[1], d))
                if math.isfinite(vi[0]) and math.isfinite(vi[1]):
                    _append(out, vi)
                if inside2:
                    _append(out, p)
            elif inside1:
                _append(out, p)
    out = _orient_ccw(out)
    if len(out) < 3:
        return out
    kept = []
    for k in range(len(out)):
        a, b, c = out[k - 1], out[k], out[(k + 1) % len(out)]
        dp = (c[0] - a[0], c[1] - a[1])
        dq = (b[0] - a[0], b[1] - a[1])
        if abs(_cross(dp, dq)) > _APPROX_ZERO and math.sqrt(dp[0] * dp[0] + dp[1] * dp[1]) > _ATOL:
            kept.append(b)
    return kept


def _invert(pixmap, box, xo, yo):
    """Golden-section inversion of the pixmap (``invert_pixmap``); None on failure."""
    g = 0.6180339887498948482
    x0, x1, y0, y1 = box[0] - 0.5, box[1] + 0.5, box[2] - 0.5, box[3] + 0.5
    dx, dy = x1 - x0, y1 - y0
    niter = 0
    while (dx > _INV_ERR or dy > _INV_ERR) and niter < 50:
        niter += 1
        xa, xb, ya, yb = x1 - g * dx, x0 + g * dx, y1 - g * dy, y0 + g * dy
        dist = []
        for x, y in ((xa, ya), (xa, yb), (xb, ya), (xb, yb)):
            m = _interp(pixmap, x, y)
            if m is None:
                return None
            dist.append((m[0] - xo) * (m[0] - xo) + (m[1] - yo) * (m[1] - yo))
        d11, d12, d21, d22 = dist
        if d11 < d12 and d11 < d21 and d11 < d22:
            x1, y1 = xb, yb
        elif d12 < d11 and d12 < d21 and d12 < d22:
            x1, y0 = xb, ya
        elif d21 < d11 and d21 < d12 and d21 < d22:
            x0, y1 = xa, yb
        else:
            x0, y0 = xa, ya
        dx, dy = x1 - x0, y1 - y0
    return None if niter == 50 else (0.5 * (x0 + x1), 0.5 * (y0 + y1))


def _edges(poly):
    """Left and right edge chains ``[(top_y, slope, shifted_intercept)]`` (``init_scanner``), or None."""
    n = len(poly)
    if n < 3:
        return None
    ys = [v[1] for v in poly]
    min_left = min(range(n), key=lambda k: (ys[k], k))
    min_y = ys[min_left]
    a, b = (min_left - 1) % n, (min_left + 1) % n
    min_right = a if ys[a] < ys[b] else b
    if ys[min_right] <= min_y * (1.0 + math.copysign(_ATOL, min_y)):
        if poly[min_left][0] > poly[min_right][0]:
            min_left, min_right = min_right, min_left
    else:
        min_right = min_left
    max_right = min(range(n), key=lambda k: (-ys[k], k))
    max_y = ys[max_right]
    a, b = (max_right - 1) % n, (max_right + 1) % n
    max_left = a if ys[a] > ys[b] else b
    if ys[max_left] >= max_y * (1.0 - math.copysign(_ATOL, max_y)):
        if poly[max_left][0] > poly[max_right][0]:
            max_left, max_right = max_right, max_left
    else:
        max_left = max_right

    def edge(v1, v2, position):
        m = _div(v2[0] - v1[0], v2[1] - v1[1])
        intercept = _div(v1[0] * v2[1] - v1[1] * v2[0], v2[1] - v1[1])
        return v2[1], m, intercept - math.copysign(0.5 + 0.5 * abs(m), position)

    if max_left > min_left:
        min_left += n
    left = [edge(poly[(min_left - k) % n], poly[(min_left - k - 1) % n], -1.0) for k in range(min_left - max_left)]
    if max_right < min_right:
        max_right += n
    right = [edge(poly[(min_right + k) % n], poly[(min_right + k + 1) % n], 1.0) for k in range(max_right - min_right)]
    return left, right, min_y, max_y


def scan_rows(pixmap, box, out_shape):
    """``{row: (first, last)}`` of input columns the C kernels visit (``init_image_scanner`` + row loop)."""
    xmin, xmax, ymin, ymax = box
    inpq = [(xmin - 0.5, ymin - 0.5), (xmax + 0.5, ymin - 0.5), (xmax + 0.5, ymax + 0.5), (xmin - 0.5, ymax + 0.5)]
    mapped = [_interp(pixmap, x, y) for x, y in inpq]
    if all(m is not None for m in mapped):
        ny_out, nx_out = out_shape
        window = [(-0.5, -0.5), (nx_out - 0.5, -0.5), (nx_out - 0.5, ny_out - 0.5), (-0.5, ny_out - 0.5)]
        pq = _clip(mapped, window)
        back = []
        for v in pq:
            u = _invert(pixmap, box, *v)
            if u is None:
                break
            back.append(u)
        # On a failed inversion C has overwritten the first vertices and kept the vertex count (4).
        inpq = _orient_ccw(back) if len(back) == len(pq) else (back + inpq[len(back) :])[:4]
    chains = _edges(inpq)
    if chains is None or not chains[0] or not chains[1]:
        return {}
    left, right, min_y, max_y = chains
    rows = {}
    li = ri = 0
    for y in range(max(0, int(min_y + 0.5 + 2 * _INV_ERR)), min(ymax, int(max_y + 2 * _INV_ERR)) + 1):
        if y < 0 or y > ymax or y + 0.5 <= min_y or y - 0.5 >= max_y + 1.0:
            continue
        while y - 0.5 > left[li][0]:
            if li == len(left) - 1:
                return rows
            li += 1
        while y - 0.5 > right[ri][0]:
            if ri == len(right) - 1:
                return rows
            ri += 1
        xlb = left[li][1] * y + left[li][2] - _INV_ERR
        xrb = right[ri][1] * y + right[ri][2] + _INV_ERR
        while y + 0.5 > left[li][0] + 0.5 + _INV_ERR:
            if li == len(left) - 1:
                return rows
            li += 1
        while y + 0.5 > right[ri][0] + 0.5 + _INV_ERR:
            if ri == len(right) - 1:
                return rows
            ri += 1
        xlt = left[li][1] * y + left[li][2] - _INV_ERR
        xrt = right[ri][1] * y + right[ri][2] + _INV_ERR
        xlb, xlt = max(xlb, xmin), max(xlt, xmin)
        xrb, xrt = min(xrb, xmax), min(xrt, xmax)
        if xlt >= xrt:
            if xlb < xrb:
                rows[y] = (_nint(xlb), _nint(xrb))
        elif xlb >= xrb:
            rows[y] = (_nint(xlt), _nint(xrt))
        else:
            rows[y] = (_nint(max(xlb, xlt)), _nint(min(xrb, xrt)))
    return rows


def _shrink(pixmap, box):
    """``shrink_image_section``: the box trimmed to rows/columns with a finite pixmap."""
    xmin, xmax, ymin, ymax = box
    valid = ~np.isnan(pixmap[ymin : ymax + 1, xmin : xmax + 1]).any(axis=2)
    rows = np.flatnonzero(valid.any(axis=1))
    if rows.size == 0:
        return None
    firsts = [xmin + int(np.argmax(valid[r])) for r in rows]
    lasts = [xmin + valid.shape[1] - 1 - int(np.argmax(valid[r, ::-1])) for r in rows]
    imin = min(min(firsts), xmax)
    jmin = min(ymin + int(rows[0]), ymax)
    imax, jmax = max(max(lasts), imin), max(ymin + int(rows[-1]), jmin)
    if imin >= imax or jmin >= jmax:
        return None
    return imin, imax, jmin, jmax


# ------------------------------------------------------------ overlap math ----
def _sgarea(x1, y1, x2, y2):
    dx, dy = x2 - x1, y2 - y1
    if dx == 0.0:
        return 0.0
    sgn, xlo, xhi = (-1.0, x2, x1) if dx < 0.0 else (1.0, x1, x2)
    if xlo >= 1.0 or xhi <= 0.0:
        return 0.0
    xlo, xhi = (xlo if xlo > 0.0 else 0.0), (xhi if xhi < 1.0 else 1.0)
    slope = dy / dx
    ylo, yhi = y1 + slope * (xlo - x1), y1 + slope * (xhi - x1)
    if ylo <= 0.0 and yhi <= 0.0:
        return 0.0
    if ylo >= 1.0 and yhi >= 1.0:
        return sgn * (xhi - xlo)
    det = x1 * y2 - y1 * x2
    if ylo < 0.0:
        ylo, xlo = 0.0, det / dy
    if yhi < 0.0:
        yhi, xhi = 0.0, det / dy
    if ylo <= 1.0:
        if yhi <= 1.0:
            return sgn * 0.5 * (xhi - xlo) * (yhi + ylo)
        xtop = (dx + det) / dy
        return sgn * (0.5 * (xtop - xlo) * (1.0 + ylo) + xhi - xtop)
    xtop = (dx + det) / dy
    return sgn * (0.5 * (xhi - xtop) * (1.0 + yhi) + xtop - xlo)


def _boxer(ii, jj, xs, ys):
    """Signed overlap of the quadrilateral with output pixel (ii, jj)."""
    px = [x - (ii - 0.5) for x in xs]
    py = [y - (jj - 0.5) for y in ys]
    total = 0.0
    for k in range(4):
        total += _sgarea(px[k], py[k], px[(k + 1) % 4], py[(k + 1) % 4])
    return total


def _corners(pixmap, i, j, h):
    """The shrunken pixel's corners (-h,+h), (+h,+h), (+h,-h), (-h,-h) in the output frame, or None."""
    ny, nx = pixmap.shape[:2]
    if 0 < i < nx - 2 and 0 < j < ny - 2:
        # Weight of neighbour (a, b) (x, y offsets 0..2): centre (1-h)^2, edges (1-h)h, corners h^2.
        def fac(a, b):
            if a == 1 and b == 1:
                return (1.0 - h) * (1.0 - h)
            return (1.0 - h) * h if a == 1 or b == 1 else h * h

        # The four neighbours whose pre-weighted sum gives each corner.
        cells = {
            (0, 1): ((0, 1), (1, 1), (0, 2), (1, 2)),
            (1, 1): ((1, 1), (2, 1), (1, 2), (2, 2)),
            (1, 0): ((1, 0), (2, 0), (1, 1), (2, 1)),
            (0, 0): ((0, 0), (1, 0), (0, 1), (1, 1)),
        }
        out = []
        for c in (0, 1):
            f = {(a, b): float(pixmap[j - 1 + b, i - 1 + a, c]) * fac(a, b) for a in range(3) for b in range(3)}
            vals = []
            for corner in ((0, 1), (1, 1), (1, 0), (0, 0)):
                k0, k1, k2, k3 = cells[corner]
                vals.append(f[k0] + f[k1] + f[k2] + f[k3])
            out.append(vals)
        xs, ys = out
        if any(math.isnan(v) for v in xs + ys):
            return None
        return xs, ys
    pts = [_interp(pixmap, x, y) for x, y in ((i - h, j + h), (i + h, j + h), (i + h, j - h), (i - h, j - h))]
    if any(p is None for p in pts):
        return None
    return [p[0] for p in pts], [p[1] for p in pts]


def _contributions(setup, pixmap, i, j, weight, out_shape):
    """``(ii, jj, dow)`` of every pair the C kernel hits for input pixel (i, j), in its loop order."""
    ny_out, nx_out = out_shape
    kernel = _KERNELS[setup.kernel]
    p = setup.params
    w = float(weight)
    if kernel == "square":
        geo = _corners(pixmap, i, j, float(p[P_DH]))
        if geo is None:
            return
        xs, ys = geo
        jaco = 0.5 * ((xs[1] - xs[3]) * (ys[0] - ys[2]) - (xs[0] - xs[2]) * (ys[1] - ys[3]))
        wj = w / jaco
        # min_doubles/max_doubles start from DBL_MAX and from the smallest positive double.
        jj0, jj1 = max(_nint(min([*ys, _DBL_MAX])), 0), min(_nint(max([*ys, _DBL_MIN])), ny_out - 1)
        ii0, ii1 = max(_nint(min([*xs, _DBL_MAX])), 0), min(_nint(max([*xs, _DBL_MIN])), nx_out - 1)
        for jj in range(jj0, jj1 + 1):
            for ii in range(ii0, ii1 + 1):
                dover = _boxer(ii, jj, xs, ys)
                if dover != 0.0:
                    yield ii, jj, f32(dover * wj)
        return
    ox, oy = float(pixmap[j, i, 0]), float(pixmap[j, i, 1])
    if math.isnan(ox) or math.isnan(oy):
        return
    if kernel == "point":
        ii, jj = _nint(ox), _nint(oy)
        if 0 <= ii < nx_out and 0 <= jj < ny_out:
            yield ii, jj, f32(weight)
        return
    pfo = float(p[P_PFO])
    if kernel.startswith("lanczos"):
        xr = range(max(math.floor(ox - pfo) + 1, 0), min(math.floor(ox + pfo), nx_out - 1) + 1)
        yr = range(max(math.floor(oy - pfo) + 1, 0), min(math.floor(oy + pfo), ny_out - 1) + 1)
    else:
        xr = range(max(_nint(ox - pfo), 0), min(_nint(ox + pfo), nx_out - 1) + 1)
        yr = range(max(_nint(oy - pfo), 0), min(_nint(oy + pfo), ny_out - 1) + 1)
    for jj in yr:
        for ii in xr:
            if kernel == "turbo":
                dx = min(ox + pfo, ii + 0.5) - max(ox - pfo, ii - 0.5)
                dy = min(oy + pfo, jj + 0.5) - max(oy - pfo, jj - 0.5)
                if dx > 0.0 and dy > 0.0:
                    yield ii, jj, f32(dx * dy * float(p[P_SCALE]) * w)
            elif kernel == "gaussian":
                r2 = (ox - ii) * (ox - ii) + (oy - jj) * (oy - jj)
                dover = float(p[P_ES]) * math.exp(-r2 * float(p[P_EFAC]))
                yield ii, jj, f32(float(f32(dover)) * w)
            else:
                ix, iy = _nint(abs((ox - ii) * float(p[P_SDP]))), _nint(abs((oy - jj) * float(p[P_SDP])))
                if ix < setup.lut.size and iy < setup.lut.size:
                    yield ii, jj, f32(float(setup.lut[ix]) * float(setup.lut[iy]) * w)


def _mean(value, vc, dow, d):
    """drizzle's running mean: numerator in float32, division in float64, stored as float32."""
    if vc == 0.0:
        return d
    return f32(float(value * vc + dow * d) / float(vc + dow))


def drizzle_pixels(setup, data, weight, pixmap, out_data, out_wht):
    """Drizzle every scanned input pixel into the outputs in place, in the C engine's order."""
    box = _shrink(pixmap, setup.box)
    if box is None:
        raise ValueError("No or too few valid pixels in the pixel map.")
    con, plane, bit = setup.con, setup.plane, setup.bitval
    ext, ext_out, ext_wht = setup.extra_data, setup.extra_out, setup.extra_wht
    for j, (first, last) in sorted(scan_rows(pixmap, box, out_data.shape).items()):
        for i in range(first, last + 1):
            d = f32(data[j, i] * setup.iscale)
            for ii, jj, dow in _contributions(setup, pixmap, i, j, weight[j, i], out_data.shape):
                if con is not None and dow > 0.0:
                    con[plane, jj, ii] |= bit
                if dow == 0.0:
                    continue
                vc = out_wht[jj, ii]
                out_data[jj, ii] = _mean(out_data[jj, ii], vc, dow, d)
                if setup.dq is not None:
                    previous = setup.out_dq[jj, ii] if vc != 0.0 else np.uint32(0)
                    setup.out_dq[jj, ii] = previous | setup.dq[j, i]
                ey, ex = jj - setup.extra_origin[1], ii - setup.extra_origin[0]
                if setup.n_extra and 0 <= ey < ext_out.shape[1] and 0 <= ex < ext_out.shape[2]:
                    vce = vc if ext_wht is None else ext_wht[ey, ex]
                    for k in range(setup.n_extra):
                        ext_out[k, ey, ex] = _mean(ext_out[k, ey, ex], vce, dow, f32(ext[k, j, i] * setup.iscale))
                    if ext_wht is not None:
                        ext_wht[ey, ex] = vce + dow
                out_wht[jj, ii] = vc + dow
