"""Exact predicates, GEOS's ring clipper and segment noding for :mod:`gpucal.resample._grid_overlay`.

Polygons are lists of ``(shell, holes)`` with rings as closed lists of
``(x, y)`` float tuples. Orientation tests are exact (rational arithmetic when
the floating-point sign is not certain); crossing points are computed exactly
and rounded once, which is what GEOS's double-double formula gives.
"""

import itertools
import math
from fractions import Fraction

import numpy as np

__all__ = [
    "BOUNDARY",
    "EXTERIOR",
    "INTERIOR",
    "TopologyError",
    "clip_envelope",
    "is_ccw",
    "locate",
    "orientation",
    "segment_strings",
    "split_edges",
]

INTERIOR, BOUNDARY, EXTERIOR = 0, 1, 2


# -- exact predicates ----------------------------------------------------------


def orientation(p1, p2, q):
    """Exact sign of the turn ``p1 -> p2 -> q``: 1 left (counter-clockwise), -1 right, 0 collinear."""
    dx1, dy1 = p2[0] - p1[0], p2[1] - p1[1]
    dx2, dy2 = q[0] - p2[0], q[1] - p2[1]
    a, b = dx1 * dy2, dy1 * dx2
    det = a - b
    if abs(det) > 1e-12 * (abs(a) + abs(b)) and abs(det) > 1e-300:
        return 1 if det > 0 else -1
    fp1, fp2, fq = [(Fraction(x), Fraction(y)) for x, y in (p1, p2, q)]
    exact = (fp2[0] - fp1[0]) * (fq[1] - fp2[1]) - (fp2[1] - fp1[1]) * (fq[0] - fp2[0])
    return (exact > 0) - (exact < 0)


def _in_box(a, b, q):
    return min(a[0], b[0]) <= q[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= q[1] <= max(a[1], b[1])


def _boxes_overlap(p1, p2, q1, q2):
    return max(min(p1[0], p2[0]), min(q1[0], q2[0])) <= min(max(p1[0], p2[0]), max(q1[0], q2[0])) and max(
        min(p1[1], p2[1]), min(q1[1], q2[1])
    ) <= min(max(p1[1], p2[1]), max(q1[1], q2[1]))


def _point_to_segment(p, a, b):
    if a == b:
        return ((p[0] - a[0]) ** 2 + (p[1] - a[1]) ** 2) ** 0.5
    dx, dy = b[0] - a[0], b[1] - a[1]
    r = ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / (dx * dx + dy * dy)
    if r <= 0:
        return ((p[0] - a[0]) ** 2 + (p[1] - a[1]) ** 2) ** 0.5
    if r >= 1:
        return ((p[0] - b[0]) ** 2 + (p[1] - b[1]) ** 2) ** 0.5
    return abs((a[1] - p[1]) * dx - (a[0] - p[0]) * dy) / (dx * dx + dy * dy) ** 0.5


def _proper_intersection(p1, p2, q1, q2):
    """Crossing point of two segments, exact then rounded (GEOS: double-double), snapped as GEOS snaps."""
    fp1, fp2, fq1, fq2 = [(Fraction(x), Fraction(y)) for x, y in (p1, p2, q1, q2)]
    px, py = fp1[1] - fp2[1], fp2[0] - fp1[0]
    pw = fp1[0] * fp2[1] - fp2[0] * fp1[1]
    qx, qy = fq1[1] - fq2[1], fq2[0] - fq1[0]
    qw = fq1[0] * fq2[1] - fq2[0] * fq1[1]
    w = px * qy - qx * py
    point = None
    if w != 0:
        point = (float((py * qw - qy * pw) / w), float((qx * pw - px * qw) / w))
    if point is None or not (_in_box(p1, p2, point) and _in_box(q1, q2, point)):
        candidates = [(p1, q1, q2), (p2, q1, q2), (q1, p1, p2), (q2, p1, p2)]
        best, best_distance = None, None
        for candidate, a, b in candidates:
            distance = _point_to_segment(candidate, a, b)
            if best is None or distance < best_distance:
                best, best_distance = candidate, distance
        point = best
    return point


def _segment_intersections(p1, p2, q1, q2):
    """Intersection points of segments ``p1p2`` and ``q1q2`` as GEOS's ``LineIntersector`` reports them."""
    if not _boxes_overlap(p1, p2, q1, q2):
        return []
    pq1, pq2 = orientation(p1, p2, q1), orientation(p1, p2, q2)
    if (pq1 > 0 and pq2 > 0) or (pq1 < 0 and pq2 < 0):
        return []
    qp1, qp2 = orientation(q1, q2, p1), orientation(q1, q2, p2)
    if (qp1 > 0 and qp2 > 0) or (qp1 < 0 and qp2 < 0):
        return []
    if pq1 == pq2 == qp1 == qp2 == 0:
        q1_in, q2_in = _in_box(p1, p2, q1), _in_box(p1, p2, q2)
        p1_in, p2_in = _in_box(q1, q2, p1), _in_box(q1, q2, p2)
        for cond, first, second in (
            (q1_in and q2_in, q1, q2), (p1_in and p2_in, p1, p2), (q1_in and p1_in, q1, p1),
            (q1_in and p2_in, q1, p2), (q2_in and p1_in, q2, p1), (q2_in and p2_in, q2, p2),
        ):  # fmt: skip
            if cond:
                return [first] if first == second else [first, second]
        return []
    if pq1 == 0 or pq2 == 0 or qp1 == 0 or qp2 == 0:
        for a, b in ((p1, q1), (p1, q2), (p2, q1), (p2, q2)):
            if a == b:
                return [a]
        for zero, point in ((pq1, q1), (pq2, q2), (qp1, p1), (qp2, p2)):
            if zero == 0:
                return [point]
    return [_proper_intersection(p1, p2, q1, q2)]


def _signed_area2(ring):
    return sum(ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1] for i in range(len(ring) - 1))


