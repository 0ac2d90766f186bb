"""The course in a real JupyterLab, driven by headless Chromium (Python Playwright).

A module fixture starts JupyterLab on 127.0.0.1 (free port, random token, temporary root,
settings and runtime folders, no browser) with two builds of one notebook: the solutions build
and the student build. The tests open each one, run all cells from the Run menu and look at what
a learner would see: no tracebacks, a slider that redraws its figure, check panels that say
"passed" (solutions) or "not attempted" (student). Screenshots go to tests/screenshots/.

The notebook under test is the source named by ``BACKPROP_BROWSER_NOTEBOOK`` (a course/*.md
path), else course/02_softmax.md when it exists, else the fixture in tests/fixtures/course/.

Needs Debian's chromium at /usr/bin/chromium (``apt-get install -y chromium``). Without it these
tests skip, except under CI (env ``CI`` set), where they fail.
"""

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from backprop_lib.grading import release

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "tests" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Two notebooks run in two tabs at once: keep the background one at full speed.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
STARTUP_TIMEOUT = 60  # seconds for JupyterLab to answer
RUN_TIMEOUT = 180  # seconds for "Run All Cells" to finish
STATUSES = ("passed", "failed", "not attempted", "error", "timeout")
JACOBIAN_SOURCE = ROOT / "course" / "03_softmax_jacobian.md"  # its heatmap explorer is tested too

# JupyterLab user settings: render every cell (off-screen cells are otherwise not in the DOM),
# and never ask about or fetch news.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


# The learner's JupyterLab has no nbgrader (it is a test-only dependency): switch it off.
SERVER_CONFIG = {
    "ServerApp": {
        "jpserver_extensions": {
            f"nbgrader.server_extensions.{name}": False
            for name in ("formgrader", "validate_assignment", "assignment_list", "course_list")
        }
    }
}
PAGE_CONFIG = {"disabledExtensions": {"@jupyter/nbgrader": True}}


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def notebook_source() -> Path:
    chosen = os.environ.get("BACKPROP_BROWSER_NOTEBOOK")
    if chosen:
        return (ROOT / chosen).resolve()
    softmax = ROOT / "course" / "02_softmax.md"
    if softmax.exists():
        return softmax
    return ROOT / "tests" / "fixtures" / "course" / "90_softmax_widget.md"


def require_chromium():
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing: install it with `apt-get install -y chromium`"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI must run the browser tests)")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited early:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"JupyterLab did not answer within {STARTUP_TIMEOUT} s:\n{log.read_text()}")


def stop(process: subprocess.Popen, base: str, token: str) -> None:
    """Ask the server to shut down (it stops its kernels), then end its process group."""
    request = urllib.request.Request(
        f"{base}/api/shutdown", method="POST", headers={"Authorization": f"token {token}"}
    )
    try:
        urllib.request.urlopen(request, timeout=5).close()
        process.wait(timeout=15)
    except (urllib.error.URLError, ConnectionError, TimeoutError, subprocess.TimeoutExpired):
        pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            break
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A running JupyterLab serving the solutions and student builds of the notebook under test.

    Yields a dict with ``url`` (base URL), ``token``, ``root`` and the notebook ``name``.
    """
    require_chromium()
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "root"
    built = release.build_source(notebook_source())
    for version in ("solutions", "student"):
        (root / version).mkdir(parents=True)
        (root / version / built.filename).write_text(getattr(built, version), encoding="utf-8")
    jacobian = release.build_source(JACOBIAN_SOURCE) if JACOBIAN_SOURCE.exists() else None
    if jacobian is not None:
        (root / "solutions" / jacobian.filename).write_text(jacobian.solutions, encoding="utf-8")

    config, settings = tmp / "config", tmp / "settings"
    write_json(config / "jupyter_server_config.json", SERVER_CONFIG)
    write_json(config / "labconfig" / "page_config.json", PAGE_CONFIG)
    for plugin, values in LAB_SETTINGS.items():
        write_json(settings / f"{plugin}.jupyterlab-settings", values)

    env = dict(os.environ)
    env.pop("BACKPROP_PROGRESS_FILE", None)  # each version keeps progress next to its notebook
    env.update(
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
        MPLBACKEND="module://matplotlib_inline.backend_inline",
    )
    port, token = free_port(), secrets.token_hex(16)
    log = tmp / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyter", "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        # Nothing may reach the network: no update checks, no PyPI extension listing.
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    if os.geteuid() == 0:  # containers often run as root
        command.append("--allow-root")
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            command, env=env, cwd=root, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/api/status?token={token}", process, log)
        yield {"url": base, "token": token, "root": root, "name": built.filename,
               "jacobian": jacobian.filename if jacobian is not None else None}
    finally:
        stop(process, base, token)


@pytest.fixture(scope="module")
def browser(lab, tmp_path_factory):
    """A fresh headless Chromium profile (module scope: one browser for all tests)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def idle(page) -> None:
    """Wait until the status bar reports the notebook's kernel idle."""
    page.locator(".jp-StatusBar-Item", has_text=re.compile(r"\|\s*Idle")).wait_for()


