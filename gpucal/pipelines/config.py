"""jwst parameter files and ``--steps.<step>.<param>=<value>`` options.

A jwst parameter file (ASDF, or YAML of the same shape) looks like::

    class: jwst.pipeline.Image2Pipeline
    name: Image2Pipeline
    parameters: {save_bsub: false, ...}
    steps:
    - class: jwst.flatfield.flat_field_step.FlatFieldStep
      name: flat_field
      parameters: {skip: false, override_flat: my_flat.fits, ...}

gpucal reads such files unchanged. Values are merged in order of precedence:
built-in defaults < per-exposure defaults (jwst's parameter references) <
the parameter file < command-line / ``steps=`` values.
"""

import pathlib
import re
import warnings

from gpucal.errors import ParameterError

__all__ = ["merge_step_params", "parse_step_options", "read_parameter_file"]

_OPTION = re.compile(r"^--steps\.([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)(?:=(.*))?$")


def read_parameter_file(path):
    """Read a jwst parameter file.

    Returns
    -------
    class_name : str
        The ``class`` the file is for ("" if absent).
    pipeline_params : dict
        Pipeline-level parameters.
    step_params : dict
        ``{step alias: {param: value}}``.

    Raises
    ------
    ParameterError
        Unreadable file, or a file that is not a pipeline parameter file.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ParameterError(f"--config: {path}: no such file")
    try:
        if path.suffix.lower() == ".asdf":
            import asdf

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with asdf.open(path, lazy_load=False) as af:
                    doc = _plain_tree(af.tree)
        else:
            import yaml

            doc = yaml.safe_load(path.read_text())
    except ParameterError:
        raise
    except Exception as exc:
        raise ParameterError(f"--config: {path}: unreadable parameter file ({_one_line(exc)})") from exc
    if not isinstance(doc, dict):
        raise ParameterError(f"--config: {path}: not a parameter file (expected a mapping)")
    pipeline_params = _mapping(doc.get("parameters"), path, "'parameters'")
    step_params = {}
    steps = doc.get("steps") or []
    if isinstance(steps, dict):
        steps = [{"name": k, "parameters": v} for k, v in steps.items()]
    if not isinstance(steps, list):
        raise ParameterError(f"--config: {path}: 'steps' must be a list of steps, not {type(steps).__name__}")
    for entry in steps:
        if not isinstance(entry, dict) or "name" not in entry:
            raise ParameterError(f"--config: {path}: each entry of 'steps' needs a 'name'")
        name = str(entry["name"])
        step_params[name] = _mapping(entry.get("parameters"), path, f"step {name!r} 'parameters'")
    return str(doc.get("class") or doc.get("name") or ""), pipeline_params, step_params


def _mapping(value, path, what):
    """``value`` as a dict (None or absent: empty); anything else is a malformed parameter file."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParameterError(f"--config: {path}: {what} must be a mapping, not {type(value).__name__}")
    return dict(value)


def _one_line(exc):
    """A parser error as one line: YAML's multi-line excerpt becomes ``problem at line L column C``.

    PyYAML errors quote the offending text with a caret under it over several
    lines and name the stream ``"<unicode string>"``; a command-line error must
    be one line naming the file once, so only the problem and its position are kept.
    """
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem:
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        context = getattr(exc, "context", None)
        context_mark = getattr(exc, "context_mark", None)
        if context and context_mark is not None:
            context = f"{context} from line {context_mark.line + 1} column {context_mark.column + 1}"
        text = f"YAML: {problem}{where}" + (f" ({context})" if context else "")
    else:
        text = f"{exc.__class__.__name__}: {exc}"
    return " ".join(text.split())


def _plain_tree(node):
    if isinstance(node, dict):
        return {str(k): _plain_tree(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_plain_tree(v) for v in node]
    return node


def parse_step_options(args):
    """Split ``--steps.<step>.<param>=<value>`` (or ``... <value>``) options from other arguments.

    Returns
    -------
    steps : dict
        ``{step alias: {param: value string}}``.
    rest : list of str
        Arguments that are not step options.
    """
    steps, rest = {}, []
    i = 0
    while i < len(args):
        arg = args[i]
        match = _OPTION.match(arg)
        if match is None:
            if arg.startswith("--steps"):
                raise ParameterError(f"{arg}: expected --steps.<step>.<parameter>=<value>")
            rest.append(arg)
            i += 1
            continue
        step, param, value = match.groups()
        if value is None:
            if i + 1 >= len(args):
                raise ParameterError(f"{arg}: missing value")
            value = args[i + 1]
            i += 1
        steps.setdefault(step, {})[param] = value
        i += 1
    return steps, rest


def merge_step_params(*layers):
    """Merge ``{step: {param: value}}`` layers, later layers winning."""
    merged = {}
    for layer in layers:
        for step, params in (layer or {}).items():
            merged.setdefault(step, {}).update(params or {})
    return merged