def is_ccw(ring):
    return _signed_area2(ring) > 0


def locate(point, polygons, boundary=False):
    """``INTERIOR`` or ``EXTERIOR`` of ``point`` in a list of ``(shell, holes)`` polygons (even-odd rule).

    With ``boundary=True`` a point on a ring is ``BOUNDARY``.
    """
    inside = False
    for shell, holes in polygons:
        for ring in (shell, *holes):
            for a, b in itertools.pairwise(ring):
                if boundary and _in_box(a, b, point) and orientation(a, b, point) == 0:
                    return BOUNDARY
                if (a[1] > point[1]) != (b[1] > point[1]):
                    side = orientation(a, b, point)
                    if (side > 0) == (b[1] > a[1]):
                        inside = not inside
    return INTERIOR if inside else EXTERIOR


# -- envelopes and GEOS's ring clipper ----------------------------------------


def _envelope(points):
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return [min(xs), max(xs), min(ys), max(ys)]


def _safe_envelope(env):
    minimum = min(env[1] - env[0], env[3] - env[2])
    if minimum <= 0:
        minimum = max(env[1] - env[0], env[3] - env[2])
    d = 0.1 * minimum
    return [env[0] - d, env[1] + d, env[2] - d, env[3] + d]


def _envelopes_disjoint(a, b):
    return a[0] > b[1] or b[0] > a[1] or a[2] > b[3] or b[2] > a[3]


def _covers(a, b):
    return a[0] <= b[0] and b[1] <= a[1] and a[2] <= b[2] and b[3] <= a[3]


def clip_envelope(geometries):
    """GEOS's clipping envelope of an intersection (safe envelopes, widened by the segments that touch them)."""
    env_a = _safe_envelope(_envelope([p for shell, holes in geometries[0] for r in (shell, *holes) for p in r]))
    env_b = _safe_envelope(_envelope([p for shell, holes in geometries[1] for r in (shell, *holes) for p in r]))
    target = [max(env_a[0], env_b[0]), min(env_a[1], env_b[1]), max(env_a[2], env_b[2]), min(env_a[3], env_b[3])]
    clip = list(target)
    for geometry in geometries:
        for shell, holes in geometry:
            for ring in (shell, *holes):
                for a, b in itertools.pairwise(ring):
                    if not _envelopes_disjoint(_envelope((a, b)), target):
                        clip = [
                            min(clip[0], a[0], b[0]),
                            max(clip[1], a[0], b[0]),
                            min(clip[2], a[1], b[1]),
                            max(clip[3], a[1], b[1]),
                        ]
    return _safe_envelope(clip)


def _clip_ring(ring, env):
    """GEOS ``RingClipper``: Sutherland-Hodgman against bottom, right, top, left in turn."""
    tests = (
        lambda p: p[1] > env[2], lambda p: p[0] < env[1], lambda p: p[1] < env[3], lambda p: p[0] > env[0],
    )  # fmt: skip

    def crossing(a, b, side):
        if side in (0, 2):
            y = env[2] if side == 0 else env[3]
            return (a[0] + (y - a[1]) * ((b[0] - a[0]) / (b[1] - a[1])), y)
        x = env[1] if side == 1 else env[0]
        return (x, a[1] + (x - a[0]) * ((b[1] - a[1]) / (b[0] - a[0])))

    points = list(ring)
    for side in range(4):
        clipped = []

        def add(p, clipped=clipped):
            if not clipped or clipped[-1] != p:
                clipped.append(p)

        p0 = points[-1]
        for p1 in points:
            if tests[side](p1):
                if not tests[side](p0):
                    add(crossing(p0, p1, side))
                add(p1)
            elif tests[side](p0):
                add(crossing(p0, p1, side))
            p0 = p1
        if side == 3 and clipped and clipped[0] != clipped[-1]:
            clipped.append(clipped[0])
        points = clipped
        if not points:
            break
    return points


