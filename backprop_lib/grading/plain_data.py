"""Plain data across a process boundary: numbers, text and numeric arrays, never pickle.

The grader and a child process running the learner's code (see
:mod:`~backprop_lib.grading.child_process`) exchange *messages*. Unpickling
what a child sends could run any code the child chose, so a message holds only
plain data and is decoded by validating it:

- ``None``, ``bool``, ``int``, ``float`` (NaN and infinities included), ``str``;
- ``list``, ``tuple``, ``dict`` and ``Ellipsis`` built from those;
- NumPy arrays and scalars of a numeric dtype (kinds ``b i u f c``), in their
  memory layout (C, Fortran, strided or reversed view: see
  :func:`~backprop_lib.grading.cases.with_layout`);
- from the grader to a child only: *source functions*, plain Python functions
  built from NumPy source text (:func:`source_function`), e.g. the test
  functions handed to the learner's ``numerical_gradient``.

Layout of one message::

    8 bytes     big-endian length L of the header
    L bytes     UTF-8 JSON header: {"data": <tree>, "arrays": [{"dtype", "shape"}, ...]}
    ...         the raw bytes of each array, C order, one after the other

In the tree, lists and strings, numbers, true/false/null are themselves; other
values are one-key objects: ``{"$tuple": [...]}``, ``{"$dict": [[k, v], ...]}``,
``{"$ellipsis": 0}``, ``{"$array": i, "layout": "C"}``, ``{"$scalar": i}`` and
``{"$function": {"name", "source", "doc", "constants"}}``.

:func:`decode` checks every dtype (numeric only, no objects, no records), every
shape, the byte counts, and the total size against a limit before allocating
anything.
"""

from __future__ import annotations

import json
import math
import struct

import numpy as np

from .cases import layout_of, with_layout

__all__ = ["PlainDataError", "encode", "decode", "can_encode", "source_function", "learner_copy",
           "MessageReader", "HEADER_PREFIX"]

_NUMERIC_KINDS = "biufc"
_MAX_NDIM = 32
_MAX_DEPTH = 24
_MAX_HEADER = 8 << 20
HEADER_PREFIX = 8


class PlainDataError(ValueError):
    """A value that cannot be sent, or a message that is not valid plain data."""


# ---------------------------------------------------------------------------
# Source functions
# ---------------------------------------------------------------------------


def source_function(name, source, constants=None, doc=""):
    """A plain function ``name`` defined by NumPy source text.

    The function's globals hold only ``np`` and `constants`, so nothing but
    the text's own computation is reachable from it (no gradient, no grader
    object). It can be sent to a child process, which rebuilds it from the text.

    Parameters
    ----------
    name : str
        Name of the function defined by `source`.
    source : str
        Python source of ``def name(...): ...`` using ``np`` and the constants.
    constants : dict of str to ndarray or number, optional
        Extra global names for the source (copied).
    doc : str
        Docstring of the function (what the learner sees with ``help(f)``).

    Returns
    -------
    function
        With attribute ``plain_source`` = ``{"name", "source", "constants", "doc"}``.
    """
    constants = {k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else v)
                 for k, v in (constants or {}).items()}
    namespace = {"np": np, "__builtins__": __builtins__, **constants}
    exec(compile(source, f"<test function {name}>", "exec"), namespace)  # noqa: S102
    function = namespace[name]
    function.__doc__ = doc or function.__doc__
    function.plain_source = {"name": name, "source": source, "constants": constants,
                             "doc": function.__doc__ or ""}
    return function


def _is_source_function(value):
    return callable(value) and isinstance(getattr(value, "plain_source", None), dict)


def learner_copy(value):
    """What the learner's function receives for argument `value`.

    Arrays: a copy in the same memory layout. Source functions: a new function
    built from the same text (so the grader's object, and anything keyed on it,
    stays with the grader). Anything else: `value` itself.
    """
    if isinstance(value, np.ndarray):
        return with_layout(value.copy(), layout_of(value))
    if _is_source_function(value):
        spec = value.plain_source
        return source_function(spec["name"], spec["source"], spec["constants"], spec["doc"])
    return value


# ---------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------


