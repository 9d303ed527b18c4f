"""Attribute access over the nested meta tree (``exposure.meta.instrument.filter``).

The tree itself is plain nested dicts, exactly what goes into the ASDF
extension; :class:`Node` is a thin view guided by the data-model schema, as
jwst's data models are: a missing leaf reads as ``None``, a missing level that
the schema defines (``meta.cal_step``) reads as an empty node that comes into
being on the first assignment below it.
"""

from gpucal.io.schema import schema_children, schema_doc

__all__ = ["Node", "meta_node"]


class Node:
    """A view of one level of a nested dict.

    Parameters
    ----------
    tree : dict or None
        The dict this node shows; ``None`` for a schema level not created yet.
    schema : dict or None
        The schema node for this level (``None`` outside the schema).
    parent : Node, optional
    key : str, optional
        Where this level lives in its parent.
    """

    __slots__ = ("_key", "_parent", "_schema", "_tree")

    def __init__(self, tree=None, schema=None, parent=None, key=None):
        object.__setattr__(self, "_tree", tree)
        object.__setattr__(self, "_schema", schema)
        object.__setattr__(self, "_parent", parent)
        object.__setattr__(self, "_key", key)

    def _materialize(self):
        if self._tree is None:
            tree = self._parent._materialize().setdefault(self._key, {})
            object.__setattr__(self, "_tree", tree)
        return self._tree

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = None if self._tree is None else self._tree.get(name)
        child_schema = schema_children(self._schema).get(name)
        if isinstance(value, dict):
            return Node(value, child_schema, self, name)
        if value is None and child_schema is not None and "props" in child_schema:
            return Node(None, child_schema, self, name)
        return value

    def __setattr__(self, name, value):
        tree = self._materialize()
        if value is None:
            tree.pop(name, None)
        else:
            tree[name] = value

    def __delattr__(self, name):
        if self._tree is not None:
            self._tree.pop(name, None)

    def __contains__(self, name):
        return self._tree is not None and name in self._tree

    def __bool__(self):
        return bool(self._tree)

    def __repr__(self):
        return f"Node({self._tree!r})"

    def to_dict(self):
        """The underlying dict (``{}`` for a level not created yet)."""
        return {} if self._tree is None else self._tree

    def get(self, dotted, default=None):
        """Value at a dotted path (``"instrument.filter"``), or ``default``."""
        node = self._tree or {}
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def set(self, dotted, value):
        """Set the value at a dotted path, creating levels; ``None`` removes it."""
        *parents, last = dotted.split(".")
        node = self._materialize()
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value


def meta_node(tree):
    """A :class:`Node` over a meta tree (the dict under the top-level ``meta`` key)."""
    return Node(tree, schema_doc()["meta"])