def _without_repeats(ring):
    out = [ring[0]]
    for p in ring[1:]:
        if p != out[-1]:
            out.append(p)
    return out


# -- noding --------------------------------------------------------------------


def segment_strings(geometries, clip_env):
    """``[points, geometry index, depth delta, is hole]`` per ring, in GEOS's order."""
    strings = []
    for index, geometry in enumerate(geometries):
        for shell, holes in geometry:
            for is_hole, ring in [(False, shell)] + [(True, h) for h in holes]:
                env = _envelope(ring)
                if clip_env is not None and _envelopes_disjoint(clip_env, env):
                    continue
                points = (
                    _without_repeats(ring) if clip_env is None or _covers(clip_env, env) else _clip_ring(ring, clip_env)
                )
                if len(points) < 2:
                    continue
                oriented = is_ccw(ring) if is_hole else not is_ccw(ring)
                strings.append([points, index, 1 if oriented else -1, is_hole])
    return strings


class TopologyError(ValueError):
    """The overlay met an inconsistent arrangement (GEOS's TopologyException); the caller retries with snapping."""


def _node_key(points, seg, point):
    """Sort key of a node: segment index, then position along that segment."""
    a, b = points[seg], points[min(seg + 1, len(points) - 1)]
    return (seg, (point[0] - a[0]) * (b[0] - a[0]) + (point[1] - a[1]) * (b[1] - a[1]))


def _candidate_pairs(strings, tolerance=0.0):
    """Segment pairs ``((k0, i0), (k1, i1))``, earlier segment first, whose envelopes are within ``tolerance``."""
    segments = [(k, i) for k, pts in enumerate(strings) for i in range(len(pts) - 1)]
    if len(segments) < 2:
        return []
    coords = np.array([strings[k][i] + strings[k][i + 1] for k, i in segments], dtype=float)
    lo_x, hi_x = np.minimum(coords[:, 0], coords[:, 2]), np.maximum(coords[:, 0], coords[:, 2])
    lo_y, hi_y = np.minimum(coords[:, 1], coords[:, 3]), np.maximum(coords[:, 1], coords[:, 3])
    pairs = []
    for n in range(len(segments) - 1):
        near = (
            (lo_x[n + 1 :] <= hi_x[n] + tolerance) & (hi_x[n + 1 :] >= lo_x[n] - tolerance)
            & (lo_y[n + 1 :] <= hi_y[n] + tolerance) & (hi_y[n + 1 :] >= lo_y[n] - tolerance)
        )  # fmt: skip
        pairs.extend((segments[n], segments[n + 1 + m]) for m in np.flatnonzero(near))
    return pairs


def _add_node(nodes, pts, seg, point):
    nodes.add((seg + 1 if point == pts[seg + 1] else seg, point))


def _distance(a, b):
    return math.hypot(a[0] - b[0], a[1] - b[1])


class _SnapIndex:
    """GEOS's snapping KD-tree: a point snaps to the nearest stored point within tolerance, else is stored."""

    def __init__(self, tolerance):
        self.tolerance = tolerance
        self.points = []

    def snap(self, p):
        best, best_distance = None, None
        for q in self.points:
            d = _distance(p, q)
            if d <= self.tolerance and (best is None or d < best_distance or (d == best_distance and q <= best)):
                best, best_distance = q, d
        if best is not None:
            return best
        self.points.append(p)
        return p


