"""Algebraic simplification of compiled-transform programs.

Every rewrite here is decided by the program's *structure* only (op kinds,
wiring, rotation flags), never by parameter values, so all exposures of one
layout still share one compiled kernel. Numbers are combined on the host in
float64; results change only by rounding (a few 1e-16 relative), far inside
the 1e-6 pixel target. The rewrites, applied until nothing changes:

* polynomials of degree <= 1 become affine maps (and, at the end, 2-D
  polynomials are re-associated row by row for a shorter dependency chain);
* affine maps feeding affine maps are composed into one (chains of shifts,
  scales, affine transformations, rotations, unit conversions...);
* ``spherical -> unit vector`` applied to the angles of a known unit vector
  gives the vector back, so ``rotation | C2S | S2C | rotation`` becomes one
  rotation (e.g. the input WCS's V2V3-to-sky rotation followed by the output
  grid's celestial-to-native rotation: the sky coordinate is never formed);
* ``C2S | Sky2Pix_TAN`` becomes a central projection of the vector, and
  ``Pix2Sky_TAN | S2C`` its inverse (no trigonometry);
* dead code elimination.
"""

import dataclasses

import numpy as np

from gpucal.wcs._compile_ir import ONE, PARAM, ZERO, Lin, Op, Program, horner2_order

__all__ = ["simplify"]


def _kind_mul(a, b):
    if a == ZERO or b == ZERO:
        return ZERO
    if a == ONE and b == ONE:
        return ONE
    return PARAM


def _kind_add(a, b):
    if a == ZERO:
        return b
    if b == ZERO:
        return a
    return PARAM


def _producers(ops):
    prod = {}
    for op in ops:
        for k, v in enumerate(op.outs):
            prod[v] = (op, k)
    return prod


def _param_lin(ins, outs, coeffs, const):
    """``out = sum(coeffs * ins) + const`` with every entry a parameter."""
    matrix = np.array([coeffs], dtype=np.float64).reshape(1, len(ins))
    kinds = np.full(matrix.shape, PARAM, np.int8)
    return Lin(tuple(ins), outs, matrix, kinds, np.array([const]), np.array([PARAM], np.int8))


def _polys_to_lin(ops):
    changed = False
    for idx, op in enumerate(ops):
        if op.kind == "horner1" and op.attrs[0] <= 1:
            c = op.values
            ins, coeffs = ((), []) if op.attrs[0] == 0 else (op.ins, [c[1]])
            ops[idx] = _param_lin(ins, op.outs, coeffs, c[0])
            changed = True
        elif op.kind == "horner2" and op.attrs[0] <= 1:
            if op.attrs[0] == 0:
                ops[idx] = _param_lin((), op.outs, [], op.values[0])
            else:  # values in inverse-lexical order: c0_1, c1_0, c0_0
                c01, c10, c00 = op.values
                ops[idx] = _param_lin(op.ins, op.outs, [c10, c01], c00)
            changed = True
    return changed


def _polys_by_rows(ops):
    """Re-associate 2-D polynomials as ``sum_j y**j Q_j(x)`` (Horner in x per row, then in y).

    astropy's multivariate Horner scheme is one long dependent chain; rows are
    independent, which halves the critical path (same monomials, reordered
    sums; rounding-level differences only).
    """
    changed = False
    for idx, op in enumerate(ops):
        if op.kind == "horner2":
            degree = op.attrs[0]
            by_pair = dict(zip(horner2_order(degree), op.values, strict=True))
            values = [by_pair[(i, j)] for j in range(degree + 1) for i in range(degree + 1 - j)]
            ops[idx] = Op("poly2_rows", op.ins, op.outs, op.attrs, np.array(values))
            changed = True
    return changed


