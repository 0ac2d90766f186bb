"""The course in JupyterLite: the static site in build/lite/, in headless Chromium, no server.

A module fixture builds the site (``make lite``, a no-op when it is up to date), serves
build/lite/ with a plain static file server on 127.0.0.1 (a free port), opens the student build
of notebook 02 in a fresh Chromium profile, waits for the Python (Pyodide) kernel and runs all
cells from the Run menu. The tests then look at what a learner sees and does: check panels and
no tracebacks, a slider that redraws its figure, the "Next hint" button, a correct answer whose
progress is still there after a page reload (a new kernel, reading the browser's storage), an
endless answer that ends as "timeout" (Pyodide has no SIGALRM, no threads, no processes, and
JupyterLite's interrupt button does nothing), and no request that leaves 127.0.0.1.

The times (page load to kernel ready, to the first finished cell, Run All) and the site's size
are printed in the terminal summary. Screenshots go to tests/screenshots/lite_*.png.
"""

import contextlib
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from test_browser import (
    ACTIVE,
    CHROMIUM,
    CHROMIUM_ARGS,
    STATUSES,
    assert_ran_without_tracebacks,
    cell_reports,
    free_port,
    panel_statuses,
    require_chromium,
    screenshot,
    settled_image,
    wait_for_run_all,
)

pytestmark = pytest.mark.lite

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "build" / "lite"
NOTEBOOK = "02_softmax.ipynb"
BUILD_TIMEOUT = 1800  # seconds for `make lite` on a fresh machine (downloads included)
KERNEL_TIMEOUT = 180  # seconds from page load until the Pyodide kernel is idle
CHECK_TIMEOUT = 90  # seconds for one check() cell to show its panel
ENDLESS_LIMIT = 1  # the time limit (s) the endless answer is checked with
LOCAL_HOST = "127.0.0.1"
# Nothing can reach another host even if something tried: every other name fails to resolve.
# The test still records and asserts every request the page, its workers and its service
# worker make.
LITE_ARGS = [*CHROMIUM_ARGS, f"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE {LOCAL_HOST}"]

# Cells the tests add. Each imports what it uses: after a reload the kernel is new.
CORRECT_SOFTMAX = """\
import numpy as np
from backprop_lib.grading import check

def softmax(z):
    z = np.asarray(z)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)

check("softmax", softmax)"""

ENDLESS_SOFTMAX = f"""\
from backprop_lib.grading import check

def softmax(z):
    while True:
        pass

check("softmax", softmax, timeout={ENDLESS_LIMIT})"""

EXITING_SOFTMAX = """\
import os
from backprop_lib.grading import check

def softmax(z):
    os._exit(3)

check("softmax", softmax)"""

STILL_ALIVE = """print("kernel still alive:", 6 * 7)"""

SHOW_PROGRESS = """\
from backprop_lib.grading import progress
progress()"""


class LiteTimings:
    """A pytest plugin printing the measured times and the site's size after the run."""

    def __init__(self):
        self.lines: dict[str, str] = {}

    def pytest_terminal_summary(self, terminalreporter):
        if self.lines:
            terminalreporter.section("JupyterLite site (headless Chromium, this machine)")
            for name, value in self.lines.items():
                terminalreporter.write_line(f"{value:>10}  {name}")


@pytest.fixture(scope="module")
def timings(request) -> dict[str, str]:
    plugin = LiteTimings()
    request.config.pluginmanager.register(plugin, name="backprop-lite-times")
    return plugin.lines


def site_megabytes(site: Path) -> float:
    return sum(p.stat().st_size for p in site.rglob("*") if p.is_file()) / 1e6


@pytest.fixture(scope="module")
def site(timings) -> Path:
    """build/lite/, (re)built by `make lite` when an input changed."""
    require_chromium()
    result = subprocess.run(["make", "lite"], cwd=ROOT, capture_output=True, text=True,
                            timeout=BUILD_TIMEOUT)
    assert result.returncode == 0, f"make lite failed:\n{result.stdout}\n{result.stderr}"
    assert (SITE / "index.html").exists() and (SITE / "files" / NOTEBOOK).exists()
    timings["site size"] = f"{site_megabytes(SITE):.1f} MB"
    return SITE


