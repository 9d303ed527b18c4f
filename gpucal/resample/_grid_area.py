"""Mean pixel area of an imaging WCS, as stcal's ``compute_mean_pixel_area`` computes it.

jwst uses the mean pixel area (steradians) of a WCS in two places of the
resample grid set-up: the input pixel scale when ``pixel_scale`` is given
(``pixel_scale_ratio = pixel_scale / sqrt(area of input 0)``) and the output
pixel scale of a custom ``output_wcs`` without a ``pixel_scale``. stcal walks
the outline of the bounding box (points at most 15 pixels apart), projects it
to the sky and takes the area of that spherical polygon with
``spherical_geometry`` (Girard's theorem: the sum of the interior angles minus
``(n - 2) pi``), divided by the pixel area of the rectangle.

For an image a few arcminutes wide the sum of the angles is ``(n - 2) pi`` plus
a number some 1e-7 times smaller, so the result depends on how each angle is
rounded to double precision. ``spherical_geometry`` computes each angle in
quad-double arithmetic and rounds it once; this module computes each angle in
double-double arithmetic (error below 1e-25 rad), so it rounds to the same
double, and sums the angles with the same numpy reduction. The areas agree to
the last bit rather than to the ~1e-5 relative scatter of a plain double
implementation on small images. spherical_geometry is not needed.
"""

import math
from fractions import Fraction

import numpy as np

__all__ = ["boundary_points", "mean_pixel_area", "spherical_polygon_area"]

_VELTKAMP = 134217729.0  # 2**27 + 1
_PI = (math.pi, 1.2246467991473532e-16)
_HALF_PI = (math.pi / 2, 6.123233995736766e-17)
_TWO_PI = (2 * math.pi, 2.4492935982947064e-16)


# -- double-double arithmetic on (hi, lo) pairs of float64 arrays -------------


def _two_sum(a, b):
    s = a + b
    v = s - a
    return s, (a - (s - v)) + (b - v)


def _fast_two_sum(a, b):
    s = a + b
    return s, b - (s - a)


def _two_prod(a, b):
    """Exact product ``a * b = p + e`` (Dekker, Veltkamp split; inputs are far from overflow)."""
    p = a * b
    t = _VELTKAMP * a
    ah = t - (t - a)
    al = a - ah
    t = _VELTKAMP * b
    bh = t - (t - b)
    bl = b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _dd_add(x, y):
    s, e = _two_sum(x[0], y[0])
    t, f = _two_sum(x[1], y[1])
    s, e = _fast_two_sum(s, e + t)
    return _fast_two_sum(s, e + f)


def _dd_neg(x):
    return (-x[0], -x[1])


def _dd_sub(x, y):
    return _dd_add(x, _dd_neg(y))


def _dd_mul(x, y):
    p, e = _two_prod(x[0], y[0])
    return _fast_two_sum(p, e + (x[0] * y[1] + x[1] * y[0]))


