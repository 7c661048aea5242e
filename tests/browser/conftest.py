"""Real-browser fixtures: a Streamlit server on a temporary demo workspace, and Debian's Chromium
driven by Playwright (no browser download: ``executable_path=/usr/bin/chromium``).

Every test here is marked ``browser`` and skipped with a clear message when Chromium or Playwright
is missing.
"""

import inspect
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("DEFECTLAB_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = REPO / "test-output" / "screenshots"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_workspace(root):
    """The demo workspace when the demo builder is there, else a small workspace made here."""
    from defectlab.store import open_workspace

    try:
        from defectlab.demo import build_demo_workspace
    except ImportError:
        build_demo_workspace = None
    if build_demo_workspace is not None:
        ws = open_workspace(root)
        build_demo_workspace(ws)
        return ws
    sys.path.insert(0, str(REPO / "tests"))
    from ui_support import tiny_workspace

    ws, _, _ = tiny_workspace(root, n_items=60, labeled=30, plate=True)
    return ws


class Server:
    def __init__(self, root, port, proc):
        self.root, self.port, self.proc = root, port, proc
        self.url = f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def prepare_workspace():
    """Override in a test module to change the demo workspace before the server starts."""
    return lambda ws: None


@pytest.fixture(scope="module")
def server(tmp_path_factory, prepare_workspace):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium); browser tests skipped")
    pytest.importorskip("playwright.sync_api",
                        reason="playwright is not installed (pip install playwright); browser tests skipped")
    root = tmp_path_factory.mktemp("browser") / "ws"
    prepare_workspace(build_workspace(root))
    port = _free_port()
    env = {**os.environ, "DEFECTLAB_WORKSPACE": str(root)}
    log = open(root.parent / "streamlit.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    srv = Server(root, port, proc)
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{srv.url}/_stcore/health", timeout=2) as r:  # noqa: S310 (fixed http://127.0.0.1)
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail("streamlit did not start: " + (root.parent / "streamlit.log").read_text()[-2000:])
        time.sleep(0.3)
    yield srv
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def new_page(browser, locale="en-US"):
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale=locale)
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


def wait_ready(page, timeout=60.0):
    """Wait until Streamlit has finished the script run: no Stop button (shown while running), no
    skeleton placeholders, the same for a few consecutive checks."""
    page.wait_for_selector("[data-testid='stApp']")
    page.wait_for_timeout(250)
    running = ("[data-testid='stToolbar'] button:has-text('Stop'), [data-testid='stSkeleton'], "
               "[data-testid='stStatusWidget'] button:has-text('Stop')")
    calm, waited = 0, 0
    while calm < 3 and waited < timeout * 1000:
        busy = page.locator(running).count() > 0
        calm = 0 if busy else calm + 1
        page.wait_for_timeout(150)
        waited += 150


def wait_for(predicate, timeout=30.0, message=None):
    """Poll ``predicate`` (e.g. a store query) until it returns something truthy and return that value.

    Raises ``AssertionError`` when it is still falsy after ``timeout`` seconds, naming what was awaited:
    ``message`` (a string, or a callable returning one, evaluated only on failure) or the predicate's source.
    """
    end = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() >= end:
            break
        time.sleep(0.2)
    what = message() if callable(message) else message
    if what is None:
        try:
            what = inspect.getsource(predicate).strip()
        except (OSError, TypeError):
            what = getattr(predicate, "__qualname__", repr(predicate))
    raise AssertionError(f"timed out after {timeout:g} s waiting for: {what} (last value: {value!r})")


def shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(browser, server, username, password, new_password=None):
    """A new browser context (its own session) signs in; changes the password when asked to. Returns the page."""
    page = new_page(browser)
    page.goto(server.url)
    wait_ready(page)
    page.get_by_role("textbox", name="User name").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    must_change = page.get_by_text("set a new password before you start")
    signed_in = page.get_by_text(f"Signed in as {username}")
    must_change.or_(signed_in).first.wait_for()
    if must_change.count():
        assert new_password, f"{username} was asked for a new password"
        shot(page, f"flow_{username}_change_password")
        page.get_by_role("textbox", name="Current password").fill(password)
        page.get_by_role("textbox", name="New password", exact=True).fill(new_password)
        page.get_by_role("textbox", name="New password again").fill(new_password)
        page.get_by_role("button", name="Change password").click()
        wait_ready(page)
    page.get_by_text(f"Signed in as {username}").wait_for()
    return page
