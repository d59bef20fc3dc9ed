"""Save and load parameters, optimizer state and metadata as one ``.npz`` file.

Layout of the archive (every entry a plain array; nothing is pickled):

* ``params/<key>`` - one array per parameter, e.g. ``params/dense1.w``;
* ``opt/<path>`` - the optimizer state's leaves, the path joining nested
  dict keys and list/tuple positions with ``/`` (``opt/m/dense1.w``,
  ``opt/step``); Python ints, floats and bools are stored as 0-d arrays;
* ``metadata`` - a JSON string as a 0-d unicode array;
* ``structure`` - JSON describing the optimizer state's shape (dict, list,
  tuple, None, and which leaves were Python ints, floats, bools, strings,
  NumPy scalars or arrays), so :func:`load` rebuilds it exactly.

Writes are atomic: the archive is written to a temporary file in the target's
folder, flushed and fsynced, then moved over the target with ``os.replace``.
A crash or error mid-write leaves any previous checkpoint untouched.
"""
import json
import os

import numpy as np

from ._atomic import write_atomically
from ._validate import describe

__all__ = ["save", "load"]

FORMAT_VERSION = 1
_PARAMS = "params/"
_OPT = "opt"
_METADATA = "metadata"
_STRUCTURE = "structure"


def _require_storable(path, a):
    if a.dtype.hasobject:
        raise ValueError(
            f"{path} has dtype {a.dtype}; object arrays need pickle, which checkpoints never use. "
            f"Store numeric arrays only"
        )


def _encode_state(value, path, arrays):
    """JSON description of ``value``; its leaves go into ``arrays`` under ``path``."""
    if value is None:
        return "none"
    if isinstance(value, dict):
        items = {}
        for key, sub in value.items():
            if not isinstance(key, str) or "/" in key or not key:
                raise ValueError(
                    f"opt_state key {key!r} at {path} is not storable; expected non-empty string keys without '/'"
                )
            items[key] = _encode_state(sub, f"{path}/{key}", arrays)
        return {"dict": items}
    if isinstance(value, (list, tuple)):
        kind = "list" if isinstance(value, list) else "tuple"
        return {kind: [_encode_state(sub, f"{path}/{i}", arrays) for i, sub in enumerate(value)]}
    if isinstance(value, np.ndarray):
        _require_storable(path, value)
        arrays[path] = value
        return "array"
    if isinstance(value, np.generic):
        arrays[path] = np.asarray(value)
        _require_storable(path, arrays[path])
        return "numpy_scalar"
    # bool before int: bool is a subclass of int. Explicit dtypes, because
    # np.asarray(2**70) would quietly make an object (pickled) array.
    for tag, kind, dtype in (("bool", bool, np.bool_), ("int", int, np.int64),
                             ("float", float, np.float64), ("str", str, np.str_)):
        if isinstance(value, kind):
            try:
                arrays[path] = np.asarray(value, dtype=dtype)
            except OverflowError as e:
                raise ValueError(f"{path} is {value!r}; expected an int that fits in int64") from e
            return tag
    raise ValueError(
        f"{path} has {describe(value)}; expected dicts, lists, tuples, None, arrays or int/float/bool/str leaves"
    )


def _decode_state(spec, path, arrays):
    if spec == "none":
        return None
    if isinstance(spec, dict):
        (kind, items), = spec.items()
        if kind == "dict":
            return {key: _decode_state(sub, f"{path}/{key}", arrays) for key, sub in items.items()}
        values = [_decode_state(sub, f"{path}/{i}", arrays) for i, sub in enumerate(items)]
        return values if kind == "list" else tuple(values)
    a = arrays.pop(path)
    if spec == "array":
        return a
    if spec == "numpy_scalar":
        return a[()]
    return {"bool": bool, "int": int, "float": float, "str": str}[spec](a[()])


def _write_npz(file, arrays):
    """The one call that writes bytes (tests replace it to simulate a failure mid-write)."""
    np.savez(file, **arrays)


def save(path, params, opt_state=None, *, metadata=None):
    """Write ``params`` (flat dict of arrays), ``opt_state`` and JSON ``metadata`` to ``path`` atomically.

    The file is written exactly at ``path`` (no ``.npz`` is appended).
    """
    path = os.fspath(path)
    if not isinstance(params, dict):
        raise ValueError(f"params has {describe(params)}; expected a dict of arrays such as {{'dense1.w': ...}}")
    arrays = {}
    for key, value in params.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"params key {key!r} is not a non-empty string")
        if not isinstance(value, np.ndarray):
            raise ValueError(f"params[{key!r}] has {describe(value)}; expected a numpy array")
        _require_storable(f"params[{key!r}]", value)
        arrays[_PARAMS + key] = value
    structure = _encode_state(opt_state, _OPT, arrays)
    try:
        metadata_json = json.dumps(metadata)
    except (TypeError, ValueError) as e:
        raise ValueError(f"metadata is not JSON-serialisable ({e}); expected dicts, lists, strings and numbers") from e
    arrays[_METADATA] = np.array(metadata_json)
    arrays[_STRUCTURE] = np.array(json.dumps({"version": FORMAT_VERSION, "opt": structure}))
    for name, a in arrays.items():
        _require_storable(name, a)  # np.savez would pickle anything that slipped through

    write_atomically(path, lambda f: _write_npz(f, arrays))


def _check_like(path, params, like):
    problems = []
    for key, ref in like.items():
        if key not in params:
            problems.append(f"missing key {key!r}: expected shape {ref.shape} {ref.dtype}, not in the file")
            continue
        got = params[key]
        if got.shape != ref.shape or got.dtype != ref.dtype:
            problems.append(f"key {key!r}: expected shape {ref.shape} {ref.dtype}, found shape {got.shape} {got.dtype}")
    for key, got in params.items():
        if key not in like:
            problems.append(f"unexpected key {key!r}: found shape {got.shape} {got.dtype}, not in like")
    if problems:
        raise ValueError(f"{path}: checkpoint params do not match like:\n  " + "\n  ".join(problems))


def load(path, *, like=None):
    """(params, opt_state, metadata) from a file written by :func:`save`.

    Reads with ``allow_pickle=False``: a file holding object arrays is
    refused rather than unpickled. With ``like`` (a params dict), every
    missing key, unexpected key and shape or dtype mismatch is reported in
    one ``ValueError``, and params come back in ``like``'s key order.
    """
    path = os.fspath(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise ValueError(f"{path}: not a readable fnn checkpoint ({e})") from e
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: holds a single array, not an fnn checkpoint (.npz archive)")
    with archive:
        if _STRUCTURE not in archive.files:
            raise ValueError(f"{path}: no {_STRUCTURE!r} entry; expected an archive written by fnn.checkpoint.save")
        try:
            arrays = {name: archive[name] for name in archive.files}
        except ValueError as e:
            raise ValueError(f"{path}: refused to load an entry ({e})") from e
    header = json.loads(str(arrays.pop(_STRUCTURE)[()]))
    if header.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format version {header.get('version')!r}; expected {FORMAT_VERSION}")
    metadata = json.loads(str(arrays.pop(_METADATA)[()]))
    params = {name[len(_PARAMS):]: arrays.pop(name) for name in list(arrays) if name.startswith(_PARAMS)}
    opt_state = _decode_state(header["opt"], _OPT, arrays)
    if like is not None:
        if not isinstance(like, dict) or not all(isinstance(v, np.ndarray) for v in like.values()):
            raise ValueError(f"like has {describe(like)}; expected a params dict of arrays")
        _check_like(path, params, like)
        params = {key: params[key] for key in like}
    return params, opt_state, metadata
