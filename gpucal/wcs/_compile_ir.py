"""Intermediate representation of compiled transforms, and lowering from astropy models.

A :class:`Program` is straight-line code over float64 scalar variables
(numbered; the first ``n_inputs`` are the inputs). Each :class:`Op` reads
variables, writes new ones and carries the numeric parameters it needs. What
an op does is fixed by its *structure* (kind, variable wiring, degree,
wrapping mode, which matrix entries are structurally 0 or 1); its numbers only
become entries of the run-time parameter array. Two models with the same
layout and different values therefore give the same code.

Lowering follows astropy's evaluation exactly: ``|`` chains, ``&`` splits the
inputs, arithmetic operators combine outputs pairwise, and every leaf model
becomes the ops that reproduce its ``evaluate`` (in the order astropy applies
its operations). Inverses are taken with astropy's own ``.inverse`` before
lowering, so user-assigned inverses (JWST distortion references) are used
exactly where astropy uses them. Anything else raises :class:`Unsupported`.
"""

import dataclasses
import math
from functools import reduce

import numpy as np

__all__ = [
    "ONE",
    "PARAM",
    "ZERO",
    "Lin",
    "Op",
    "Program",
    "Unsupported",
    "bbox_intervals",
    "build_program",
    "horner2_order",
    "interp_program",
    "lower",
]

ZERO, ONE, PARAM = 0, 1, 2  # structural kind of a linear coefficient

C2S_MODES = ("gwcs180", "gwcs360", "sky", "plain")


class Unsupported(Exception):
    """A model (or bounding box) the compiler cannot translate; the message says which."""


@dataclasses.dataclass
class Op:
    """One operation: ``outs = kind(ins; attrs, values)``.

    Kinds: ``horner1`` (attrs: degree), ``horner2`` (degree; astropy's
    multivariate Horner order), ``poly2_rows`` (degree; row-wise order, made
    by the simplifier), ``s2c``,
    ``c2s`` (attrs: wrapping mode), ``tan_x2s``, ``tan_s2x``, ``persp``,
    ``inv_persp``, ``binop`` (attrs: operator), ``bbox`` (no outputs: the
    whole result is NaN when an input lies outside ``[lo, hi]``) and
    ``interp2`` (the coarse-grid fallback).
    """

    kind: str
    ins: tuple
    outs: tuple
    attrs: tuple = ()
    values: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))


@dataclasses.dataclass
class Lin:
    """Affine map ``outs = matrix @ ins + offset`` with structural 0/1/param entries.

    ``orthonormal`` marks a rotation matrix (known from the model type, never
    from the numbers): it maps unit vectors to unit vectors.
    """

    ins: tuple
    outs: tuple
    matrix: np.ndarray
    matrix_kind: np.ndarray
    offset: np.ndarray
    offset_kind: np.ndarray
    orthonormal: bool = False
    kind: str = "lin"


@dataclasses.dataclass
class Program:
    """Straight-line code: ``n_inputs`` inputs, ``ops`` in order, ``outputs`` variable ids."""

    n_inputs: int
    ops: list
    outputs: list
    n_vars: int


class _Builder:
    def __init__(self, n_inputs):
        self.n_vars = n_inputs
        self.ops = []

    def new(self, count):
        ids = tuple(range(self.n_vars, self.n_vars + count))
        self.n_vars += count
        return ids

    def op(self, kind, ins, n_out, attrs=(), values=()):
        outs = self.new(n_out)
        self.ops.append(Op(kind, tuple(ins), outs, tuple(attrs), np.asarray(values, dtype=np.float64).reshape(-1)))
        return list(outs)

    def lin(self, ins, matrix, matrix_kind, offset, offset_kind, orthonormal=False):
        matrix = np.asarray(matrix, dtype=np.float64).reshape(len(offset), len(ins))
        outs = self.new(len(offset))
        self.ops.append(
            Lin(tuple(ins), outs, matrix, np.asarray(matrix_kind, dtype=np.int8).reshape(matrix.shape),
                np.asarray(offset, dtype=np.float64), np.asarray(offset_kind, dtype=np.int8), orthonormal)
        )  # fmt: skip
        return list(outs)

    def dense_lin(self, ins, matrix, offset=None, orthonormal=False):
        matrix = np.asarray(matrix, dtype=np.float64)
        kinds = np.full(matrix.shape, PARAM)
        if offset is None:
            off, off_kind = np.zeros(matrix.shape[0]), np.zeros(matrix.shape[0], dtype=np.int8)
        else:
            off, off_kind = np.asarray(offset, dtype=np.float64).reshape(-1), np.full(matrix.shape[0], PARAM)
        return self.lin(ins, matrix, kinds, off, off_kind, orthonormal)

    def bbox(self, ins, intervals):
        values = [v for interval in intervals for v in interval]
        self.ops.append(Op("bbox", tuple(ins), (), (), np.asarray(values, dtype=np.float64)))


