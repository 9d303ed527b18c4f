"""The S_REGION polygon engine against stcal's shapely (GEOS) code, vertex for vertex."""

import numpy as np
import pytest

from gpucal.resample._grid_overlay import intersection, simplify_by_angle, union_all


def _quad(x0, y0, width, height, angle):
    c, s = np.cos(angle), np.sin(angle)
    corners = np.array(
        [(-width / 2, -height / 2), (-width / 2, height / 2), (width / 2, height / 2), (width / 2, -height / 2)]
    )
    return corners @ np.array([[c, s], [-s, c]]) + [x0, y0]


def _scene(rng, kind):
    """Footprints in output pixels (as jwst has them when combining S_REGIONs) and an output box."""
    if kind == "dithers":
        angle = rng.uniform(-np.pi, np.pi)
        footprints = [
            _quad(*rng.uniform(15, 30, 2), 24, 20, angle + rng.normal(0, 0.01)) for _ in range(rng.integers(1, 7))
        ]
    elif kind == "many":  # more than 10 inputs: GEOS's STR tree splits them into slices
        angle = rng.uniform(-np.pi, np.pi)
        footprints = [
            _quad(*rng.uniform(0, 60, 2), 20, 18, angle + rng.normal(0, 0.003)) for _ in range(rng.integers(11, 25))
        ]
    elif kind == "detectors":  # 2 x 2 detectors with gaps, a few dithers
        angle = rng.uniform(-np.pi, np.pi)
        rotation = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
        footprints = []
        for _ in range(rng.integers(1, 4)):
            offset = rng.uniform(-3, 3, 2)
            for ix in (0, 1):
                for iy in (0, 1):
                    centre = (np.array([ix * 22, iy * 22]) + offset) @ rotation + 50
                    footprints.append(_quad(*centre, 20, 20, angle))
    elif kind == "identical":  # repeated exposures at one position
        quad = _quad(30, 30, 20, 15, rng.uniform(-np.pi, np.pi))
        footprints = [quad.copy() for _ in range(rng.integers(2, 4))] + (
            [_quad(35, 33, 20, 15, 0.3)] if rng.random() < 0.5 else []
        )
    else:  # "hole": four strips around an uncovered square
        angle = rng.uniform(-0.5, 0.5)
        strips = [(-12, 0, 6, 30), (12, 0, 6, 30), (0, -12, 30, 6), (0, 12, 30, 6)]
        footprints = [_quad(30 + dx, 30 + dy, w, h, angle) for dx, dy, w, h in strips]
    if rng.random() < 0.3:
        footprints = [f[::-1] for f in footprints]
    vertices = np.vstack(footprints)
    low, high = vertices.min(0), vertices.max(0)
    if rng.random() < 0.6:  # the default grid: lower edges outside, upper edges cut up to one pixel inside
        box = np.array([
            (low[0] - 0.3, low[1] - 0.2), (low[0] - 0.3, high[1] - rng.uniform(0, 1)),
            (high[0] - rng.uniform(0, 1), high[1] - rng.uniform(0, 1)), (high[0] - rng.uniform(0, 1), low[1] - 0.2),
        ])  # fmt: skip
    else:  # a user output_shape / crpix cutting through the footprints
        cx, cy = rng.uniform(low, high)
        w, h = rng.uniform(3, 40, 2)
        box = np.array([(cx - w, cy - h), (cx - w, cy + h), (cx + w, cy + h), (cx + w, cy - h)])
    return footprints, box


def _ours(footprints, box):
    merged = [simplify_by_angle(np.array(shell[:-1])) for shell, _ in union_all(footprints)]
    clipped = [simplify_by_angle(np.array(shell[:-1])) for polygon in merged for shell, _ in intersection(polygon, box)]
    return merged, clipped


@pytest.mark.parametrize("kind", ["dithers", "many", "detectors", "identical", "hole"])
def test_union_and_clip_match_shapely_vertex_for_vertex(kind):
    """Same polygons, same vertices in the same order and from the same start as stcal's shapely calls."""
    pytest.importorskip("shapely")
    from stcal.alignment.resample_utils import _intersect_with_bbox, combine_footprints

    rng = np.random.default_rng(sum(map(ord, kind)))
    compared = 0
    for _ in range(20):
        footprints, box = _scene(rng, kind)
        with np.errstate(divide="ignore", invalid="ignore"):  # stcal's own slope arithmetic
            expected_merged = combine_footprints(footprints)
            try:
                expected_clipped = _intersect_with_bbox(expected_merged, box)
            except AttributeError:
                continue  # jwst 3.0 itself fails when the box cuts one merged polygon in several parts
        merged, clipped = _ours(footprints, box)
        for mine, theirs in ((merged, expected_merged), (clipped, expected_clipped)):
            assert len(mine) == len(theirs)
            for a, b in zip(mine, theirs, strict=True):
                assert a.shape == b.shape
                np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
        compared += 1
    assert compared >= 12


def test_clip_into_several_pieces_keeps_each_piece():
    """A U-shaped union cut by the box into two parts: both parts, as shapely's MultiPolygon lists them."""
    shapely = pytest.importorskip("shapely")

    u_shape = [_quad(5, 10, 4, 20, 0.0), _quad(15, 10, 4, 20, 0.0), _quad(10, 2, 14, 4, 0.0)]
    box = np.array([(0, 6), (0, 30), (30, 30), (30, 6)], dtype=float)
    (merged,) = [simplify_by_angle(np.array(shell[:-1])) for shell, _ in union_all(u_shape)]
    pieces = [np.array(shell[:-1]) for shell, _ in intersection(merged, box)]
    expected = shapely.intersection(shapely.Polygon(merged), shapely.Polygon(box))
    assert expected.geom_type == "MultiPolygon" and len(pieces) == len(expected.geoms) == 2
    for piece, geom in zip(pieces, expected.geoms, strict=True):
        np.testing.assert_allclose(piece, np.array(geom.exterior.coords)[:-1], rtol=0, atol=1e-12)


def test_disjoint_box_gives_nothing():
    assert intersection(_quad(0, 0, 2, 2, 0.0), _quad(10, 10, 2, 2, 0.0)) == []


def test_simplify_by_angle_matches_stcal():
    pytest.importorskip("stcal")
    from stcal.alignment.resample_utils import _simplify_by_angle

    rng = np.random.default_rng(7)
    for _ in range(50):
        ring = rng.uniform(0, 50, (rng.integers(4, 12), 2))
        ring[rng.integers(len(ring))] = ring[0] + rng.uniform(-0.04, 0.04, 2)  # a near-duplicate vertex
        a, b = ring[1], ring[2]
        ring = np.insert(ring, 2, (a + b) / 2, axis=0)  # a collinear vertex
        with np.errstate(divide="ignore", invalid="ignore"):
            np.testing.assert_array_equal(simplify_by_angle(ring), _simplify_by_angle(ring))


def test_degenerate_polygons_are_rejected():
    with pytest.raises(ValueError, match="3 vertices"):
        union_all([np.array([(0.0, 0.0), (1.0, 1.0)])])
    with pytest.raises(ValueError, match="finite"):
        union_all([np.array([(0.0, 0.0), (1.0, np.nan), (2.0, 0.0)])])