def settled_image(page, cell, quiet: float = 1.0, timeout: float = 20.0) -> str:
    """The src of the cell's figure once it has stopped changing for ``quiet`` seconds."""
    image = cell.locator(".jp-OutputArea img").first
    deadline = time.monotonic() + timeout
    last, since = image.get_attribute("src"), time.monotonic()
    while time.monotonic() < deadline:
        page.wait_for_timeout(200)
        current = image.get_attribute("src")
        if current != last:
            last, since = current, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return last


ACTIVE = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def open_and_start_run_all(browser, lab, version: str, name: str | None = None):
    """Open one build in JupyterLab and choose Run > Run All Cells; returns (page, notebook)."""
    page = browser.new_page()
    page.set_default_timeout(30_000)
    name = name or lab["name"]
    page.goto(f"{lab['url']}/lab/tree/{version}/{name}?reset&token={lab['token']}")
    notebook = page.locator(f"{ACTIVE} .jp-Notebook")
    notebook.locator(".jp-CodeCell").first.wait_for()
    idle(page)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    return page, notebook


def wait_for_run_all(page) -> None:
    """Wait until no cell is queued or running ("[*]") any more and the kernel is idle.

    Run All marks every code cell "[*]" at once, so the first prompt that is not blank shows
    that the run has started. After an error the remaining cells fall back to "[ ]".
    """
    page.wait_for_function(
        r"""selector => {
            const prompts = [...document.querySelectorAll(selector)].map(p => p.textContent);
            return prompts.some(p => /\[(\d+|\*)\]/.test(p)) && !prompts.some(p => p.includes('*'));
        }""",
        arg=f"{ACTIVE} .jp-CodeCell .jp-InputPrompt",
        timeout=RUN_TIMEOUT * 1000,
    )
    idle(page)


def cell_reports(notebook) -> list[dict]:
    """Source, visible output text and traceback texts of every code cell, from the DOM."""
    return notebook.evaluate(
        """nb => [...nb.querySelectorAll('.jp-CodeCell')].map(cell => ({
            prompt: cell.querySelector('.jp-InputPrompt')?.textContent ?? '',
            source: cell.querySelector('.jp-InputArea-editor .cm-content')?.innerText ?? '',
            output: cell.querySelector('.jp-OutputArea')?.innerText ?? '',
            stderr: [...cell.querySelectorAll(
                '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
            )].map(o => o.innerText),
        }))"""
    )


def assert_ran_without_tracebacks(cells):
    for cell in cells:
        tracebacks = [text for text in cell["stderr"] if "Traceback" in text]
        assert not tracebacks, f"cell {cell['source'][:60]!r} shows an error:\n{tracebacks[0]}"
        assert re.search(r"\[\d+\]", cell["prompt"]), f"cell {cell['source'][:60]!r} did not run"


def panel_statuses(cells) -> dict[str, str]:
    """Exercise id -> status shown in its last check panel.

    A notebook may first show a wrong answer failing (notebook 00 does), so only the last
    panel of each exercise counts.
    """
    statuses = {}
    for cell in cells:
        for exercise in release.checked_exercises(cell["source"]):
            pattern = rf"{re.escape(exercise)}\b[^\n]*?: ({'|'.join(STATUSES)})\b"
            found = re.findall(pattern, cell["output"])
            statuses[exercise] = found[-1] if found else "no panel"
    assert statuses, "the notebook under test calls no check()"
    return statuses


@pytest.fixture(scope="module")
def runs(browser, lab):
    """Both builds opened in their own tab and run at the same time (two kernels, two cores)."""
    pages = {version: open_and_start_run_all(browser, lab, version)
             for version in ("solutions", "student")}
    for page, _ in pages.values():
        wait_for_run_all(page)
    yield pages
    for page, _ in pages.values():
        page.close()


@pytest.fixture
def solutions(runs):
    return runs["solutions"]


@pytest.fixture
def student(runs):
    return runs["student"]