def _dd_sqrt(x):
    root = np.sqrt(x[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        correction = _dd_sub(x, _two_prod(root, root))[0] / (2.0 * root)
    correction = np.where(root > 0, correction, 0.0)
    return _fast_two_sum(root, correction)


def _cross_exact(a, b):
    """Cross product of two float64 (n, 3) arrays as three double-double components."""
    out = []
    for i, j in ((1, 2), (2, 0), (0, 1)):
        out.append(_dd_sub(_two_prod(a[:, i], b[:, j]), _two_prod(a[:, j], b[:, i])))
    return out


def _cross_dd(a, b):
    out = []
    for i, j in ((1, 2), (2, 0), (0, 1)):
        out.append(_dd_sub(_dd_mul(a[i], b[j]), _dd_mul(a[j], b[i])))
    return out


def _dot_dd(a, b):
    total = _dd_mul(a[0], b[0])
    for k in (1, 2):
        total = _dd_add(total, _dd_mul(a[k], b[k]))
    return total


def _series(n_terms, first):
    """Double-double coefficients ``(-1)^k / (2k + first)!`` of the sine (first=1) or cosine (first=0) series."""
    coefficients = []
    for k in range(n_terms):
        value = Fraction((-1) ** k, math.factorial(2 * k + first))
        hi = float(value)
        coefficients.append((hi, float(value - Fraction(hi))))
    return coefficients


_SIN_COEFFS = _series(16, 1)
_COS_COEFFS = _series(16, 0)


def _dd_sin_cos_small(t):
    """``sin t`` and ``cos t`` in double-double for ``|t| <= pi/4`` (Taylor series, error < 1e-31)."""
    t2 = _dd_mul(t, t)
    sin_sum = _SIN_COEFFS[-1]
    cos_sum = _COS_COEFFS[-1]
    for coeff_s, coeff_c in zip(_SIN_COEFFS[-2::-1], _COS_COEFFS[-2::-1], strict=True):
        sin_sum = _dd_add(_dd_mul(sin_sum, t2), coeff_s)
        cos_sum = _dd_add(_dd_mul(cos_sum, t2), coeff_c)
    return _dd_mul(sin_sum, t), cos_sum


def _dd_atan2(s, c):
    """``atan2(s, c)`` in double-double for ``s >= 0`` (result in ``[0, pi]``)."""
    theta0 = np.arctan2(s[0], c[0])
    quadrant = np.rint(theta0 / _HALF_PI[0])
    t = _dd_add(_two_sum(theta0, -quadrant * _HALF_PI[0]), (-quadrant * _HALF_PI[1], np.zeros_like(theta0)))
    sin_t, cos_t = _dd_sin_cos_small(t)
    q1, q2 = quadrant == 1, quadrant == 2
    sin0 = tuple(np.where(q1, ct, np.where(q2, -st, st)) for st, ct in zip(sin_t, cos_t, strict=True))
    cos0 = tuple(np.where(q1, -st, np.where(q2, -ct, ct)) for st, ct in zip(sin_t, cos_t, strict=True))
    residual = _dd_sub(_dd_mul(s, cos0), _dd_mul(c, sin0))
    norm = _dd_add(_dd_mul(c, cos0), _dd_mul(s, sin0))
    with np.errstate(divide="ignore", invalid="ignore"):
        correction = residual[0] / norm[0]
    return _two_sum(theta0, correction)


def _vertex_angles(a, b, c):
    """Angle at ``b`` between the great circles ``ab`` and ``bc``, in ``[0, 2 pi)``, rounded once to float64.

    The same quantity as ``spherical_geometry.great_circle_arc.angle``
    (``acos`` of the normalised dot product of ``a x b`` and ``c x b``,
    ``2 pi`` minus that where ``b . ((a x b) x (c x b)) < 0``).
    """
    abx = _cross_exact(a, b)
    bcx = _cross_exact(c, b)
    normal = _cross_dd(abx, bcx)
    cosine = _dot_dd(abx, bcx)
    sine = _dd_sqrt(_dot_dd(normal, normal))
    theta = _dd_atan2(sine, cosine)
    b_dd = [(b[:, k], np.zeros(len(b))) for k in range(3)]
    side = _dot_dd(b_dd, normal)
    reflex = (side[0] < 0) | ((side[0] == 0) & (side[1] < 0))
    theta = tuple(np.where(reflex, r, t) for r, t in zip(_dd_sub(_TWO_PI, theta), theta, strict=True))
    degenerate = (_dot_dd(abx, abx)[0] == 0) | (_dot_dd(bcx, bcx)[0] == 0)
    angle = _two_sum(theta[0], theta[1])[0]
    return np.where(degenerate, np.nan, angle)


def _triple_products(a, b, c):
    """``(a x b) . c`` per row, rounded once to float64."""
    cross = _cross_exact(a, b)
    c_dd = [(c[:, k], np.zeros(len(c))) for k in range(3)]
    return _dot_dd(cross, c_dd)[0]


def _on_great_circle(points, tol):
    eigen = np.linalg.eigvalsh(points.T @ points)
    return eigen[2] < tol or eigen[0] < tol * eigen[2]


def _as_dd(vectors):
    return [(vectors[..., k], np.zeros(vectors.shape[:-1])) for k in range(3)]


def _crossings(starts, ends, origin, target):
    """How many polygon edges ``starts[i] -> ends[i]`` the great-circle arc ``origin -> target`` crosses.

    The sign tests of spherical_geometry's ``intersects`` (edges sharing an
    end point with the arc never count), in double-double arithmetic.
    """
    origin = np.broadcast_to(origin, starts.shape)
    target = np.broadcast_to(target, starts.shape)
    shared = np.zeros(len(starts), bool)
    for p in (starts, ends):
        for q in (origin, target):
            shared |= np.all(p == q, axis=1)
    edge_normal = _cross_exact(starts, ends)
    arc_normal = _cross_exact(origin, target)
    line = _cross_dd(edge_normal, arc_normal)
    nonzero = _dot_dd(line, line)[0] > 0
    signs = []
    for first, second in (
        (edge_normal, _as_dd(starts)),
        (_as_dd(ends), edge_normal),
        (arc_normal, _as_dd(origin)),
        (_as_dd(target), arc_normal),
    ):
        signs.append(np.where(np.signbit(_dot_dd(_cross_dd(first, second), line)[0]), -1.0, 1.0))
    same = (signs[0] == signs[1]) & (signs[0] == signs[2]) & (signs[0] == signs[3])
    return int(np.sum(same & nonzero & ~shared))


def _inside_candidate(points, orient, clockwise):
    """spherical_geometry's guess of an interior point: midpoint of the neighbours of the sharpest vertex."""
    if len(points) > 4:
        ring = np.vstack((points, points[1]))
        weight = orient if clockwise else -orient
        k = int(np.argmax(weight))
        mid = (ring[k] + ring[k + 2]) / 2.0
        return mid / np.sqrt(np.sum(mid * mid))
    mean = points.mean(axis=0)
    return mean / np.sqrt(np.sum(mean * mean))


def _unit_vectors(ra, dec):
    lon = np.deg2rad(np.asarray(ra, dtype=float))
    lat = np.deg2rad(np.asarray(dec, dtype=float))
    cos_lat = np.cos(lat)
    return np.cos(lon) * cos_lat, np.sin(lon) * cos_lat, np.sin(lat)


def spherical_polygon_area(ra, dec, center=None):
    """Area (sr) of the spherical polygon through ``(ra, dec)`` (deg), as spherical_geometry computes it.

    Parameters
    ----------
    ra, dec : array_like
        Vertices in order (not repeated at the end).
    center : tuple of float, optional
        ``(ra, dec)`` of a point inside the polygon, which decides its
        orientation as in ``SphericalPolygon.from_radec(..., center=...)``.

    Returns
    -------
    float
        ``sum(angles) - (n - 2) pi`` over the vertices in the orientation
        spherical_geometry settles on, 0 for a degenerate polygon (all vertices
        on one great circle). It is the area on the side of ``center``, or
        ``4 pi`` minus it where spherical_geometry's own interior guess is
        outside a non-convex polygon (callers fold values above ``2 pi``).
    """
    points = np.dstack(_unit_vectors(ra, dec))[0]
    if not np.array_equal(points[0], points[-1]):
        points = np.vstack((points, points[:1]))
    if len(points) < 4:
        return 0.0
    ring = np.vstack((points, points[1]))
    orient = _triple_products(ring[:-2] - ring[1:-1], ring[2:] - ring[1:-1], ring[1:-1])
    if np.max(np.abs(orient)) < 1e-11 and _on_great_circle(points, 1e-16):
        return 0.0
    clockwise = bool(np.sum(orient) > 0.0)
    if center is None:
        reverse = not clockwise
    else:
        inside = np.array(_unit_vectors(*center), dtype=float).reshape(3)
        candidate = _inside_candidate(points, orient, clockwise)
        contains = np.array_equal(inside, candidate) or _crossings(points[:-1], points[1:], inside, candidate) % 2 == 0
        reverse = contains != clockwise
    if reverse:
        points = points[::-1]
    ring = np.vstack((points, points[1]))
    angles = _vertex_angles(ring[:-2], ring[1:-1], ring[2:])
    return float(np.sum(angles) - (len(angles) - 2) * np.pi)


def boundary_points(xmin, xmax, ymin, ymax, dx, dy):
    """Points along the edges of the pixel rectangle ``[xmin, xmax] x [ymin, ymax]``.

    Bottom edge left to right, right edge upwards, top edge right to left,
    left edge downwards, ``ceil(n / d)`` points per edge (stcal's
    ``_get_boundary_points`` without shrinking).

    Returns
    -------
    x, y : numpy.ndarray
    area : int
        ``(xmax - xmin) * (ymax - ymin)``.
    center : tuple of float
    edges : tuple of slice
        Bottom, right, top, left.
    """
    nx = xmax - xmin + 1
    ny = ymax - ymin + 1
    sx = max(1, int(np.ceil(nx / dx)))
    sy = max(1, int(np.ceil(ny / dy)))
    x = np.empty(2 * sx + 2 * sy)
    y = np.empty(2 * sx + 2 * sy)
    edges = (np.s_[0:sx], np.s_[sx : sx + sy], np.s_[sx + sy : 2 * sx + sy], np.s_[2 * sx + sy : 2 * sx + 2 * sy])
    bottom, right, top, left = edges
    x[bottom], y[bottom] = np.linspace(xmin, xmax, sx, False), ymin
    x[right], y[right] = xmax, np.linspace(ymin, ymax, sy, False)
    x[top], y[top] = np.linspace(xmax, xmin, sx, False), ymax
    x[left], y[left] = xmin, np.linspace(ymax, ymin, sy, False)
    area = (xmax - xmin) * (ymax - ymin)
    return x, y, area, (0.5 * (xmin + xmax), 0.5 * (ymin + ymax)), edges


def mean_pixel_area(wcs, shape=None):
    """Mean pixel area (sr) of ``wcs`` over its bounding box, or None where it cannot be computed.

    Parameters
    ----------
    wcs : gwcs.WCS
        Imaging WCS (two spatial output axes).
    shape : tuple of int, optional
        ``(ny, nx)``; ``wcs.array_shape`` when omitted.

    Returns
    -------
    float or None
        None when no rectangle with finite sky coordinates on its outline is
        left, or the rectangle has no area (stcal logs and returns None too).

    Raises
    ------
    ValueError
        If neither ``shape`` nor ``wcs.array_shape`` is known.

    Notes
    -----
    The rectangle is the bounding box rounded inward to pixel centres. Edges
    whose sky coordinates are not all finite are moved inward one pixel at a
    time, bottom, right, top, left in turn, as stcal does.
    """
    shape = shape or wcs.array_shape
    if shape is None:
        raise ValueError("Either the WCS must have 'array_shape' set or 'shape' must be given.")
    spatial = np.flatnonzero(np.array(wcs.output_frame.axes_type) == "SPATIAL")
    ny, nx = shape
    if wcs.bounding_box is None:
        (xmin, xmax), (ymin, ymax) = (-0.5, nx - 0.5), (-0.5, ny - 0.5)
    else:
        (xmin, xmax), (ymin, ymax) = wcs.bounding_box
    xmin, xmax = min(xmin, xmax), max(xmin, xmax)
    ymin, ymax = min(ymin, ymax), max(ymin, ymax)
    xmin, xmax = max(0, int(xmin + 0.5)), min(nx - 1, int(xmax - 0.5))
    ymin, ymax = max(0, int(ymin + 0.5)), min(ny - 1, int(ymax - 0.5))

    side = 0
    step = (1, -1, -1, 1)
    while xmin < xmax and ymin < ymax:
        dx, dy = min((xmax - xmin) // 4, 15), min((ymax - ymin) // 4, 15)
        if dx == 0 or dy == 0:
            return None  # fewer than 5 pixels across: stcal fails here too (division by zero)
        x, y, image_area, center, edges = boundary_points(xmin, xmax, ymin, ymax, dx, dy)
        world = wcs(x, y)
        ra, dec = world[spatial[0]], world[spatial[1]]
        limits = [ymin, xmax, ymax, xmin]
        for _ in range(4):
            edge = edges[side]
            if not (np.all(np.isfinite(ra[edge])) and np.all(np.isfinite(dec[edge]))):
                limits[side] += step[side]
                side = (side + 1) % 4
                break
            side = (side + 1) % 4
        else:
            break
        ymin, xmax, ymax, xmin = limits
    else:
        return None

    world = wcs(*center)
    area = spherical_polygon_area(ra, dec, center=(world[spatial[0]], world[spatial[1]]))
    if area > 2 * np.pi:
        area = 4 * np.pi - area
    if image_area == 0:
        return None
    return area / image_area