def _compose(lin, prod):
    """``lin`` with every input produced by another affine map substituted; None if nothing to do."""
    sources = [prod.get(v) for v in lin.ins]
    if not any(s is not None and isinstance(s[0], Lin) for s in sources):
        return None
    n_out = len(lin.outs)
    rows = []
    for k in range(n_out):
        terms = {}
        off, off_kind = float(lin.offset[k]), int(lin.offset_kind[k])
        for j, v in enumerate(lin.ins):
            a, ak = float(lin.matrix[k, j]), int(lin.matrix_kind[k, j])
            if ak == ZERO:
                continue
            src = sources[j]
            if src is not None and isinstance(src[0], Lin):
                inner, m = src
                for jj, u in enumerate(inner.ins):
                    bk = int(inner.matrix_kind[m, jj])
                    if bk != ZERO:
                        val, kind = terms.get(u, (0.0, ZERO))
                        terms[u] = (val + a * float(inner.matrix[m, jj]), _kind_add(kind, _kind_mul(ak, bk)))
                if inner.offset_kind[m] != ZERO:
                    off += a * float(inner.offset[m])
                    off_kind = _kind_add(off_kind, _kind_mul(ak, int(inner.offset_kind[m])))
            else:
                val, kind = terms.get(v, (0.0, ZERO))
                terms[v] = (val + a, _kind_add(kind, ak))
        rows.append((terms, off, off_kind))
    ins = []
    for terms, _, _ in rows:
        ins.extend(u for u in terms if u not in ins)
    matrix = np.zeros((n_out, len(ins)))
    kinds = np.zeros((n_out, len(ins)), np.int8)
    for k, (terms, _, _) in enumerate(rows):
        for u, (val, kind) in terms.items():
            matrix[k, ins.index(u)] = val
            kinds[k, ins.index(u)] = kind
    offsets = np.array([r[1] for r in rows])
    offset_kinds = np.array([r[2] for r in rows], np.int8)
    inner_ops = {id(s[0]): s[0] for s in sources if s is not None and isinstance(s[0], Lin)}
    single = next(iter(inner_ops.values())) if len(inner_ops) == 1 else None
    orthonormal = bool(
        lin.orthonormal and single is not None and single.orthonormal
        and all(s is not None and s[0] is single for s in sources) and set(lin.ins) == set(single.outs)
    )  # fmt: skip
    return Lin(tuple(ins), lin.outs, matrix, kinds, offsets, offset_kinds, orthonormal)


def _compose_lins(ops):
    changed = False
    prod = _producers(ops)
    for idx, op in enumerate(ops):
        if isinstance(op, Lin):
            new = _compose(op, prod)
            if new is not None:
                ops[idx] = new
                for k, v in enumerate(new.outs):
                    prod[v] = (new, k)
                changed = True
    return changed


def _unit_triples(ops):
    """Variable triples known to hold unit vectors (from the op types, not the numbers)."""
    units = set()
    for op in ops:
        rotated_unit = (
            isinstance(op, Lin) and op.orthonormal and len(op.outs) == 3 and frozenset(op.ins) in units
            and not op.offset_kind.any()
        )  # fmt: skip
        if op.kind in ("s2c", "inv_persp") or rotated_unit:
            units.add(frozenset(op.outs))
    return units


def _rename(ops, outputs, mapping):
    def sub(vs):
        return tuple(mapping.get(v, v) for v in vs)

    for op in ops:
        op.ins = sub(op.ins)
    outputs[:] = list(sub(outputs))


def _fold_sphere(ops, outputs):
    prod = _producers(ops)
    units = _unit_triples(ops)
    for idx, op in enumerate(ops):
        if op.kind != "s2c":
            continue
        src_lon, src_lat = prod.get(op.ins[0]), prod.get(op.ins[1])
        if src_lon is None or src_lat is None or src_lon[0] is not src_lat[0]:
            continue
        c2s = src_lon[0]
        if c2s.kind == "c2s" and src_lon[1] == 0 and src_lat[1] == 1 and frozenset(c2s.ins) in units:
            del ops[idx]
            _rename(ops, outputs, dict(zip(op.outs, c2s.ins, strict=True)))
            return True
    return False


def _fuse_perspective(ops):
    prod = _producers(ops)
    changed = False
    for idx, op in enumerate(ops):
        srcs = [prod.get(v) for v in op.ins]
        if len(srcs) != 2 or any(s is None for s in srcs) or srcs[0][0] is not srcs[1][0]:
            continue
        src = srcs[0][0]
        if srcs[0][1] != 0 or srcs[1][1] != 1:
            continue
        if op.kind == "tan_s2x" and src.kind == "c2s":
            ops[idx] = Op("persp", src.ins, op.outs)
            changed = True
        elif op.kind == "s2c" and src.kind == "tan_x2s":
            ops[idx] = Op("inv_persp", src.ins, op.outs)
            changed = True
    return changed


def _dead_code(ops, outputs):
    live = set(outputs)
    keep = []
    for op in reversed(ops):
        if op.kind == "bbox" or any(v in live for v in op.outs):
            keep.append(op)
            live.update(op.ins)
    changed = len(keep) != len(ops)
    ops[:] = keep[::-1]
    return changed


def simplify(program):
    """Return a simplified copy of ``program`` (same inputs and outputs, fewer and cheaper ops)."""
    ops = [_copy(op) for op in program.ops]
    outputs = list(program.outputs)
    changed = True
    while changed:
        changed = _polys_to_lin(ops)
        changed |= _compose_lins(ops)
        changed |= _dead_code(ops, outputs)
        changed |= _fold_sphere(ops, outputs)
        changed |= _fuse_perspective(ops)
        changed |= _dead_code(ops, outputs)
    _polys_by_rows(ops)
    return Program(program.n_inputs, ops, outputs, program.n_vars)


def _copy(op):
    if isinstance(op, Lin):
        arrays = ("matrix", "matrix_kind", "offset", "offset_kind")
        return dataclasses.replace(op, **{name: getattr(op, name).copy() for name in arrays})
    return Op(op.kind, op.ins, op.outs, op.attrs, op.values.copy())