def test_solutions_run_clean_and_every_check_passes(solutions):
    page, notebook = solutions
    panel = notebook.locator(".jp-CodeCell", has=page.locator(".backprop-check")).first
    panel.scroll_into_view_if_needed()
    screenshot(page, "solutions_check_panel")
    cells = cell_reports(notebook)
    assert_ran_without_tracebacks(cells)
    statuses = panel_statuses(cells)
    assert set(statuses.values()) == {"passed"}, statuses


def assert_slider_redraws_figure(page, notebook, name: str) -> None:
    """Move the first slider of the first widget cell with the keyboard; its figure must change.

    Screenshots ``<name>_before`` and ``<name>_after`` are saved.
    """
    cell = notebook.locator(".jp-CodeCell", has=page.locator(".widget-slider")).first
    slider = cell.locator(".widget-slider").first
    handle = slider.locator(".noUi-handle")
    figure = cell.locator(".jp-OutputArea img").first
    handle.scroll_into_view_if_needed()
    figure.wait_for()
    readout = slider.locator(".widget-readout")
    before, value_before = figure.get_attribute("src"), readout.inner_text()
    screenshot(page, f"{name}_before")

    handle.focus()
    for _ in range(3):
        handle.press("ArrowRight")
    # The output widget replaces the image; wait for one with different pixels.
    page.wait_for_function(
        """([cell, before]) => {
            const img = cell.querySelector('.jp-OutputArea img');
            return img !== null && img.src !== before;
        }""",
        arg=[cell.element_handle(), before],
        timeout=20_000,
    )
    after = settled_image(page, cell)
    screenshot(page, f"{name}_after")
    assert readout.inner_text() != value_before, "the slider did not move"
    assert after and after != before, "moving the slider did not change the figure"
    assert_ran_without_tracebacks(cell_reports(notebook))


def test_slider_redraws_the_figure(solutions):
    page, notebook = solutions
    assert_slider_redraws_figure(page, notebook, "slider")


def test_jacobian_heatmap_follows_the_sliders(browser, lab, runs):
    """Notebook 03 (solutions): runs clean, every check passes, its heatmap follows a slider."""
    if lab["jacobian"] is None:
        pytest.skip(f"{JACOBIAN_SOURCE.name} does not exist yet")
    page, notebook = open_and_start_run_all(browser, lab, "solutions", lab["jacobian"])
    try:
        wait_for_run_all(page)
        cells = cell_reports(notebook)
        assert_ran_without_tracebacks(cells)
        statuses = panel_statuses(cells)
        assert set(statuses.values()) == {"passed"}, statuses
        assert_slider_redraws_figure(page, notebook, "jacobian_heatmap")
    finally:
        page.close()


def test_student_notebook_runs_and_shows_not_attempted(student):
    page, notebook = student
    panel = notebook.locator(".jp-CodeCell", has=page.locator(".backprop-check")).first
    panel.scroll_into_view_if_needed()
    screenshot(page, "student_not_attempted")
    cells = cell_reports(notebook)
    assert_ran_without_tracebacks(cells)
    statuses = panel_statuses(cells)
    assert set(statuses.values()) == {"not attempted"}, statuses


def test_next_hint_button_reveals_hints_one_by_one(student):
    page, notebook = student
    cell = notebook.locator(".jp-CodeCell", has=page.locator(".backprop-check")).last
    button = cell.locator("button", has_text="Next hint")
    button.scroll_into_view_if_needed()
    hint_box = cell.locator(".backprop-hint")

    button.click()
    hint_box.wait_for(timeout=20_000)
    first = hint_box.inner_text()
    assert re.search(r"Hint 1 of \d+", first), first

    button.click()
    page.wait_for_function(
        "([box, before]) => box.innerText !== before",
        arg=[hint_box.element_handle(), first],
        timeout=20_000,
    )
    second = hint_box.inner_text()
    screenshot(page, "student_next_hint")
    assert re.search(r"Hint 2 of \d+", second), second


# ---------------------------------------------------------------------------
# Notebook 07: the training notebook and its explorer
# ---------------------------------------------------------------------------

TRAINING_SOURCE = ROOT / "course" / "07_train_a_classifier.md"