def _raw(model, name):
    """A parameter as ``evaluate`` receives it (angles in radians, as astropy stores them)."""
    param = getattr(model, name)
    if getattr(param, "unit", None) is not None:
        raise Unsupported(f"{type(model).__name__}: parameter {name!r} has units")
    raw = getattr(param, "_raw_value", None)
    return np.array(param.value if raw is None else raw, dtype=np.float64)


def _rotation_matrix(angles_rad, axes):
    """Product of axis rotations as astropy's ``_create_matrix`` forms it (``M_n @ ... @ M_1``)."""
    from astropy import units as u
    from astropy.coordinates import rotation_matrix

    mats = [rotation_matrix(float(a), axis, unit=u.rad) for a, axis in zip(angles_rad, axes, strict=True)]
    return reduce(np.matmul, mats[::-1])


def _domain_map(builder, var, domain, window):
    """astropy ``poly_map_domain``: ``off + scl * x`` (parameters, whatever their values)."""
    domain = np.array(domain, dtype=np.float64)
    window = np.array(window, dtype=np.float64)
    scl = (window[1] - window[0]) / (domain[1] - domain[0])
    off = (window[0] * domain[1] - window[1] * domain[0]) / (domain[1] - domain[0])
    return builder.lin([var], [[scl]], [[PARAM]], [off], [PARAM])[0]


def horner2_order(degree):
    """Exponent pairs ``(i, j)`` of ``x**i * y**j`` in astropy's inverse-lexical order."""
    pairs = [(j, i) for i in range(degree + 1) for j in range(degree + 1) if i + j <= degree]
    return pairs[::-1]


def _sky_euler(model, native_to_celestial):
    lon, lat, lon_pole = (float(_raw(model, n).reshape(-1)[0]) for n in ("lon", "lat", "lon_pole"))
    if native_to_celestial:
        return [lon_pole - np.pi / 2, -(np.pi / 2 - lat), -(np.pi / 2 + lon)]
    return [np.pi / 2 + lon, np.pi / 2 - lat, -(lon_pole - np.pi / 2)]


def _spherical_rotation(builder, ins, matrix, mode):
    vec = builder.op("s2c", ins, 3)
    rotated = builder.dense_lin(vec, matrix, orthonormal=True)
    return builder.op("c2s", rotated, 2, (mode,))