def _snap_vertices(strings, index):
    golden = (math.sqrt(5.0) - 1.0) / 2.0
    for pts in strings:
        value = 0.0
        for _ in range(len(pts) // 100):
            value += golden
            if value > 1:
                value -= math.floor(value)
            index.snap(pts[int(len(pts) * value)])
    snapped = []
    for pts in strings:
        out = []
        for p in pts:
            q = index.snap(p)
            if not out or out[-1] != q:
                out.append(q)
        snapped.append(out)
    return snapped


def _node_floating(strings):
    nodes = [{(0, pts[0]), (len(pts) - 1, pts[-1])} for pts in strings]
    for (k0, i0), (k1, i1) in _candidate_pairs(strings):
        a, b = strings[k0], strings[k1]
        found = _segment_intersections(a[i0], a[i0 + 1], b[i1], b[i1 + 1])
        if not found or (k0 == k1 and len(found) == 1 and abs(i0 - i1) == 1):
            continue
        for point in found:
            _add_node(nodes[k0], a, i0, point)
            _add_node(nodes[k1], b, i1, point)
    return nodes


def _node_snapping(strings, tolerance):
    """GEOS ``SnappingNoder``: snap vertices, then snapped single-point intersections and near vertices."""
    index = _SnapIndex(tolerance)
    strings = _snap_vertices(strings, index)
    nodes = [{(0, pts[0]), (len(pts) - 1, pts[-1])} for pts in strings]
    for (k0, i0), (k1, i1) in _candidate_pairs(strings, 2 * tolerance):
        a, b = strings[k0], strings[k1]
        if not (k0 == k1 and abs(i0 - i1) == 1):
            found = _segment_intersections(a[i0], a[i0 + 1], b[i1], b[i1 + 1])
            if len(found) == 1:
                point = index.snap(found[0])
                _add_node(nodes[k0], a, i0, point)
                _add_node(nodes[k1], b, i1, point)
        for src, i_src, p, dst, i_dst in (
            (k0, i0, a[i0], k1, i1), (k0, i0, a[i0 + 1], k1, i1), (k1, i1, b[i1], k0, i0), (k1, i1, b[i1 + 1], k0, i0),
        ):  # fmt: skip
            seg = strings[dst]
            p0, p1 = seg[i_dst], seg[i_dst + 1]
            if _distance(p, p0) < tolerance or _distance(p, p1) < tolerance:
                continue
            if _point_to_segment(p, p0, p1) < tolerance:
                _add_node(nodes[dst], seg, i_dst, p)
                _add_node(nodes[src], strings[src], i_src, p)
    return strings, nodes


def _split(strings, nodes):
    edges = []
    for k, pts in enumerate(strings):
        ordered = sorted(nodes[k], key=lambda node, pts=pts: _node_key(pts, *node))
        unique = [ordered[0]]
        for node in ordered[1:]:
            if node[0] != unique[-1][0] or node[1] != unique[-1][1]:
                unique.append(node)
        for (seg0, pt0), (seg1, pt1) in itertools.pairwise(unique):
            if seg0 == seg1:
                edge = [pt0, pt1]
            else:
                edge = [pt0, *pts[seg0 + 1 : seg1 + 1]]
                if pt1 != pts[seg1]:
                    edge.append(pt1)
            edges.append([edge, k])
    return edges


def _validate(edges):
    """GEOS ``FastNodingValidator``: no two noded segments may meet except at shared end points."""
    strings = [pts for pts, _ in edges]
    for (k0, i0), (k1, i1) in _candidate_pairs(strings):
        a, b = strings[k0], strings[k1]
        p00, p01, p10, p11 = a[i0], a[i0 + 1], b[i1], b[i1 + 1]
        for point in _segment_intersections(p00, p01, p10, p11):
            if point not in (p00, p01) or point not in (p10, p11):
                raise TopologyError("polygon overlay: noding is not valid")
        if k0 == k1 and abs(i0 - i1) <= 1:
            continue
        ends = (i0 == 0, i0 + 2 == len(a), i1 == 0, i1 + 2 == len(b))
        for p, q, end_p, end_q in (
            (p00, p10, ends[0], ends[2]),
            (p00, p11, ends[0], ends[3]),
            (p01, p10, ends[1], ends[2]),
            (p01, p11, ends[1], ends[3]),
        ):
            if p == q and not (end_p and end_q):
                raise TopologyError("polygon overlay: noding is not valid")


def split_edges(strings, snap_tolerance=None):
    """Node the strings against each other and split them into edges ``[points, string index]``.

    Without ``snap_tolerance`` the nodes are exact crossing points and the
    result is checked as GEOS checks it (``TopologyError`` if a new segment
    crosses another); with it, vertices and crossings within the tolerance are
    snapped together (GEOS's fallback).
    """
    points = [s[0] for s in strings]
    if snap_tolerance is None:
        edges = _split(points, _node_floating(points))
        _validate(edges)
        return [e for e in edges if not (len(e[0]) < 2 or e[0][0] == e[0][1] or e[0][-1] == e[0][-2])]
    snapped, nodes = _node_snapping(points, snap_tolerance)
    edges = _split(snapped, nodes)
    return [e for e in edges if not (len(e[0]) < 2 or e[0][0] == e[0][1] or e[0][-1] == e[0][-2])]