def _encode_tree(value, arrays, depth, allow_functions):
    if depth > _MAX_DEPTH:
        raise PlainDataError("nested too deeply")
    if value is None or type(value) in (bool, int, float, str):
        return value
    if value is Ellipsis:
        return {"$ellipsis": 0}
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        arr = np.asarray(value)
        if arr.dtype.kind not in _NUMERIC_KINDS or arr.dtype.fields is not None:
            raise PlainDataError(f"cannot send an array of dtype {arr.dtype}")
        arrays.append(arr)
        if isinstance(value, np.generic):
            return {"$scalar": len(arrays) - 1}
        return {"$array": len(arrays) - 1, "layout": layout_of(arr)}
    if type(value) is list:
        return [_encode_tree(v, arrays, depth + 1, allow_functions) for v in value]
    if type(value) is tuple:
        return {"$tuple": [_encode_tree(v, arrays, depth + 1, allow_functions) for v in value]}
    if type(value) is dict:
        return {"$dict": [[_encode_tree(k, arrays, depth + 1, allow_functions),
                           _encode_tree(v, arrays, depth + 1, allow_functions)]
                          for k, v in value.items()]}
    if allow_functions and _is_source_function(value):
        spec = value.plain_source
        return {"$function": {"name": str(spec["name"]), "source": str(spec["source"]),
                              "doc": str(spec.get("doc", "")),
                              "constants": _encode_tree(dict(spec["constants"]), arrays,
                                                        depth + 1, allow_functions)}}
    raise PlainDataError(f"cannot send a {type(value).__name__}")


def encode(value, *, allow_functions=True):
    """`value` as one message (a list of byte buffers to write in order).

    Raises
    ------
    PlainDataError
        If `value` holds anything but plain data.
    """
    arrays = []
    tree = _encode_tree(value, arrays, 0, allow_functions)
    contiguous = [a if a.flags.c_contiguous else a.copy(order="C") for a in arrays]
    header = {"data": tree,
              "arrays": [{"dtype": a.dtype.str, "shape": list(a.shape)} for a in contiguous]}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    buffers = [struct.pack(">Q", len(text)), text]
    buffers += [memoryview(a).cast("B") if a.size else b"" for a in contiguous]
    return buffers


def can_encode(value, *, allow_functions=True):
    """True if :func:`encode` accepts `value`."""
    try:
        _encode_tree(value, [], 0, allow_functions)
    except PlainDataError:
        return False
    return True


# ---------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------


def _array_spec(spec):
    """(dtype, shape, nbytes) of one header entry, validated."""
    if not isinstance(spec, dict) or not isinstance(spec.get("dtype"), str):
        raise PlainDataError("bad array description")
    try:
        dtype = np.dtype(spec["dtype"])
    except TypeError as exc:
        raise PlainDataError(f"bad dtype {spec['dtype']!r}") from exc
    if (dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None or dtype.hasobject
            or dtype.subdtype is not None or dtype.itemsize > 32):
        raise PlainDataError(f"dtype {dtype} is not plain numeric data")
    shape = spec.get("shape")
    if (not isinstance(shape, list) or len(shape) > _MAX_NDIM
            or not all(type(d) is int and d >= 0 for d in shape)):
        raise PlainDataError("bad array shape")
    return dtype, tuple(shape), math.prod(shape) * dtype.itemsize


def _decode_tree(node, arrays, depth, allow_functions):
    if depth > _MAX_DEPTH:
        raise PlainDataError("nested too deeply")
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):
        return [_decode_tree(v, arrays, depth + 1, allow_functions) for v in node]
    if not isinstance(node, dict) or len(node) not in (1, 2):
        raise PlainDataError("bad node")
    if "$tuple" in node and isinstance(node["$tuple"], list):
        return tuple(_decode_tree(v, arrays, depth + 1, allow_functions) for v in node["$tuple"])
    if "$dict" in node and isinstance(node["$dict"], list):
        out = {}
        for pair in node["$dict"]:
            if not isinstance(pair, list) or len(pair) != 2:
                raise PlainDataError("bad dict item")
            key = _decode_tree(pair[0], arrays, depth + 1, allow_functions)
            if not isinstance(key, (str, int, float, bool, type(None))):
                raise PlainDataError("bad dict key")
            out[key] = _decode_tree(pair[1], arrays, depth + 1, allow_functions)
        return out
    if "$ellipsis" in node:
        return Ellipsis
    if "$array" in node or "$scalar" in node:
        index = node.get("$array", node.get("$scalar"))
        if type(index) is not int or not 0 <= index < len(arrays):
            raise PlainDataError("bad array reference")
        arr = arrays[index]
        if "$scalar" in node:
            return arr[()] if arr.ndim == 0 else arr
        layout = node.get("layout", "C")
        if layout not in ("C", "F", "strided", "reversed"):
            raise PlainDataError("bad layout")
        return with_layout(arr, layout) if layout != "C" else arr
    if "$function" in node and allow_functions:
        spec = node["$function"]
        if not isinstance(spec, dict) or not all(isinstance(spec.get(k), str)
                                                 for k in ("name", "source")):
            raise PlainDataError("bad function")
        constants = _decode_tree(spec.get("constants"), arrays, depth + 1, allow_functions)
        if not isinstance(constants, dict) or not all(isinstance(k, str) for k in constants):
            raise PlainDataError("bad function constants")
        return source_function(spec["name"], spec["source"], constants,
                               doc=str(spec.get("doc", "")))
    raise PlainDataError(f"unknown node {sorted(node)!r}")