def _lower_leaf(model, ins, b):  # one branch per supported model type
    from astropy.modeling import models as m
    from gwcs import geometry

    cls = type(model)
    name = cls.__name__
    if cls is m.Identity:
        return list(ins)
    if cls is m.Mapping:
        return [ins[i] for i in model.mapping]
    if cls is m.Shift:
        return b.lin(ins, [[1.0]], [[ONE]], [_raw(model, "offset").item()], [PARAM])
    if cls in (m.Scale, m.Multiply):
        return b.lin(ins, [[_raw(model, "factor").item()]], [[PARAM]], [0.0], [ZERO])
    if cls in (m.Const1D, m.Const2D):
        return b.lin([], np.zeros((1, 0)), np.zeros((1, 0)), [_raw(model, "amplitude").item()], [PARAM])
    if cls is m.Polynomial1D:
        x = ins[0] if model.domain is None else _domain_map(b, ins[0], model.domain, model.window)
        coeffs = [_raw(model, f"c{k}").item() for k in range(model.degree + 1)]
        return b.op("horner1", [x], 1, (model.degree,), coeffs)
    if cls is m.Polynomial2D:
        x = ins[0] if model.x_domain is None else _domain_map(b, ins[0], model.x_domain, model.x_window)
        y = ins[1] if model.y_domain is None else _domain_map(b, ins[1], model.y_domain, model.y_window)
        coeffs = [_raw(model, f"c{i}_{j}").item() for i, j in horner2_order(model.degree)]
        return b.op("horner2", [x, y], 1, (model.degree,), coeffs)
    if cls is m.AffineTransformation2D:
        return b.dense_lin(ins, _raw(model, "matrix").reshape(2, 2), _raw(model, "translation").reshape(2))
    if cls is m.Rotation2D:
        angle = float(_raw(model, "angle").reshape(-1)[0])
        return b.dense_lin(ins, [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    if cls is m.RotationSequence3D:
        return b.dense_lin(ins, _rotation_matrix(_raw(model, "angles").reshape(-1), model.axes_order), orthonormal=True)
    if cls is m.SphericalRotationSequence:
        matrix = _rotation_matrix(_raw(model, "angles").reshape(-1), model.axes_order)
        return _spherical_rotation(b, ins, matrix, "plain")
    if cls is m.EulerAngleRotation:
        angles = [float(_raw(model, n).reshape(-1)[0]) for n in ("phi", "theta", "psi")]
        return _spherical_rotation(b, ins, _rotation_matrix(angles, model.axes_order), "plain")
    if cls in (m.RotateNative2Celestial, m.RotateCelestial2Native):
        angles = _sky_euler(model, cls is m.RotateNative2Celestial)
        return _spherical_rotation(b, ins, _rotation_matrix(angles, "zxz"), "sky")
    if cls is m.Pix2Sky_Gnomonic:
        return b.op("tan_x2s", ins, 2)
    if cls is m.Sky2Pix_Gnomonic:
        return b.op("tan_s2x", ins, 2)
    if cls is geometry.SphericalToCartesian:
        return b.op("s2c", ins, 3)
    if cls is geometry.CartesianToSpherical:
        return b.op("c2s", ins, 2, ("gwcs360" if model.wrap_lon_at == 360 else "gwcs180",))
    raise Unsupported(f"model type {name} is not supported by the transform compiler")


_BINOPS = {"+": "+", "-": "-", "*": "*", "/": "/", "**": "**"}


def lower(model, ins, builder):
    """Append the ops of ``model`` applied to variables ``ins``; return its output variables."""
    from astropy.modeling import CompoundModel
    from gwcs.fitswcs import FITSImagingWCSTransform

    if len(ins) != model.n_inputs:
        raise Unsupported(f"{type(model).__name__}: expects {model.n_inputs} inputs, got {len(ins)}")
    if isinstance(model, CompoundModel):
        if model.op == "|":
            return lower(model.right, lower(model.left, ins, builder), builder)
        if model.op == "&":
            split = model.left.n_inputs
            return lower(model.left, ins[:split], builder) + lower(model.right, ins[split:], builder)
        if model.op in _BINOPS:
            left = lower(model.left, ins, builder)
            right = lower(model.right, ins, builder)
            if len(left) != len(right):
                raise Unsupported(f"operator {model.op!r} between models with {len(left)} and {len(right)} outputs")
            return [builder.op("binop", (a, c), 1, (model.op,))[0] for a, c in zip(left, right, strict=True)]
        raise Unsupported(f"compound operator {model.op!r} is not supported")
    if len(model) != 1:
        raise Unsupported(f"{type(model).__name__}: model sets are not supported")
    if type(model) is FITSImagingWCSTransform:
        return lower(model.forward, ins, builder)
    outs = _lower_leaf(model, list(ins), builder)
    if len(outs) != model.n_outputs:
        raise Unsupported(f"{type(model).__name__}: produced {len(outs)} outputs, expected {model.n_outputs}")
    return outs


def bbox_intervals(bbox, n_inputs):
    """``[(index, lo, hi)]`` of a ``ModelBoundingBox`` (or ``None``); other boxes are unsupported."""
    from astropy.modeling.bounding_box import ModelBoundingBox

    if bbox is None:
        return []
    if not isinstance(bbox, ModelBoundingBox):
        raise Unsupported(f"bounding box of type {type(bbox).__name__} is not supported")
    out = []
    for index, interval in sorted(bbox.intervals.items()):
        if not 0 <= index < n_inputs:
            raise Unsupported(f"bounding box names input {index} of a {n_inputs}-input transform")
        lo, hi = (float(np.asarray(getattr(v, "value", v))) for v in (interval.lower, interval.upper))
        out.append((index, lo, hi))
    return out


def build_program(n_inputs, stages):
    """Lower a chain of ``(model, bbox_intervals)`` stages into a :class:`Program`.

    Each stage's box (``[(input index, lo, hi)]``) is checked on that stage's
    inputs, as astropy does for a model called with ``with_bounding_box=True``.
    """
    builder = _Builder(n_inputs)
    current = list(range(n_inputs))
    for model, intervals in stages:
        if intervals:
            builder.bbox([current[i] for i, _, _ in intervals], [(lo, hi) for _, lo, hi in intervals])
        current = lower(model, current, builder)
    return Program(n_inputs, builder.ops, current, builder.n_vars)


def interp_program(intervals, grid_values):
    """The coarse-grid fallback: box check, then bicubic interpolation of a 2-output map."""
    builder = _Builder(2)
    if intervals:
        builder.bbox([i for i, _, _ in intervals], [(lo, hi) for _, lo, hi in intervals])
    outs = builder.op("interp2", (0, 1), 2, (), grid_values)
    return Program(2, builder.ops, outs, builder.n_vars)
