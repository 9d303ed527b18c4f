"""Generate and load numba code for a transform program.

A :class:`~gpucal.wcs._compile_ir.Program` becomes the source of a plain
Python function ``transform_py(v0, v1, ..., p)`` that returns the output
tuple; every number is read from the parameter array ``p``, so the source
depends on the structure only. Straight-line helpers are pasted in
(:mod:`gpucal.wcs._compile_inline`) and bounding boxes become flags applied by
selects at the end, so the function has no calls or early exits and the CPU
loops around it vectorize. Around it, per target, a module defines:

* CPU: ``transform`` (``njit``, inlined), ``points`` (parallel loop over
  coordinate arrays) and, for two inputs, ``grid`` (parallel loop over the
  rows of a pixel grid: a row is computed into contiguous buffers, then
  interleaved into ``out[row, col, k]``);
* CUDA: ``transform`` (device function), ``points`` and ``grid`` kernels
  (grid-stride loops).

Modules are written to ``<gpucal cache>/generated/wcs_<hash>_<target>.py``
and imported from there, so numba's disk cache (``cache=True``) works across
processes. The hash covers the generated source and the source of the
compiler itself, so no stale binary can be picked up after either changes.
"""

import hashlib
import importlib.util
import os
import pathlib
import sys
import threading

import numpy as np

from gpucal._version import __version__
from gpucal.engine.cache import cache_root, configure_numba_cache
from gpucal.wcs import _compile_math
from gpucal.wcs._compile_inline import expand, is_inlinable
from gpucal.wcs._compile_ir import ONE, PARAM, Lin, horner2_order

__all__ = ["GeneratedCode", "generate", "load_module"]

_TEMPLATE_VERSION = "1"
_LOCK = threading.Lock()
_MODULES = {}

_C2S_HELPERS = {
    "gwcs180": "cartesian_to_spherical_gwcs180",
    "gwcs360": "cartesian_to_spherical_gwcs360",
    "sky": "cartesian_to_spherical_sky",
    "plain": "cartesian_to_spherical_plain",
}
_HELPERS = {"s2c": "spherical_to_cartesian", "tan_x2s": "tan_pix2sky", "tan_s2x": "tan_sky2pix",
            "persp": "perspective", "inv_persp": "inverse_perspective", "interp2": "interp2_lagrange"}  # fmt: skip


class GeneratedCode:
    """Source of ``transform_py`` plus the flat parameter vector it reads."""

    def __init__(self, n_inputs, n_outputs, body, params, helpers, contract):
        self.n_inputs = n_inputs
        self.n_outputs = n_outputs
        self.body = body
        self.params = np.ascontiguousarray(params, dtype=np.float64)
        self.helpers = tuple(sorted(helpers))
        self.contract = bool(contract)
        self.key = _structure_hash(f"contract={self.contract}\n{body}", self.helpers)


class _Emitter:
    def __init__(self):
        self.lines = []
        self.params = []
        self.helpers = set()
        self.outside = []  # names of the bounding-box flags

    def param(self, value):
        self.params.append(float(value))
        return f"p[{len(self.params) - 1}]"

    def params_block(self, values):
        base = len(self.params)
        self.params.extend(float(v) for v in values)
        return base

    def line(self, text):
        self.lines.append("    " + text)


def _var(v):
    return f"v{v}"


def _emit_lin(em, op):
    for k, out in enumerate(op.outs):
        terms = []
        for j, v in enumerate(op.ins):
            kind = op.matrix_kind[k, j]
            if kind == ONE:
                terms.append(_var(v))
            elif kind == PARAM:
                terms.append(f"{em.param(op.matrix[k, j])} * {_var(v)}")
        if op.offset_kind[k] == ONE:
            terms.append("1.0")
        elif op.offset_kind[k] == PARAM:
            terms.append(em.param(op.offset[k]))
        em.line(f"{_var(out)} = {' + '.join(terms) if terms else '0.0'}")


def _emit_horner1(em, op):
    coeffs = [em.param(c) for c in op.values]
    x, out = _var(op.ins[0]), _var(op.outs[0])
    expr = coeffs[-1]
    for c in coeffs[-2::-1]:
        expr = f"{c} + ({expr}) * {x}"
    em.line(f"{out} = {expr}")