@pytest.fixture(scope="module")
def server(site, tmp_path_factory):
    """A static file server for the site on 127.0.0.1; yields its base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("lite-server") / "http.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "http.server", "--bind", LOCAL_HOST, "--directory",
             str(site), str(port)], stdout=out, stderr=subprocess.STDOUT)
    base = f"http://{LOCAL_HOST}:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/index.html", timeout=2).close()
                break
            except (urllib.error.URLError, ConnectionError) as exc:
                if time.monotonic() > deadline or process.poll() is not None:
                    message = f"the static server did not start:\n{log.read_text()}"
                    raise RuntimeError(message) from exc
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def requests_seen() -> list[str]:
    """Every URL the browser requested during this module (pages, workers, service worker)."""
    return []


@pytest.fixture(scope="module")
def browser(server, requests_seen, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("lite-chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=LITE_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        context.on("request", lambda request: requests_seen.append(request.url))
        try:
            yield context
        finally:
            context.close()


def kernel_idle(page, timeout: float = KERNEL_TIMEOUT) -> None:
    """Wait until the status bar shows the Pyodide kernel idle."""
    page.locator(".jp-StatusBar-Item", has_text=re.compile(r"Pyodide\)?\s*\|\s*Idle")).wait_for(
        timeout=timeout * 1000)


def open_notebook(page, server: str) -> tuple[object, float]:
    """Load the notebook in `page`; returns its notebook locator and the seconds to kernel idle.

    Opening the site again in the same tab is a page reload: a new kernel, the same storage.
    """
    start = time.monotonic()
    page.goto(f"{server}/lab/index.html?path={NOTEBOOK}")
    notebook = page.locator(f"{ACTIVE} .jp-Notebook")
    notebook.locator(".jp-CodeCell").first.wait_for(timeout=KERNEL_TIMEOUT * 1000)
    kernel_idle(page)
    return notebook, time.monotonic() - start


@pytest.fixture(scope="module")
def lite(browser, server, timings):
    """Notebook 02 (student build) opened in the site, with Run All done; a dict of handles."""
    page = browser.new_page()
    page.set_default_timeout(30_000)
    start = time.monotonic()
    notebook, to_idle = open_notebook(page, server)
    timings["page load -> kernel idle"] = f"{to_idle:.1f} s"
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    clicked = time.monotonic()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    first_prompt = f"{ACTIVE} .jp-CodeCell .jp-InputPrompt"
    page.wait_for_function(
        "selector => /\\[\\d+\\]/.test(document.querySelector(selector)?.textContent ?? '')",
        arg=first_prompt, timeout=KERNEL_TIMEOUT * 1000)
    timings["page load -> first cell finished"] = f"{time.monotonic() - start:.1f} s"
    wait_for_run_all(page)
    done = time.monotonic()
    timings[f"Run All of {NOTEBOOK}"] = f"{done - clicked:.1f} s"
    timings["page load -> Run All finished"] = f"{done - start:.1f} s"
    screenshot(page, "lite_after_run_all")
    handles = {"page": page, "notebook": notebook}
    yield handles
    handles["page"].close()


def run_new_cell(page, notebook, code: str, shows: str, timeout: float = CHECK_TIMEOUT):
    """Add a code cell at the end, type `code` and run it; returns the cell once it finished.

    Waits up to `timeout` seconds for the cell's prompt to show its execution count (playwright's
    TimeoutError otherwise), then a little for `shows` (a CSS selector) to render in its output.
    """
    notebook.locator(".jp-Cell").last.locator(".jp-InputPrompt").click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    cell = notebook.locator(".jp-Cell").last
    cell.locator(".cm-content").click()
    page.keyboard.insert_text(code)
    page.keyboard.press("Control+Enter")
    cell.locator(".jp-InputPrompt", has_text=re.compile(r"\[\d+\]")).wait_for(
        timeout=timeout * 1000)
    with contextlib.suppress(PlaywrightTimeout):  # the assertions then show what is there
        cell.locator(f".jp-OutputArea {shows}").first.wait_for(timeout=10_000)
    return cell


def shown_status(cell, exercise: str) -> str:
    """The status the cell's last check panel of `exercise` shows."""
    text = cell.locator(".jp-OutputArea").inner_text()
    assert "Traceback" not in text, text
    found = re.findall(rf"{re.escape(exercise)}\b[^\n]*?: ({'|'.join(STATUSES)})\b", text)
    assert found, f"no check panel for {exercise!r} in:\n{text}"
    return found[-1]


def test_student_notebook_runs_clean_and_shows_every_check_panel(lite):
    cells = cell_reports(lite["notebook"])
    assert_ran_without_tracebacks(cells)
    statuses = panel_statuses(cells)
    assert set(statuses.values()) == {"not attempted"}, statuses
    panels = lite["notebook"].locator(".backprop-check")
    assert panels.count() >= len(statuses)


def test_slider_redraws_the_figure(lite):
    """Drag the explorer's first slider with the mouse: its readout and its figure change.

    (The keyboard does not move a slider here, unlike in the course's JupyterLab: JupyterLite
    0.6's JupyterLab 4.4 keeps the arrow keys for the notebook.)
    """
    page, notebook = lite["page"], lite["notebook"]
    cell = notebook.locator(".jp-CodeCell", has=page.locator(".widget-slider")).first
    slider = cell.locator(".widget-slider").first
    handle, readout = slider.locator(".noUi-handle"), slider.locator(".widget-readout")
    figure = cell.locator(".jp-OutputArea img").first
    handle.scroll_into_view_if_needed()
    figure.wait_for()
    before, value_before = figure.get_attribute("src"), readout.inner_text()
    screenshot(page, "lite_slider_before")
    box = handle.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + 40, y, steps=5)
    page.mouse.up()
    page.wait_for_function(
        "([img, before]) => img.src !== before", arg=[figure.element_handle(), before],
        timeout=20_000)
    after = settled_image(page, cell)
    screenshot(page, "lite_slider_after")
    assert readout.inner_text() != value_before, "the slider did not move"
    assert after and after != before, "moving the slider did not change the figure"
    assert_ran_without_tracebacks(cell_reports(notebook))


