"""The reverse pass, and ``grad``/``value_and_grad`` over nested arguments.

``value_and_grad(fun)(*args)`` replaces the differentiated arguments by
:class:`~fnn.tape.array.TracedArray` leaves, runs ``fun`` (which records the
graph as it computes), then walks the graph once from the output back to the
leaves. The walk is iterative (a chain of a million nodes needs no recursion)
and releases memory as it goes: each node hands its gradient to its inputs and
then drops its saved values, its VJP arguments and its own gradient.
"""
import functools

import numpy as np

from .._validate import describe
from .array import TracedArray

__all__ = ["backward", "grad", "value_and_grad"]


def backward(out):
    """Accumulate d out / d leaf into ``leaf.g`` for every leaf reachable from ``out``.

    ``out`` is a traced array of size 1. Intermediate nodes are consumed: their
    values and saved arguments are released once their VJPs have run.
    """
    # Pass 1: for every node, count the edges from consumers that will send it a
    # gradient. A node is ready once all of them have (Kahn's algorithm), which
    # visits nodes in reverse topological order without recursion.
    stack = [out]
    while stack:
        node = stack.pop()
        for _, parent in node.parents:
            if parent.refs == 0:
                stack.append(parent)
            parent.refs += 1

    out.g = np.ones(out.value.shape, dtype=out.value.dtype)
    ready = [out]
    while ready:
        node = ready.pop()
        parents = node.parents
        if not parents:  # a leaf keeps its gradient for the caller
            continue
        g, ans, args, kwargs, prim = node.g, node.value, node.args, node.kwargs, node.prim
        node.g = node.value = node.args = node.kwargs = None
        node.parents = ()
        vjps = prim.vjps
        for argnum, parent in parents:
            if vjps is not None:
                gi = vjps[argnum](g, ans, *args, **kwargs)
            else:
                gi = prim.vjp_argnum(argnum, g, ans, *args, **kwargs)
            primal = parent.value
            if gi.shape != primal.shape:
                raise AssertionError(f"fnn.tape: VJP of {prim.name} for argument {argnum} has shape "
                                     f"{gi.shape}; expected {primal.shape}")
            if gi.dtype != primal.dtype:
                gi = gi.astype(primal.dtype)
            # Out of place: a VJP may hand the same array (or a view of g) to several inputs.
            parent.g = gi if parent.g is None else parent.g + gi
            parent.refs -= 1
            if parent.refs == 0:
                ready.append(parent)
        del g, ans, args, kwargs


# ---------------------------------------------------------------- nested arguments


def _flatten(tree, path, leaves):
    """Append the differentiable leaves of ``tree`` to ``leaves``; return a rebuild recipe."""
    if isinstance(tree, dict):
        return ("dict", [(k, _flatten(v, f"{path}[{k!r}]", leaves)) for k, v in tree.items()])
    if isinstance(tree, (list, tuple)):
        kind = "list" if isinstance(tree, list) else type(tree)
        return (kind, [_flatten(v, f"{path}[{i}]", leaves) for i, v in enumerate(tree)])
    if type(tree) is TracedArray:
        raise NotImplementedError("fnn.tape does not support nested differentiation (grad of a traced function)")
    if isinstance(tree, np.ndarray) and tree.dtype.kind == "f":
        leaves.append(tree)
        return ("array", None)
    if isinstance(tree, np.floating):
        leaves.append(np.asarray(tree))
        return ("numpy scalar", type(tree))
    if isinstance(tree, float):
        leaves.append(np.asarray(tree))
        return ("float", None)
    raise ValueError(
        f"{path} has {describe(tree)}; expected a float numpy array, a Python float, "
        "or a dict/list/tuple of them"
    )


def _rebuild(recipe, leaves):
    """Inverse of ``_flatten``: the same nesting with the next items of the iterator ``leaves``."""
    kind, children = recipe
    if kind == "dict":
        return {k: _rebuild(r, leaves) for k, r in children}
    if kind == "list":
        return [_rebuild(r, leaves) for r in children]
    if isinstance(kind, type):
        items = [_rebuild(r, leaves) for r in children]
        return kind(*items) if hasattr(kind, "_fields") else kind(items)
    return next(leaves)


def _gradient_leaf(recipe, g):
    kind, scalar_type = recipe
    if kind == "float":
        return float(g)
    if kind == "numpy scalar":
        return scalar_type(g)
    return g