def _emit_horner2(em, op):
    """astropy ``multivariate_horner``, unrolled; terms known to be zero are left out."""
    degree = op.attrs[0]
    coeffs = [em.param(c) for c in op.values]
    x, y, out = _var(op.ins[0]), _var(op.ins[1]), _var(op.outs[0])
    order = horner2_order(degree)
    r0, r1, r2 = coeffs[0], None, None
    tmp = f"h{op.outs[0]}"
    for n in range(len(order) - 1):
        if order[n + 1][1] != order[n][1]:
            total = " + ".join(t for t in (r0, r1, r2) if t is not None)
            em.line(f"{tmp}_2 = {y} * ({total})")
            r2, r1 = f"{tmp}_2", None
        else:
            total = " + ".join(t for t in (r0, r1) if t is not None)
            em.line(f"{tmp}_1 = {x} * ({total})")
            r1 = f"{tmp}_1"
        r0 = coeffs[n + 1]
    em.line(f"{out} = {' + '.join(t for t in (r0, r1, r2) if t is not None)}")


def _emit_poly2_rows(em, op):
    """``sum_j y**j Q_j(x)``: independent Horner chains in x, then Horner in y."""
    degree = op.attrs[0]
    coeffs = iter([em.param(c) for c in op.values])
    x, y, out = _var(op.ins[0]), _var(op.ins[1]), _var(op.outs[0])
    rows = []
    for j in range(degree + 1):
        row = [next(coeffs) for _ in range(degree + 1 - j)]
        expr = row[-1]
        for c in row[-2::-1]:
            expr = f"{c} + ({expr}) * {x}"
        name = f"q{op.outs[0]}_{j}"
        em.line(f"{name} = {expr}")
        rows.append(name)
    expr = rows[-1]
    for r in rows[-2::-1]:
        expr = f"{r} + ({expr}) * {y}"
    em.line(f"{out} = {expr}")


_BINOP_TEXT = {"+": "+", "-": "-", "*": "*", "/": "/", "**": "**"}


def _emit(em, op):
    if isinstance(op, Lin):
        _emit_lin(em, op)
    elif op.kind == "horner1":
        _emit_horner1(em, op)
    elif op.kind == "horner2":
        _emit_horner2(em, op)
    elif op.kind == "poly2_rows":
        _emit_poly2_rows(em, op)
    elif op.kind == "binop":
        em.line(f"{_var(op.outs[0])} = {_var(op.ins[0])} {_BINOP_TEXT[op.attrs[0]]} {_var(op.ins[1])}")
    elif op.kind == "bbox":
        tests = []
        for k, v in enumerate(op.ins):
            lo, hi = em.param(op.values[2 * k]), em.param(op.values[2 * k + 1])
            tests.append(f"({_var(v)} < {lo}) | ({_var(v)} > {hi})")
        em.outside.append(f"outside{len(em.outside)}")
        em.line(f"{em.outside[-1]} = {' | '.join(tests)}")
    elif op.kind == "interp2":
        base = em.params_block(op.values)
        em.helpers.add(_HELPERS["interp2"])
        outs, ins = (", ".join(_var(v) for v in vs) for vs in (op.outs, op.ins))
        em.line(f"{outs} = {_HELPERS['interp2']}({ins}, p, {base})")
    else:
        helper = _C2S_HELPERS[op.attrs[0]] if op.kind == "c2s" else _HELPERS[op.kind]
        func = getattr(_compile_math, helper)
        ins, outs = [_var(v) for v in op.ins], [_var(v) for v in op.outs]
        if is_inlinable(func):
            called = {}
            for line in expand(func, ins, outs, f"t{op.outs[0]}_", called):
                em.line(line)
            em.helpers.update(called)
        else:
            em.helpers.add(helper)
            em.line(f"{', '.join(outs)} = {helper}({', '.join(ins)})")


def generate(program, *, contract=False):
    """Source and parameters of a program's ``transform_py``.

    ``contract`` lets the CPU compiler fuse multiply-adds (FMA; CUDA does so
    by default): faster, and as accurate, but not astropy's exact rounding.
    """
    em = _Emitter()
    args = ", ".join([_var(v) for v in range(program.n_inputs)] + ["p"])
    n_out = len(program.outputs)
    for op in program.ops:
        _emit(em, op)
    results = [_var(v) for v in program.outputs]
    if em.outside:
        # Computed everywhere, blanked by selects: no early exit, so CPU loops vectorize.
        em.line(f"outside = {' | '.join(em.outside)}")
        results = [f"math.nan if outside else {r}" for r in results]
    em.line(f"return ({', '.join(f'({r})' for r in results)},)")
    body = f"def transform_py({args}):\n" + "\n".join(em.lines) + "\n"
    return GeneratedCode(program.n_inputs, n_out, body, em.params, em.helpers, contract)