def decode(data, *, allow_functions=False, max_bytes=1 << 30):
    """The value of one complete message `data` (bytes-like).

    Parameters
    ----------
    data : bytes-like
        A message as produced by :func:`encode` (joined).
    allow_functions : bool
        Accept source functions (only the grader's own messages to a child).
    max_bytes : int
        Reject messages whose arrays add up to more bytes.

    Raises
    ------
    PlainDataError
        If `data` is not a valid message.
    """
    data = memoryview(data).cast("B")
    if len(data) < HEADER_PREFIX:
        raise PlainDataError("truncated message")
    (length,) = struct.unpack(">Q", data[:HEADER_PREFIX])
    if length > _MAX_HEADER or HEADER_PREFIX + length > len(data):
        raise PlainDataError("bad header length")
    try:
        header = json.loads(bytes(data[HEADER_PREFIX:HEADER_PREFIX + length]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise PlainDataError("header is not JSON") from exc
    if not isinstance(header, dict) or not isinstance(header.get("arrays"), list):
        raise PlainDataError("bad header")
    specs = [_array_spec(s) for s in header["arrays"]]
    total = sum(nbytes for _, _, nbytes in specs)
    if total > max_bytes:
        raise PlainDataError(f"message too large ({total} bytes)")
    offset = HEADER_PREFIX + length
    if len(data) - offset != total:
        raise PlainDataError("array bytes do not match the header")
    arrays = []
    for dtype, shape, nbytes in specs:
        flat = np.frombuffer(data[offset:offset + nbytes], dtype=dtype) if nbytes else \
            np.empty(0, dtype=dtype)
        arrays.append(flat.reshape(shape).copy())
        offset += nbytes
    return _decode_tree(header.get("data"), arrays, 0, allow_functions)


class MessageReader:
    """Split a byte stream into messages as the bytes arrive (non-blocking reads).

    Parameters
    ----------
    max_bytes : int
        Largest message accepted (header included); beyond it :meth:`feed`
        raises :class:`PlainDataError`.
    """

    def __init__(self, max_bytes):
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self._expected = None

    def feed(self, chunk):
        """Add `chunk`; return the list of messages it completed (often empty)."""
        self._buffer += chunk
        messages = []
        while True:
            if self._expected is None:
                self._expected = self._message_size()
                if self._expected is None:
                    break
            if len(self._buffer) < self._expected:
                break
            messages.append(bytes(self._buffer[:self._expected]))
            del self._buffer[:self._expected]
            self._expected = None
        if len(self._buffer) > self.max_bytes:
            raise PlainDataError("message too large")
        return messages

    def _message_size(self):
        """Total size of the message at the start of the buffer, once its header is in."""
        if len(self._buffer) < HEADER_PREFIX:
            return None
        (length,) = struct.unpack(">Q", self._buffer[:HEADER_PREFIX])
        if length > _MAX_HEADER:
            raise PlainDataError("bad header length")
        if len(self._buffer) < HEADER_PREFIX + length:
            return None
        try:
            header = json.loads(bytes(self._buffer[HEADER_PREFIX:HEADER_PREFIX + length]))
            specs = header["arrays"]
        except (ValueError, TypeError, KeyError, RecursionError) as exc:
            raise PlainDataError("bad header") from exc
        if not isinstance(specs, list):
            raise PlainDataError("bad header")
        size = HEADER_PREFIX + length + sum(_array_spec(spec)[2] for spec in specs)
        if size > self.max_bytes:
            raise PlainDataError(f"message too large ({size} bytes)")
        return size
