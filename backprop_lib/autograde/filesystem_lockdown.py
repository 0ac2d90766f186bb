"""Restrict what the sandbox child can touch, with Linux's Landlock (kernel 5.13 and later).

Landlock lets an unprivileged process give up rights for good, for itself and everything
it starts. :func:`lock_down` (run in the child, before the learner's first cell) keeps:

- read and execute beneath Python's own folders (``sys.prefix``, ``sys.base_prefix``,
  site-packages), the installed ``backprop_lib`` package folder, and the system folders
  (``/usr``, ``/lib``, ``/etc``, ``/proc``, ``/sys``, ...);
- read and write in ``/dev`` (``/dev/null``) and in the throwaway working directory.

Everything else is out of reach: the other learners' submissions, the instructor's
answer key and course sources, the grader's output folder, the home folder. Where the
kernel's Landlock is new enough it also forbids TCP connections and binds (ABI 4) and
signals to processes outside the sandbox (ABI 6, so the child cannot kill the grader).
Landlock also forbids ptrace of processes outside the sandbox (and so writing to their
memory through ``/proc``).

Where Landlock is missing (macOS, old kernels, some containers) nothing is restricted and
:func:`lock_down` says so; the batch report repeats it, so the instructor knows to run the
batch as a user who cannot read the answer key, or in a container.
"""

from __future__ import annotations

import ctypes
import os
import site
import sys

__all__ = ["lock_down", "landlock_abi"]

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_ALL_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1

_SYSTEM_READ = ("/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc", "/proc", "/sys",
                "/opt", "/nix", "/run/current-system")


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def landlock_abi():
    """The kernel's Landlock ABI version (0 where there is none)."""
    if not sys.platform.startswith("linux") or os.uname().machine not in (
            "x86_64", "aarch64", "riscv64", "ppc64le", "s390x", "loongarch64"):
        return 0
    try:
        libc = _libc()
        libc.syscall.restype = ctypes.c_long
        abi = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0),
                           ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return max(0, int(abi))


def _fs_rights(abi):
    for version in sorted(_ALL_FS_BY_ABI, reverse=True):
        if abi >= version:
            return _ALL_FS_BY_ABI[version]
    return 0


def _python_dirs():
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    try:
        dirs.update(site.getsitepackages())
        dirs.add(site.getusersitepackages())
    except AttributeError:  # pragma: no cover - virtualenv's old site module
        pass
    import backprop_lib

    dirs.add(os.path.dirname(os.path.abspath(backprop_lib.__file__)))
    return dirs


def lock_down(workdir, read_dirs=()):
    """Restrict this process to the folders above (irreversible); see the module docstring.

    Parameters
    ----------
    workdir : str or None
        The only folder (besides ``/dev``) that stays writable.
    read_dirs : sequence of str
        More folders to keep readable.

    Returns
    -------
    str
        What was done, e.g. ``"Landlock ABI 6: files, TCP and signals restricted"``, or why
        nothing was.
    """
    abi = landlock_abi()
    if abi <= 0:
        return "not restricted (this system has no Landlock)"
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    fs_all = _fs_rights(abi)
    attr = _RulesetAttr(handled_access_fs=fs_all)
    size = 8
    if abi >= 4:
        attr.handled_access_net = _NET_BIND_TCP | _NET_CONNECT_TCP
        size = 16
    if abi >= 6:
        attr.scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL
        size = 24
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size),
                           ctypes.c_uint32(0))
    if ruleset < 0:
        return f"not restricted (Landlock refused: {os.strerror(ctypes.get_errno())})"
    try:
        read = _EXECUTE | _READ_FILE | _READ_DIR
        rules = [(path, read) for path in sorted(set(_SYSTEM_READ) | _python_dirs()
                                                 | {str(d) for d in read_dirs})]
        rules.append(("/dev", read | _WRITE_FILE))
        if workdir:
            rules.append((str(workdir), fs_all))
        for path, access in rules:
            _add_rule(libc, ruleset, path, access & fs_all)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return "not restricted (no_new_privs refused)"
        if libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            return f"not restricted (Landlock refused: {os.strerror(ctypes.get_errno())})"
    finally:
        os.close(ruleset)
    what = "files" + (", TCP" if abi >= 4 else "") + (" and signals" if abi >= 6 else "")
    return f"Landlock ABI {abi}: {what} restricted"


def _add_rule(libc, ruleset, path, access):
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            access &= _EXECUTE | _WRITE_FILE | _READ_FILE | (1 << 14)  # file rights only
        rule = _PathBeneathAttr(allowed_access=access, parent_fd=fd)
        libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH),
                     ctypes.byref(rule), ctypes.c_uint32(0))
    finally:
        os.close(fd)
