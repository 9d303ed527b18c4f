"""Step parameters: typed, validated, with jwst's names and defaults.

Each step declares its parameters as fields of a frozen dataclass, with the
name, default and constraints of the corresponding jwst step spec (a
constraint lives in the field's metadata: ``min``, ``max``, ``choices``,
``length``). Values from the command line arrive as strings and are coerced
from the field's annotation; values from jwst parameter files arrive typed.
A bad value raises :class:`~gpucal.errors.ParameterError` naming the step and
the parameter.
"""

import dataclasses
import types
import typing

from gpucal.errors import ParameterError

__all__ = ["coerce", "field", "validate"]

_TRUE = {"true", "yes", "on", "1", "t", "y"}
_FALSE = {"false", "no", "off", "0", "f", "n"}


def field(default=None, *, doc="", **constraints):
    """A parameter with a default, a one-line description and constraints (min/max/choices/length)."""
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda d=default: type(d)(d), metadata={"doc": doc, **constraints})
    return dataclasses.field(default=default, metadata={"doc": doc, **constraints})


def _base_types(annotation):
    """The non-None members of an annotation (``float | None`` -> ``(float,)``)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return tuple(a for a in typing.get_args(annotation) if a is not type(None))
    return (annotation,)


def _allows_none(annotation):
    origin = typing.get_origin(annotation)
    return origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation)


def _split(text):
    return [part for part in str(text).replace(",", " ").split() if part]


def coerce(where, name, value, annotation):
    """Convert ``value`` (possibly a command-line string) to the parameter's type.

    Parameters
    ----------
    where : str
        Step alias, for messages.
    name : str
        Parameter name.
    value : object
    annotation : type
        The dataclass field's annotation.
    """
    label = f"{where}.{name}"
    if value is None:
        if _allows_none(annotation) or annotation is typing.Any:
            return None
        raise ParameterError(f"{label}: None is not allowed")
    if isinstance(value, str) and value.strip().lower() in ("none", "null") and _allows_none(annotation):
        return None
    for kind in _base_types(annotation):
        origin = typing.get_origin(kind) or kind
        try:
            if kind is typing.Any:
                return value
            if kind is bool:
                if isinstance(value, bool):
                    return value
                if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                    return value.strip().lower() in _TRUE
                if isinstance(value, int) and value in (0, 1):
                    return bool(value)
                continue
            if kind is int:
                if isinstance(value, bool):
                    continue
                if isinstance(value, float) and not value.is_integer():
                    continue
                return int(value)
            if kind is float:
                if isinstance(value, bool):
                    continue
                return float(value)
            if kind is str:
                return str(value)
            if origin in (tuple, list):
                items = _split(value) if isinstance(value, str) else list(value)
                args = typing.get_args(kind)
                item_type = args[0] if args else str
                return tuple(coerce(where, name, item, item_type) for item in items)
            if origin is dict and isinstance(value, dict):
                return dict(value)
        except (TypeError, ValueError):
            continue
    raise ParameterError(f"{label}: {value!r} is not a valid {_describe(annotation)}")


def _describe(annotation):
    names = []
    for kind in _base_types(annotation):
        origin = typing.get_origin(kind) or kind
        names.append(getattr(origin, "__name__", str(kind)))
    if _allows_none(annotation):
        names.append("None")
    return " or ".join(names)


def validate(where, name, value, metadata):
    """Check a coerced value against the field's constraints."""
    if value is None:
        return
    label = f"{where}.{name}"
    choices = metadata.get("choices")
    if choices is not None:
        probe = value.lower() if isinstance(value, str) else value
        if probe not in choices:
            raise ParameterError(f"{label}: {value!r} is not one of {', '.join(map(str, choices))}")
    values = value if isinstance(value, tuple) else (value,)
    for item in values:
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            if "min" in metadata and item < metadata["min"]:
                raise ParameterError(f"{label}: {value!r} is below the minimum {metadata['min']}")
            if "max" in metadata and item > metadata["max"]:
                raise ParameterError(f"{label}: {value!r} is above the maximum {metadata['max']}")
    length = metadata.get("length")
    if length is not None and isinstance(value, tuple) and len(value) != length:
        raise ParameterError(f"{label}: expected {length} values, got {len(value)}")
