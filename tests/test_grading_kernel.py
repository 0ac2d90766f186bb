"""Hostile learner code inside a real Jupyter kernel: the kernel survives every route.

A real ipykernel (started with jupyter_client, as JupyterLab does) runs check() on each
hostile answer; after each one the kernel must still answer, with the same process id,
and an honest answer must still pass. The kernel's interrupt (what the toolbar button
sends) must stop a check and kill its child process. Its threads (heartbeat, IOPub,
control) are what makes forking from a kernel delicate.
"""

from __future__ import annotations

import os
import queue
import textwrap
import time

import pytest

jupyter_client = pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")

from process_helpers import wait_until_gone  # noqa: E402

from backprop_lib.grading.child_process import fork_available  # noqa: E402

pytestmark = [pytest.mark.notebooks,
              pytest.mark.skipif(not fork_available(), reason="needs fork")]

SETUP = textwrap.dedent("""
    import os, signal, sys, time, threading, tracemalloc
    import numpy as np
    from IPython.display import display
    from backprop_lib import functional as F
    from backprop_lib.grading import check

    def softmax_ok(z):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def swallow(z):
        while True:
            try:
                while True:
                    pass
            except BaseException:
                pass

    def ignore_alarm(z):
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        while True:
            pass

    class Exiting:
        def __array__(self, dtype=None, copy=None):
            os._exit(1)

    def noisy(z):
        display({"a": 1})
        print("printed")
        return softmax_ok(z)

    def bomb(z):
        blocks = []
        while True:
            blocks.append(np.ones(2**24))

    def sneaky(s, g):
        tracemalloc.stop()
        return np.stack([g[n] @ (np.diag(s[n]) - np.outer(s[n], s[n])) for n in range(len(s))])

    def threaded(z):
        box = {}
        t = threading.Thread(target=lambda: box.update(v=F.softmax(z)))
        t.start(); t.join()
        return box["v"]
""")

ROUTES = [
    ("swallow", 'check("softmax", swallow, timeout=0.5).status', "timeout"),
    ("ignore_alarm", 'check("softmax", ignore_alarm, timeout=0.5).status', "timeout"),
    ("os_exit", 'check("softmax", lambda z: os._exit(3)).status', "error"),
    ("exit_in_array", 'check("softmax", lambda z: Exiting()).status', "error"),
    ("display", 'check("softmax", noisy).status', "passed"),
    ("memory_bomb", 'check("softmax", bomb, timeout=20).message.split(":")[0]',
     "Your function raised MemoryError"),
    ("tracemalloc", 'check("softmax_vjp", sneaky).status', "failed"),
    ("thread_reference", 'check("softmax", threaded).diagnosis', "['uses_reference']"),
    ("seterr", 'np.seterr(all="raise"); r = check("softmax", softmax_ok); np.seterr(all="warn"); '
               'r.status', "passed"),
]


class Kernel:
    """A started kernel and a tiny execute-and-read-the-result helper."""

    def __init__(self, cwd, env):
        self.manager = jupyter_client.KernelManager(kernel_name="python3")
        self.manager.start_kernel(cwd=str(cwd), env=env)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def run(self, code, timeout=60):
        """Execute `code`; return (status, text of the last expression, error name)."""
        msg_id = self.client.execute(code)
        text, error = "", ""
        deadline = time.time() + timeout
        while True:
            try:
                msg = self.client.get_iopub_msg(timeout=max(0.1, deadline - time.time()))
            except queue.Empty as exc:
                raise AssertionError(f"no answer from the kernel for {code!r}") from exc
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "execute_result":
                text = content["data"].get("text/plain", "")
            elif kind == "error":
                error = content["ename"]
            elif kind == "status" and content["execution_state"] == "idle":
                break
        reply = self.client.get_shell_msg(timeout=timeout)
        return reply["content"]["status"], text, error

    def stop(self):
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kernel")
    env = dict(os.environ, BACKPROP_PROGRESS_FILE=str(folder / "progress.json"),
               BACKPROP_CHECK_MEMORY_MB="300")  # a memory bomb ends before its time limit
    env.pop("BACKPROP_CHECK_ISOLATION", None)
    started = Kernel(folder, env)
    status, _, error = started.run(SETUP)
    assert status == "ok", error
    yield started
    started.stop()


def kernel_pid(kernel):
    return kernel.run("os.getpid()")[1]


@pytest.mark.parametrize("name, expression, expected", ROUTES, ids=[r[0] for r in ROUTES])
def test_hostile_route_ends_as_a_status_and_the_kernel_survives(kernel, name, expression,
                                                                expected):
    pid = kernel_pid(kernel)
    status, text, error = kernel.run(expression)
    assert status == "ok", error
    assert text.strip("'\"") == expected, text
    assert kernel_pid(kernel) == pid
    assert kernel.run('check("softmax", softmax_ok).status')[1] == "'passed'"


def test_the_interrupt_button_stops_a_check_and_kills_its_child(kernel, tmp_path):
    pid_file = tmp_path / "child_pid"
    kernel.run(textwrap.dedent(f"""
        def spin(z):
            open({str(pid_file)!r}, "w").write(str(os.getpid()))
            while True:
                pass
    """))
    msg_id = kernel.client.execute('check("softmax", spin, timeout=60)')
    deadline = time.time() + 30
    while not pid_file.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert pid_file.exists()
    kernel.manager.interrupt_kernel()
    reply = kernel.client.get_shell_msg(timeout=30)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kernel.client.get_shell_msg(timeout=30)
    assert reply["content"].get("ename") == "KeyboardInterrupt", reply["content"]
    child = int(pid_file.read_text())
    assert wait_until_gone(child), f"the interrupted check's child {child} still runs"
    assert kernel.run('check("softmax", softmax_ok).status')[1] == "'passed'"
