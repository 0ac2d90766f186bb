"""The README's first command, ``make lab``, works on a fresh clone, as root and as anyone else.

``test_make_lab_on_a_fresh_clone_serves_the_course`` does what a new learner does: it clones the
repository into a temporary folder and runs ``make lab`` there, which creates the clone's own
``.venv`` from the package registries (a few minutes) and starts JupyterLab. The server runs on a
free port without opening a browser (through the Makefile's ``LAB_ARGS``); the test waits for an
HTTP 200 from it, then stops the whole process group (make and the server it started).

Select these tests with ``-m make_lab``; they also run in the normal suite.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.make_lab

ROOT = Path(__file__).resolve().parents[1]
INSTALL_AND_START_SECONDS = 1500  # a fresh .venv with JupyterLab, from the registries


def _require(tool):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed, so `make lab` cannot run here")


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _dry_run(tmp_path, uid):
    """The commands `make -n lab` would run when `id -u` prints `uid`."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake_id = fake_bin / "id"
    fake_id.write_text(f"#!/bin/sh\necho {uid}\n")
    fake_id.chmod(0o755)
    env = dict(os.environ, PATH=f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    out = subprocess.run(["make", "-n", "-W", ".venv/.lab-installed", "lab",
                          "LAB_ARGS=--no-browser"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if "jupyter lab" in line]


@pytest.mark.parametrize("uid, allow_root", [(0, True), (1000, False)])
def test_allow_root_is_passed_to_root_only(tmp_path, uid, allow_root):
    _require("make")
    (command,) = _dry_run(tmp_path, uid)
    assert ("--allow-root" in command.split()) is allow_root, command
    assert "--no-browser" in command and command.endswith("notebooks/00_start_here.ipynb")


def _get(url):
    """HTTP status of `url`, or None while nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, ""
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return None, ""


def _stop_group(proc):
    """SIGTERM the process group of `proc` (make and its server), SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.mark.timeout(INSTALL_AND_START_SECONDS + 120)
def test_make_lab_on_a_fresh_clone_serves_the_course(tmp_path):
    _require("make")
    _require("git")
    clone = tmp_path / "course"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    assert not (clone / ".venv").exists()
    port, token = _free_port(), secrets.token_hex(16)
    log_path = tmp_path / "make_lab.log"
    lab_args = (f"--no-browser --port={port} --ServerApp.port_retries=0 "
                f"--IdentityProvider.token={token}")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VIRTUAL_ENV", "JUPYTER", "BACKPROP_"))}
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(["make", "lab", f"LAB_ARGS={lab_args}"], cwd=clone, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    status, page = None, ""
    try:
        deadline = time.monotonic() + INSTALL_AND_START_SECONDS
        url = f"http://127.0.0.1:{port}/lab/tree/notebooks/00_start_here.ipynb?token={token}"
        while time.monotonic() < deadline and proc.poll() is None:
            status, page = _get(url)
            if status is not None:
                break
            time.sleep(2)
        exited = proc.poll()
    finally:
        _stop_group(proc)
    log_text = log_path.read_text(encoding="utf-8", errors="replace")
    assert exited is None, f"make lab exited with status {exited}:\n{log_text[-3000:]}"
    assert status == 200, f"JupyterLab answered {status}:\n{log_text[-3000:]}"
    assert "JupyterLab" in page or "jupyter-config-data" in page
    assert (clone / ".venv" / ".lab-installed").exists()
    assert proc.poll() is not None, "the server is still running after the test stopped it"
    time.sleep(1)
    assert _get(f"http://127.0.0.1:{port}/api")[0] is None, "the server still answers"
    shutil.rmtree(clone, ignore_errors=True)  # the clone's .venv is large