def test_next_hint_button_shows_a_hint(lite):
    page, notebook = lite["page"], lite["notebook"]
    cell = notebook.locator(".jp-CodeCell", has=page.locator(".backprop-check")).last
    button = cell.locator("button", has_text="Next hint")
    button.scroll_into_view_if_needed()
    button.click()
    hint_box = cell.locator(".backprop-hint")
    try:
        hint_box.wait_for(timeout=20_000)
    finally:
        screenshot(page, "lite_next_hint")
    assert re.search(r"Hint 1 of \d+", hint_box.inner_text())


def test_progress_is_saved_and_still_there_after_a_page_reload(lite, server, timings):
    """A passing answer is recorded in the browser's storage; a reload (new kernel) reads it."""
    page, notebook = lite["page"], lite["notebook"]
    passed = run_new_cell(page, notebook, CORRECT_SOFTMAX, ".backprop-check")
    assert shown_status(passed, "softmax") == "passed"
    saved_output = passed.locator(".jp-OutputArea").inner_text()

    page.keyboard.press("Escape")
    page.keyboard.press("Control+s")
    page.locator(".lm-TabBar-tab.jp-mod-dirty").wait_for(state="detached", timeout=20_000)
    notebook, to_idle = open_notebook(page, server)
    timings["page reload -> kernel idle"] = f"{to_idle:.1f} s"
    lite["notebook"] = notebook

    report = run_new_cell(page, notebook, SHOW_PROGRESS, ".backprop-progress")
    screenshot(page, "lite_progress_after_reload")
    text = report.locator(".backprop-progress").inner_text()
    row = re.search(r"02 Softmax\s+(\d+) / (\d+)", text)
    assert row, text
    assert int(row.group(1)) >= 1, (
        f"after the reload the progress report shows {row.group(0)!r}: the pass was not saved. "
        f"The passing cell said:\n{saved_output}")


def test_an_endless_answer_ends_as_timeout(lite):
    """The time limit must stop an endless loop without SIGALRM, threads or processes."""
    page, notebook = lite["page"], lite["notebook"]
    try:
        cell = run_new_cell(page, notebook, ENDLESS_SOFTMAX, ".backprop-check")
    except PlaywrightTimeout:
        screenshot(page, "lite_endless_answer")
        page.close()  # ends the kernel's worker, and the loop with it
        pytest.fail(f"check() of an endless answer (timeout={ENDLESS_LIMIT}) did not finish "
                    f"within {CHECK_TIMEOUT} s: the kernel is still running the loop")
    screenshot(page, "lite_endless_answer")
    assert shown_status(cell, "softmax") == "timeout"


def test_os_exit_in_an_answer_is_an_error_and_the_kernel_lives_on(lite):
    """Pyodide runs answers in the kernel itself: os._exit must not end it."""
    page, notebook = lite["page"], lite["notebook"]
    cell = run_new_cell(page, notebook, EXITING_SOFTMAX, ".backprop-check")
    screenshot(page, "lite_os_exit_answer")
    assert shown_status(cell, "softmax") == "error"
    assert "os._exit(3)" in cell.locator(".jp-OutputArea").inner_text()
    try:
        alive = run_new_cell(page, notebook, STILL_ALIVE, ".jp-OutputArea-output")
    except PlaywrightTimeout:
        pytest.fail("after check() of an answer calling os._exit the kernel ran no more cells")
    assert "kernel still alive: 42" in alive.locator(".jp-OutputArea").inner_text()


def test_no_request_leaves_127_0_0_1(lite, requests_seen):
    """Every request of the page, its kernel worker and its service worker goes to the site."""
    outside = []
    for url in requests_seen:
        parts = urlsplit(url[len("blob:"):] if url.startswith("blob:") else url)
        if parts.scheme == "data":
            continue
        if parts.scheme not in {"http", "https", "ws", "wss"} or parts.hostname != LOCAL_HOST:
            outside.append(url)
    assert not outside, f"requests outside {LOCAL_HOST}: {sorted(set(outside))}"
    # The recording sees the kernel worker's downloads too, so it could have caught a stray one.
    lock = json.loads((ROOT / "build" / "lite" / "static" / "pyodide" / "pyodide-lock.json")
                      .read_text(encoding="utf-8"))
    numpy_wheel = lock["packages"]["numpy"]["file_name"]
    for expected in ("pyodide.asm.wasm", "pyodide-lock.json", numpy_wheel):
        assert any(url.endswith(expected) for url in requests_seen), f"{expected} never requested"
