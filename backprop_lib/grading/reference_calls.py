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

Fresh copies. ``importlib.reload(F)``, a second import of the module's file
(``importlib.util.spec_from_file_location``, ``runpy.run_path``) or ``exec`` of
its source under its own file name creates new function objects that carry
the original code. An audit hook (:func:`sys.addaudithook`, which Python code
cannot remove) sees every such run of a reference file's code: during a
recorded call it is listed as ``"reloaded:<module>"`` (calls into the copy
cannot be told apart, so the reload itself counts); outside one, the next
recorded call first finds the copies (a scan of the garbage collector's
objects, done only after a reload) and stubs them like the originals.

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

import contextlib
import functools
import gc
import importlib
import importlib.util
import os
import sys
import threading
import types

__all__ = ["REFERENCE_MODULES", "RELOADED", "ReferenceRecorder", "describe_reference_use"]

#: Modules whose code the learner must not call (their reference solutions).
REFERENCE_MODULES = (
    "backprop_lib.functional",
    "backprop_lib.gradcheck",
    "backprop_lib.layers",
    "backprop_lib.model",
    "backprop_lib.optim",
)

#: Prefix of the entry recorded when a reference module's code runs again during a call,
#: e.g. ``"reloaded:backprop_lib.functional"``.
RELOADED = "reloaded:"

#: Code objects the recorder itself runs under a reference file's name (its stubs).
_OWN_CODE = set()

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
    code = compile("\n".join(lines), filename, "exec")
    _OWN_CODE.add(code)  # not a reload: the audit hook lets it pass
    try:
        exec(code, namespace)  # noqa: S102 - our own text
    finally:
        _OWN_CODE.discard(code)
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
        self.namespaces = []  # every global namespace a stub looks its hook up in
        self.paths = _reference_paths()  # absolute source path -> module name
        self.stub_codes = set()
        self.installed = False
        self.stale = False  # a reference file's code ran again since the last refresh
        # Paths whose code has run once since the hook was installed: a module's first import.
        self.loaded = {path for path, name in self.paths.items() if name in sys.modules}
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
            self.namespaces.append(vars(module))
            for function in _defined_functions(module):
                self._add_swap(function, module_name, swaps)
        self.swaps = swaps

    def _add_swap(self, function, module_name, swaps):
        key = f"{module_name}:{function.__qualname__}:{len(swaps)}"
        swap = _Swap(function, key)
        self.by_key[key] = swap
        self.stub_codes.add(swap.stub_code)
        swaps.append(swap)
        return swap

    def install(self):
        for namespace in self.namespaces:
            namespace[_HOOK_NAME] = self.call
        for swap in self.swaps:
            swap.function.__code__ = swap.stub_code
        self.installed = True

    def uninstall(self):
        for swap in self.swaps:
            swap.function.__code__ = swap.original_code
        for namespace in self.namespaces:
            namespace.pop(_HOOK_NAME, None)
        self.installed = False

    def audit_exec(self, args):
        """Notice a reference file's code being run again (an ``exec`` audit event)."""
        try:
            if args[0] in _OWN_CODE:
                return
            path = os.path.abspath(args[0].co_filename)
            module_name = self.paths.get(path)
            if module_name is None:
                return
            if path not in self.loaded:  # the module's own first import
                self.loaded.add(path)
                return
            self.stale = True
            if getattr(self.depth, "value", 0) == 0:
                for recorder in list(self.active):
                    recorder.entries.add(RELOADED + module_name)
        except Exception:  # noqa: BLE001, S110 - an audit hook that raises would block the exec
            pass

    def refresh(self):
        """Stub the fresh copies of reference functions made since the last refresh."""
        if not self.stale or self.swaps is None:
            return
        self.stale = False
        known = {id(swap.function) for swap in self.swaps}
        for obj in _all_objects():
            if (type(obj) is not types.FunctionType or id(obj) in known
                    or obj.__code__ in self.stub_codes):
                continue
            module_name = self.paths.get(os.path.abspath(obj.__code__.co_filename))
            if module_name is None:
                continue
            swap = self._add_swap(obj, module_name, self.swaps)
            known.add(id(obj))
            if all(obj.__globals__ is not ns for ns in self.namespaces):
                self.namespaces.append(obj.__globals__)
                if self.installed:
                    obj.__globals__[_HOOK_NAME] = self.call
            if self.installed:
                obj.__code__ = swap.stub_code

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


def _all_objects():
    """Every object the garbage collector tracks, also those ``gc.freeze()`` set aside.

    (A forked child starts with the parent's objects frozen, and ``gc.get_objects()``
    does not list frozen ones.)
    """
    frozen = getattr(gc, "get_freeze_count", lambda: 0)()
    if frozen:
        gc.unfreeze()
    try:
        return gc.get_objects()
    finally:
        if frozen:
            gc.freeze()


def _reference_paths():
    """Absolute source path -> name of each reference module, found without importing it."""
    paths = {}
    for module_name in REFERENCE_MODULES:
        with contextlib.suppress(ImportError, ValueError, AttributeError):
            origin = importlib.util.find_spec(module_name).origin
            if origin:
                paths[os.path.abspath(origin)] = module_name
    return paths


_REGISTRY = _Registry()


def _audit(event, args):
    """The audit hook: as cheap as can be for every event but ``exec``."""
    if event == "exec":
        _REGISTRY.audit_exec(args)


with contextlib.suppress(Exception):  # another audit hook may refuse new hooks
    sys.addaudithook(_audit)


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

    @staticmethod
    def refresh():
        """Stub the fresh copies a reload made (cheap when there was none); see the module doc."""
        with _REGISTRY.lock:
            _REGISTRY.refresh()

    def __enter__(self):
        with _REGISTRY.lock:
            _REGISTRY.prepare()
            _REGISTRY.refresh()
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


def describe_reference_use(entries, who="your function"):
    """A sentence's start naming what `entries` (recorded names) show, for a failure message.

    >>> describe_reference_use(["softmax", "reloaded:backprop_lib.functional"])
    "your function called backprop_lib's own softmax() and ran backprop_lib.functional's \
code again (importlib.reload or a new import of its file), which hides calls into it"
    """
    calls = [name for name in entries if not name.startswith(RELOADED)]
    reloads = [name[len(RELOADED):] for name in entries if name.startswith(RELOADED)]
    parts = []
    if calls:
        parts.append("called backprop_lib's own " + ", ".join(f"{name}()" for name in calls))
    if reloads:
        parts.append("ran " + ", ".join(f"{name}'s" for name in reloads) + " code again "
                     "(importlib.reload or a new import of its file), which hides calls into it")
    return f"{who} " + " and ".join(parts)


def _after_fork_in_child():
    """A lock held by another thread at fork time would stay locked in the child forever."""
    _REGISTRY.lock = threading.Lock()
    _REGISTRY.depth = threading.local()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
