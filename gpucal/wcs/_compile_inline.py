"""Source-level inlining of straight-line helpers into generated transforms.

numba can inline ``register_jitable`` helpers (``inline="always"``), but a
helper containing a conditional expression that is inlined twice into one
function trips numba's SSA checks (``NumbaIRAssumptionWarning``), and without
inlining LLVM leaves calls in the pixel loop, which blocks vectorization.
So the code generator pastes helper bodies into the generated function
itself: every local gets a unique prefix, parameters become the argument
variables, module constants become literals (``repr`` of a float is exact),
nested helper calls are expanded the same way, and the final ``return``
becomes assignments to the requested output variables.

Only *straight-line* helpers qualify: assignments (conditional expressions
allowed) and one final ``return``. Anything else is called as a function.
"""

import ast
import copy
import functools
import inspect
import math
import textwrap

__all__ = ["expand", "is_inlinable"]

_BUILTINS = frozenset({"abs", "float", "int", "min", "max"})


@functools.cache
def _parse(func):
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    fdef = tree.body[0]
    if not isinstance(fdef, ast.FunctionDef):
        raise TypeError(f"{func.__name__}: not a function definition")
    body = list(fdef.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # docstring
    return [a.arg for a in fdef.args.args], body


@functools.cache
def is_inlinable(func):
    """True for a helper made of assignments and a single final ``return``."""
    try:
        _, body = _parse(func)
    except (OSError, TypeError, SyntaxError):
        return False
    if not body or not isinstance(body[-1], ast.Return) or body[-1].value is None:
        return False
    return all(isinstance(stmt, ast.Assign) for stmt in body[:-1])


class _Rewriter(ast.NodeTransformer):
    def __init__(self, func, names, called):
        self.globals = func.__globals__
        self.names = names
        self.called = called

    def visit_Name(self, node):
        if node.id in self.names:
            return ast.copy_location(ast.Name(self.names[node.id], node.ctx), node)
        if isinstance(node.ctx, ast.Load) and node.id in _BUILTINS and node.id not in self.globals:
            return node
        if isinstance(node.ctx, ast.Load) and node.id in self.globals:
            value = self.globals[node.id]
            if isinstance(value, float | int) and not isinstance(value, bool) and math.isfinite(value):
                return ast.copy_location(ast.Constant(float(value) if isinstance(value, float) else value), node)
            if value is math:
                return node
            if callable(value):
                self.called[node.id] = value
                return node
        raise ValueError(f"cannot inline a reference to {node.id!r}")


def _targets(target):
    if isinstance(target, ast.Tuple):
        return [elt.id for elt in target.elts]
    return [target.id]


def _inlinable_call(node, func):
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        callee = func.__globals__.get(node.func.id)
        if callable(callee) and is_inlinable(callee) and not node.keywords:
            return callee
    return None


def expand(func, args, outs, prefix, called=None):
    """Source lines computing ``outs = func(*args)`` with ``func``'s body pasted in.

    Parameters
    ----------
    func : callable
        An inlinable helper (see :func:`is_inlinable`).
    args : list of str
        Variable names passed as the arguments.
    outs : list of str
        Variable names to assign the returned values to.
    prefix : str
        Unique prefix for the helper's locals.
    called : dict, optional
        Filled with ``name -> function`` of the (non-inlinable) helpers the
        pasted code still calls, which the generated module must import.

    Returns
    -------
    list of str
    """
    called = {} if called is None else called
    params, body = _parse(func)
    if len(params) != len(args):
        raise TypeError(f"{func.__name__}: expects {len(params)} arguments, got {len(args)}")
    names = dict(zip(params, args, strict=True))
    lines = []
    counter = [0]

    def emit_value(value, target_names):
        callee = _inlinable_call(value, func)
        if callee is not None:
            inner_args = []
            for arg in value.args:
                if isinstance(arg, ast.Name) and arg.id in names:
                    inner_args.append(names[arg.id])
                else:  # an expression argument: evaluate it into a temporary first
                    counter[0] += 1
                    tmp = f"{prefix}a{counter[0]}"
                    lines.append(f"{tmp} = {ast.unparse(_Rewriter(func, names, called).visit(copy.deepcopy(arg)))}")
                    inner_args.append(tmp)
            counter[0] += 1
            lines.extend(expand(callee, inner_args, target_names, f"{prefix}{counter[0]}_", called))
            return
        expr = _Rewriter(func, names, called).visit(copy.deepcopy(value))  # the parsed tree is cached
        if isinstance(expr, ast.Tuple) and len(expr.elts) == len(target_names) and len(target_names) > 1:
            for name, elt in zip(target_names, expr.elts, strict=True):
                lines.append(f"{name} = {ast.unparse(elt)}")
        else:
            lines.append(f"{', '.join(target_names)} = {ast.unparse(expr)}")

    for stmt in body[:-1]:
        if len(stmt.targets) != 1:
            raise ValueError(f"{func.__name__}: chained assignment")
        source_names = _targets(stmt.targets[0])
        value = stmt.value
        # Evaluate with the current names, then bind the targets to fresh ones (re-assignment safe).
        fresh = []
        for name in source_names:
            counter[0] += 1
            fresh.append(f"{prefix}{name}_{counter[0]}")
        emit_value(value, fresh)
        for name, new in zip(source_names, fresh, strict=True):
            names[name] = new
    emit_value(body[-1].value, list(outs))
    return lines