def test_training_notebook_runs_clean_and_its_explorer_retrains(browser, lab):
    """Notebook 07 (solutions): runs clean, every check passes, the digits reach the printed
    accuracy, and moving the explorer's hidden-size slider retrains and redraws its figure."""
    if not TRAINING_SOURCE.exists():
        pytest.skip(f"{TRAINING_SOURCE.name} does not exist yet")
    built = release.build_source(TRAINING_SOURCE)
    # The server serves its root folder live, so the notebook can be added now.
    (lab["root"] / "solutions" / built.filename).write_text(built.solutions, encoding="utf-8")
    page, notebook = open_and_start_run_all(browser, lab, "solutions", built.filename)
    try:
        wait_for_run_all(page)
        cells = cell_reports(notebook)
        assert_ran_without_tracebacks(cells)
        statuses = panel_statuses(cells)
        assert set(statuses.values()) == {"passed"}, statuses
        assert len(statuses) == 5, statuses
        accuracy = re.findall(r"test accuracy: (0\.\d{3})", "\n".join(c["output"] for c in cells))
        assert accuracy and float(accuracy[-1]) >= 0.97, accuracy
        assert_slider_redraws_figure(page, notebook, "training_explorer")
    finally:
        page.close()


# --------------------------------------------------------------------------- notebook 09
# The capstone runs in the same JupyterLab, whichever notebook the fixture above serves: its two
# builds are written into the served folders, then opened side by side like the `runs` pair.

CAPSTONE_SOURCE = ROOT / "course" / "09_capstone.md"


@pytest.fixture(scope="module")
def capstone_runs(browser, lab, runs):
    """Both builds of notebook 09 opened in their own tab and run at the same time."""
    if not CAPSTONE_SOURCE.exists():
        pytest.skip(f"{CAPSTONE_SOURCE.name} does not exist yet")
    built = release.build_source(CAPSTONE_SOURCE)
    for version in ("solutions", "student"):
        (lab["root"] / version / built.filename).write_text(getattr(built, version),
                                                            encoding="utf-8")
    pages = {version: open_and_start_run_all(browser, lab, version, built.filename)
             for version in ("solutions", "student")}
    for page, _ in pages.values():
        wait_for_run_all(page)
    yield pages
    for page, _ in pages.values():
        page.close()


def test_capstone_solutions_run_clean_and_every_check_passes(capstone_runs):
    from backprop_lib.grading import exercises

    page, notebook = capstone_runs["solutions"]
    notebook.locator(".jp-CodeCell", has=page.locator(".backprop-check")).last \
        .scroll_into_view_if_needed()
    screenshot(page, "capstone_solutions")
    cells = cell_reports(notebook)
    assert_ran_without_tracebacks(cells)
    statuses = panel_statuses(cells)
    assert set(statuses) == set(exercises(9)), statuses
    assert set(statuses.values()) == {"passed"}, statuses


def test_capstone_student_build_runs_and_shows_not_attempted(capstone_runs):
    from backprop_lib.grading import exercises

    page, notebook = capstone_runs["student"]
    notebook.locator(".jp-CodeCell", has=page.locator(".backprop-check")).last \
        .scroll_into_view_if_needed()
    screenshot(page, "capstone_student")
    cells = cell_reports(notebook)
    assert_ran_without_tracebacks(cells)
    statuses = panel_statuses(cells)
    assert set(statuses) == set(exercises(9)), statuses
    assert set(statuses.values()) == {"not attempted"}, statuses


# ---------------------------------------------------------------------------
# notebook 06 (dense_layer_backprop): its solutions build runs clean in JupyterLab
# ---------------------------------------------------------------------------

DENSE_SOURCE = ROOT / "course" / "06_dense_layer_backprop.md"


@pytest.fixture(scope="module")
def dense_layer_notebook(lab):
    """The solutions build of notebook 06, written next to the others in the running server."""
    if not DENSE_SOURCE.exists():
        pytest.skip(f"{DENSE_SOURCE.name} does not exist yet")
    built = release.build_source(DENSE_SOURCE)
    (lab["root"] / "solutions" / built.filename).write_text(built.solutions, encoding="utf-8")
    return built.filename


def test_dense_layer_notebook_runs_clean_and_every_check_passes(browser, lab, runs,
                                                                dense_layer_notebook):
    """Notebook 06 (solutions): Run All shows no traceback and every check panel "passed"."""
    page, notebook = open_and_start_run_all(browser, lab, "solutions", dense_layer_notebook)
    try:
        wait_for_run_all(page)
        cells = cell_reports(notebook)
        assert_ran_without_tracebacks(cells)
        statuses = panel_statuses(cells)
        assert set(statuses) == set(release.checked_exercises(DENSE_SOURCE.read_text()))
        assert set(statuses.values()) == {"passed"}, statuses
        figures = notebook.locator(".jp-OutputArea img")
        assert figures.count() >= 4, "the notebook's figures did not render"
        panel = notebook.locator(".jp-CodeCell", has=page.locator(".backprop-check")).last
        panel.scroll_into_view_if_needed()
        screenshot(page, "dense_layer_backprop_solutions")
    finally:
        page.close()