def _compiler_source_hash():
    digest = hashlib.sha256(f"{__version__}:{_TEMPLATE_VERSION}".encode())
    folder = pathlib.Path(__file__).parent
    for name in ("_compile_elementary.py", "_compile_math.py", "_compile_inline.py", "_compile_codegen.py"):
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()


_COMPILER_HASH = None


def _structure_hash(body, helpers):
    global _COMPILER_HASH
    if _COMPILER_HASH is None:
        _COMPILER_HASH = _compiler_source_hash()
    return hashlib.sha256(f"{_COMPILER_HASH}\n{helpers}\n{body}".encode()).hexdigest()[:20]


def _module_source(code, target):
    n_in, n_out = code.n_inputs, code.n_outputs
    ins = [f"i{k}" for k in range(n_in)]
    outs = [f"o{k}" for k in range(n_out)]
    point_args = ", ".join(["n", *ins, "p", *outs])
    point_call = f"transform({', '.join(f'{a}[k]' for a in ins)}, p)"
    lines = [
        f"# Generated by gpucal.wcs._compile_codegen ({target}); structure {code.key}. Do not edit.",
        "import math",
    ]
    if code.helpers:
        lines.append(f"from gpucal.wcs._compile_math import {', '.join(code.helpers)}")
    lines.append("")
    lines += ["", code.body]
    if target == "cpu":
        flags = "cache=True, nogil=True, error_model='numpy'" + (", fastmath={'contract'}" if code.contract else "")
        lines += [
            "import numpy as np",
            "from numba import njit, prange",
            f"transform = njit(inline='always', {flags})(transform_py)",
            "",
            f"@njit(parallel=True, {flags})",
            f"def points({point_args}):",
            "    for k in prange(n):",
            f"        r = {point_call}",
            *[f"        o{j}[k] = r[{j}]" for j in range(n_out)],
        ]
        if n_in == 2:
            # A row goes into contiguous buffers first (a loop LLVM vectorizes), then into out[row, :, :].
            lines += [
                "",
                f"@njit(parallel=True, {flags})",
                "def grid(ny, nx, p, out):",
                "    for row in prange(ny):",
                "        y = float(row)",
                *[f"        b{j} = np.empty(nx)" for j in range(n_out)],
                "        for col in range(nx):",
                "            r = transform(float(col), y, p)",
                *[f"            b{j}[col] = r[{j}]" for j in range(n_out)],
                "        for col in range(nx):",
                *[f"            out[row, col, {j}] = b{j}[col]" for j in range(n_out)],
            ]
    else:
        lines += [
            "from numba import cuda",
            "transform = cuda.jit(device=True)(transform_py)",
            "",
            "@cuda.jit(cache=True)",
            f"def points({point_args}):",
            "    k = cuda.grid(1)",
            "    step = cuda.gridsize(1)",
            "    while k < n:",
            f"        r = {point_call}",
            *[f"        o{j}[k] = r[{j}]" for j in range(n_out)],
            "        k += step",
        ]
        if n_in == 2:
            lines += [
                "",
                "@cuda.jit(cache=True)",
                "def grid(ny, nx, p, out):",
                "    k = cuda.grid(1)",
                "    step = cuda.gridsize(1)",
                "    n = ny * nx",
                "    while k < n:",
                "        row = k // nx",
                "        col = k - row * nx",
                "        r = transform(float(col), float(row), p)",
                *[f"        out[row, col, {j}] = r[{j}]" for j in range(n_out)],
                "        k += step",
            ]
    return "\n".join(lines) + "\n"


def load_module(code, target):
    """Import (writing it first if needed) the generated module of ``code`` for ``"cpu"`` or ``"gpu"``."""
    name = f"wcs_{code.key}_{target}"
    module = _MODULES.get(name)
    if module is not None:
        return module
    with _LOCK:
        module = _MODULES.get(name)
        if module is None:
            configure_numba_cache()
            source = _module_source(code, target)
            folder = cache_root() / "generated"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{name}.py"
            if not path.exists() or path.read_text() != source:
                tmp = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
                tmp.write_text(source)
                tmp.replace(path)
            module_name = f"gpucal_generated_{name}"
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
            _MODULES[name] = module
    return module