def _leaf_recipes(recipe):
    """The leaf recipes of ``recipe`` in flatten order."""
    kind, children = recipe
    if kind == "dict":
        for _, r in children:
            yield from _leaf_recipes(r)
    elif kind == "list" or isinstance(kind, type):
        for r in children:
            yield from _leaf_recipes(r)
    else:
        yield recipe


def _detach(tree):
    """Replace traced arrays in ``tree`` by their values (for auxiliary outputs)."""
    if type(tree) is TracedArray:
        return tree.value
    if isinstance(tree, dict):
        return {k: _detach(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_detach(v) for v in tree]
    if isinstance(tree, tuple):
        items = [_detach(v) for v in tree]
        return type(tree)(*items) if hasattr(tree, "_fields") else tuple(items)
    return tree


# ---------------------------------------------------------------- public API


def _normalize_argnums(argnums):
    if isinstance(argnums, (int, np.integer)) and not isinstance(argnums, bool):
        return (int(argnums),), True
    if isinstance(argnums, tuple) and argnums and all(
            isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in argnums):
        return tuple(int(i) for i in argnums), False
    raise ValueError(f"argnums is {argnums!r}; expected an int or a non-empty tuple of ints")


def _scalar_output(out):
    value = out.value if type(out) is TracedArray else out
    if not isinstance(value, (np.ndarray, np.generic, float, int)) or np.size(value) != 1 \
            or np.asarray(value).dtype.kind not in "fiu":
        raise ValueError(
            f"fun returned {describe(value)}; grad needs a scalar (a 0-d or size-1 float array "
            "or a Python float): reduce it, e.g. with .sum() or .mean()"
        )
    return value


def value_and_grad(fun, argnums=0, *, has_aux=False):
    """``fun(*args) -> scalar`` becomes ``(*args) -> (value, gradient)``.

    ``argnums`` (int or tuple of ints) picks the differentiated positional
    arguments; each may be a float ndarray, a Python float, or a nested
    dict/list/tuple of them, and its gradient has the same structure, shapes
    and dtypes (a tuple of gradients when ``argnums`` is a tuple). Other
    arguments pass through untouched. ``fun`` must return a scalar (0-d or
    size-1), or ``(scalar, aux)`` with ``has_aux=True``, in which case the
    result is ``((value, aux), gradient)``.

    Gradient arrays are fresh: the caller owns them. Higher-order derivatives
    (grad of grad) are not supported.
    """
    nums, single = _normalize_argnums(argnums)

    @functools.wraps(fun)
    def value_and_grad_fun(*args, **kwargs):
        for i in nums:
            if not -len(args) <= i < len(args):
                raise ValueError(f"argnums {argnums!r} names argument {i}, but fun was called with "
                                 f"{len(args)} positional arguments")
        args = list(args)
        recipes, leaf_nodes = [], []
        for i in nums:
            values = []
            recipe = _flatten(args[i], f"argument {i}", values)
            nodes = [TracedArray(v) for v in values]
            args[i] = _rebuild(recipe, iter(nodes))
            recipes.append(recipe)
            leaf_nodes.append(nodes)
        out = fun(*args, **kwargs)
        args = None
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise ValueError("has_aux=True needs fun to return a pair (scalar, aux)")
            out, aux = out
            aux = _detach(aux)
        value = _scalar_output(out)
        if type(out) is TracedArray:
            backward(out)
        out = None
        grads = []
        seen = set()
        for recipe, nodes in zip(recipes, leaf_nodes):
            leaf_grads = []
            for node, leaf_recipe in zip(nodes, _leaf_recipes(recipe)):
                g = node.g
                node.g = None
                if g is None:  # fun does not depend on this leaf
                    g = np.zeros(node.value.shape, dtype=node.value.dtype)
                elif id(g) in seen or g.base is not None or not g.flags.writeable:
                    g = np.array(g)  # a view or an array shared with another leaf: hand out a copy
                seen.add(id(g))
                leaf_grads.append(_gradient_leaf(leaf_recipe, g))
            grads.append(_rebuild(recipe, iter(leaf_grads)))
        grads = grads[0] if single else tuple(grads)
        return ((value, aux) if has_aux else value), grads

    return value_and_grad_fun


def grad(fun, argnums=0, *, has_aux=False):
    """``fun(*args) -> scalar`` becomes ``(*args) -> gradient`` (see :func:`value_and_grad`).

    With ``has_aux=True`` the result is ``(gradient, aux)``.
    """
    vg = value_and_grad(fun, argnums, has_aux=has_aux)

    @functools.wraps(fun)
    def grad_fun(*args, **kwargs):
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return grad_fun
