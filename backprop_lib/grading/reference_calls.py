"""Record calls into backprop_lib's reference functions, however they are reached.

An exercise must be written with NumPy, not by calling the library's own answer
(``backprop_lib.functional.softmax`` and friends). While a
:class:`ReferenceRecorder` is active, every function defined in a module of
:data:`REFERENCE_MODULES` (module-level functions, methods, static and class
methods, property accessors, ``lru_cache``-wrapped functions) has its code
object (``__code__``) swapped for a small stub that records the function's name
and then runs the original code. The function *objects* stay the same, so a
reference imported long before the check (``from backprop_lib.functional import
softmax as s``) is recorded too, and so are calls made after
``sys.setprofile(None)``, from another thread, or from inside a returned
object's ``__array__`` / ``__float__``: nothing the learner's code can switch
off short of patching the grader.

Only entry points count: a call made while another reference function is
running in the same thread (``softmax_vjp`` calling ``softmax``) is not listed.

In a child process (:mod:`~backprop_lib.grading.child_process`) the stubs are
installed once for the child's whole life; in this process they are installed
for the duration of one call and the original code is put back afterwards.

Example
-------
>>> from backprop_lib import functional as F
>>> with ReferenceRecorder() as calls:
...     _ = F.softmax([0.0, 1.0])
>>> sorted(calls.entries)
['softmax']
"""

from __future__ import annotations

import functools
import importlib
import os
import threading
import types

__all__ = ["REFERENCE_MODULES", "ReferenceRecorder"]

#: Modules whose code the learner must not call (their reference solutions).
REFERENCE_MODULES = (
    "backprop_lib.functional",
    "backprop_lib.gradcheck",
    "backprop_lib.layers",
    "backprop_lib.model",
    "backprop_lib.optim",
)

#: The global name, injected into each reference module while stubs are installed, through
#: which a stub reaches the recorder.
_HOOK_NAME = "__backprop_reference_call__"


class _Swap:
    """One reference function: its original code, its stub, and a callable original."""

    def __init__(self, function, key):
        self.function = function
        self.name = function.__name__
        self.original_code = function.__code__
        self.stub_code = _stub_code(key, len(function.__code__.co_freevars),
                                    function.__code__.co_filename)
        original = types.FunctionType(function.__code__, function.__globals__, function.__name__,
                                      function.__defaults__, function.__closure__)
        original.__kwdefaults__ = function.__kwdefaults__
        original.__qualname__ = function.__qualname__
        self.original = original


def _stub_code(key, n_free, filename):
    """A code object ``(*args, **kwargs) -> hook(key, args, kwargs)`` with `n_free` free variables.

    ``function.__code__ = code`` requires the same number of free variables as
    the function's closure (methods using ``super()`` have one, ``__class__``);
    the stub names them but never reads them.
    """
    free = [f"_free{i}" for i in range(n_free)]
    lines = ["def _outer():"]
    lines += [f"    {name} = None" for name in free] or ["    pass"]
    lines.append("    def _stub(*args, **kwargs):")
    lines.append(f"        return {_HOOK_NAME}({key!r}, args, kwargs)")
    if free:
        lines.append(f"        ({', '.join(free)},)")  # unreachable; makes them free variables
    lines.append("    return _stub")
    namespace = {}
    exec(compile("\n".join(lines), filename, "exec"), namespace)  # noqa: S102 - our own text
    return namespace["_outer"]().__code__


def _defined_functions(module):
    """Every plain function whose code lives in `module`'s source file."""
    path = os.path.abspath(getattr(module, "__file__", "") or "")

    def own(obj):
        return (isinstance(obj, types.FunctionType)
                and os.path.abspath(obj.__code__.co_filename) == path)

    found = []

    def add(obj):
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        if isinstance(obj, property):
            for accessor in (obj.fget, obj.fset, obj.fdel):
                add(accessor)
            return
        if isinstance(obj, functools._lru_cache_wrapper):
            obj = obj.__wrapped__
        if own(obj) and all(obj is not f for f in found):
            found.append(obj)

    for value in vars(module).values():
        if isinstance(value, type) and value.__module__ == module.__name__:
            for attr in vars(value).values():
                add(attr)
        else:
            add(value)
    return found


class _Registry:
    """The swaps for every reference function, built once, and who is recording."""

    def __init__(self):
        self.swaps = None
        self.by_key = {}
        self.modules = []
        self.active = []  # recorders currently recording (innermost last)
        self.depth = threading.local()
        self.lock = threading.Lock()

    def prepare(self):
        """Import the reference modules and build the stubs (once)."""
        if self.swaps is not None:
            return
        swaps = []
        for module_name in REFERENCE_MODULES:
            try:
                module = importlib.import_module(module_name)
            except ImportError:  # pragma: no cover - a trimmed install
                continue
            self.modules.append(module)
            for function in _defined_functions(module):
                key = f"{module_name}:{function.__qualname__}:{len(swaps)}"
                swap = _Swap(function, key)
                self.by_key[key] = swap
                swaps.append(swap)
        self.swaps = swaps

    def install(self):
        for module in self.modules:
            vars(module)[_HOOK_NAME] = self.call
        for swap in self.swaps:
            swap.function.__code__ = swap.stub_code

    def uninstall(self):
        for swap in self.swaps:
            swap.function.__code__ = swap.original_code
        for module in self.modules:
            vars(module).pop(_HOOK_NAME, None)

    def call(self, key, args, kwargs):
        """What every stub runs: record an entry point, then run the original code."""
        swap = self.by_key[key]
        depth = getattr(self.depth, "value", 0)
        if depth == 0:
            for recorder in list(self.active):
                recorder.entries.add(swap.name)
        self.depth.value = depth + 1
        try:
            return swap.original(*args, **kwargs)
        finally:
            self.depth.value = depth


_REGISTRY = _Registry()


class ReferenceRecorder:
    """Context manager recording which reference functions were entered.

    Parameters
    ----------
    permanent : bool
        Leave the stubs installed on exit (for a child process that ends after
        its calls). Default False: the original code is put back.

    Attributes
    ----------
    entries : set of str
        Names (``__name__``) of the reference functions entered from outside
        the reference modules, e.g. ``{"softmax"}``.
    """

    def __init__(self, permanent=False):
        self.entries = set()
        self.permanent = permanent

    @staticmethod
    def prepare():
        """Import the reference modules and build the stubs now (e.g. before a fork)."""
        with _REGISTRY.lock:
            _REGISTRY.prepare()

    def __enter__(self):
        with _REGISTRY.lock:
            _REGISTRY.prepare()
            if not _REGISTRY.active:
                _REGISTRY.install()
            _REGISTRY.active.append(self)
        return self

    def __exit__(self, *exc):
        with _REGISTRY.lock:
            if self in _REGISTRY.active:
                _REGISTRY.active.remove(self)
            if not _REGISTRY.active and not self.permanent:
                _REGISTRY.uninstall()
        return False

    def clear(self):
        """Forget the entries recorded so far."""
        self.entries = set()


def _after_fork_in_child():
    """A lock held by another thread at fork time would stay locked in the child forever."""
    _REGISTRY.lock = threading.Lock()
    _REGISTRY.depth = threading.local()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
