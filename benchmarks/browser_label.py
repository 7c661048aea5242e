"""What an annotator sees: key press -> next image painted on the Label page, in Debian Chromium.

Two paths in the same run, same workspace, same keys, same pacing:

- ``browser``: the in-browser labeling surface (``defectlab/ui/labeler.py``): the next item comes from
  the window the browser holds, the label goes to the server in the background;
- ``rerun`` (the peer): the classic page (``?surface=classic``), where every key is a whole Streamlit
  rerun and a new image from the server.

Measured in the page for both, by the same harness: ``t0`` is the keydown event's ``timeStamp``
(``performance.now()`` time base, taken before any handler runs); ``t1`` is ``performance.now()`` in
the ``requestAnimationFrame`` after the new main image (another item) is in the DOM and its
``decode()`` has resolved. One key at a time: the next key is pressed once the previous item is painted
plus a pause (``--pause``, a fast annotator), so a slow path is not also penalised by a backlog.

Workspaces: NEU-DET's 1,800 real 200x200 JPEGs (synthetic 200x200 JPEGs when NEU is absent), and
100,000 items of tiny generated 48x48 PNGs (1,000 distinct images shared round-robin, so the build
takes seconds; each item is its own row and its own image in the browser). Both are removed at the end.

Usage: ``.venv/bin/python benchmarks/browser_label.py [--sizes 1800 100000] [--presses 50] [--json out.json]``
"""

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from defectlab.store import add_item, create_batch, create_project, open_workspace  # noqa: E402

NEU = Path(os.environ.get("DEFECTLAB_NEU_DIR") or REPO.parent / "shared" / "datasets" / "neu-det")
if not NEU.is_dir():  # a git worktree one level deeper than the main checkout
    NEU = REPO.parents[1] / "shared" / "datasets" / "neu-det"
CHROMIUM = os.environ.get("DEFECTLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
CLASSES = ["crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches"]

# In-page harness: the same measurement for both paths.
HARNESS = """
() => {
  if (window.__bench) return;
  const mainImage = () => {
    for (const host of document.querySelectorAll('[data-testid=stBidiComponentIsolated]')) {
      const img = host.shadowRoot && host.shadowRoot.querySelector('.dl-holder img');
      if (img) return [img, 'item:' + img.dataset.item];
    }
    let best = null;
    for (const img of document.querySelectorAll('[data-testid=stImage] img')) {
      const w = img.getBoundingClientRect().width;
      if (!best || w > best.getBoundingClientRect().width) best = img;
    }
    return best ? [best, best.src] : [null, null];
  };
  const b = window.__bench = { armed: false, t0: null, before: null, result: null };
  window.addEventListener('keydown', (e) => {
    if (!b.armed || b.t0 !== null) return;
    b.t0 = e.timeStamp;
    const poll = () => {
      const [img, key] = mainImage();
      if (img && key !== b.before) {
        img.decode().catch(() => null).then(() => requestAnimationFrame(() => {
          b.result = { ms: performance.now() - b.t0, key };
          b.armed = false;
        }));
        return;
      }
      requestAnimationFrame(poll);
    };
    poll();
  }, true);
  b.arm = () => { b.armed = true; b.t0 = null; b.result = null; b.before = mainImage()[1]; return b.before; };
}
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_neu(root, n):
    """``n`` NEU-DET JPEGs (or synthetic 200x200 JPEGs when NEU is absent), unlabeled."""
    ws = open_workspace(root)
    p = create_project(ws, "bench", CLASSES)
    files = sorted((NEU / "images").glob("*.jpg"))[:n] if (NEU / "images").is_dir() else []
    rng = np.random.default_rng(0)
    seen = set()
    with ws.transaction() as conn:
        batch = create_batch(conn, p.id, "import", "bench", "local")
        for k in range(n):
            if k < len(files):
                data, name = files[k].read_bytes(), files[k].name
            else:
                data = cv2.imencode(".jpg", rng.integers(0, 256, (200, 200), dtype=np.uint8))[1].tobytes()
                name = f"synthetic_{k:05d}.jpg"
            sha, rel = ws.put_blob(data, "jpg")
            if sha in seen:  # NEU-DET holds a few byte-identical files: one item each
                continue
            seen.add(sha)
            add_item(conn, p.id, sha256=sha, blob=rel, width=200, height=200, channels=1, source=name,
                     batch_id=batch)
    return f"NEU-DET, {len(seen)} distinct" if files else "synthetic"


def build_tiny(root, n, distinct=1000):
    """``n`` items of tiny 48x48 PNGs: ``distinct`` generated images shared round-robin (cheap to build)."""
    ws = open_workspace(root)
    p = create_project(ws, "bench", CLASSES)
    rng = np.random.default_rng(1)
    blobs = []
    for k in range(distinct):
        image = rng.integers(0, 256, (48, 48), dtype=np.uint8)
        cv2.putText(image, str(k), (2, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 255, 1)
        blobs.append(ws.put_blob(cv2.imencode(".png", image)[1].tobytes(), "png")[1])
    with ws.transaction() as conn:
        batch = create_batch(conn, p.id, "import", "bench", "local")
        for k in range(n):
            # items are unique by content hash: each row gets its own key over a shared blob file
            sha = hashlib.sha256(f"bench-item-{k}".encode()).hexdigest()
            add_item(conn, p.id, sha256=sha, blob=blobs[k % distinct], width=48, height=48, channels=1,
                     source=f"tiny/{k:06d}.png", batch_id=batch)
    return f"generated ({distinct} distinct)"


class Server:
    def __init__(self, root):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "DEFECTLAB_WORKSPACE": str(root), "PYTHONPATH": str(REPO)}
        self.log = open(Path(root).parent / "streamlit.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.headless", "true",
             "--server.port", str(self.port), "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:  # noqa: S310
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("streamlit did not start")

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


def _open(browser, url, surface):
    page = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="en-US").new_page()
    page.set_default_timeout(120_000)
    page.goto(f"{url}/label?surface={surface}")
    if surface == "browser":
        page.locator(".dl-root .dl-key").first.wait_for()
        page.locator(".dl-canvas img").first.wait_for()
    else:
        page.get_by_role("button", name="1 · ").first.wait_for()
        page.locator("[data-testid=stImage] img").first.wait_for()
        page.locator("h1").first.click()  # focus off the inputs: shortcuts are ignored inside them
    page.wait_for_timeout(1500)  # the first window of images decoded; the page idle
    page.evaluate(HARNESS)
    return page


def press_series(page, n, pause_ms, warmup=2):
    """Press number keys one at a time; return the key -> painted times (ms) of the last ``n`` presses."""
    times = []
    for k in range(n + warmup):
        page.evaluate("window.__bench.arm()")
        page.keyboard.press(str(k % 6 + 1))
        page.wait_for_function("window.__bench.result !== null", timeout=60_000)
        ms = page.evaluate("window.__bench.result.ms")
        if k >= warmup:
            times.append(ms)
        page.wait_for_timeout(pause_ms)
    return times


def _stats(times):
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": round(statistics.median(times), 1), "p95_ms": round(p95, 1),
            "max_ms": round(max(times), 1), "n": len(times), "all_ms": [round(t, 1) for t in times]}


def run_size(browser, size, presses, pause_ms):
    tmp = Path(tempfile.mkdtemp(prefix="defectlab-bench-browser-"))
    root = tmp / "ws"
    try:
        t0 = time.perf_counter()
        images = build_neu(root, size) if size <= 1800 else build_tiny(root, size)
        print(f"{size:>7} items ({images}) built in {time.perf_counter() - t0:.1f} s", flush=True)
        server = Server(root)
        try:
            out = {}
            for surface in ("browser", "classic"):  # fresh unlabeled items for each: the queue moves on
                page = _open(browser, server.url, surface)
                times = press_series(page, presses, pause_ms)
                out[surface] = _stats(times)
                if surface == "browser":
                    page.wait_for_timeout(1500)
                    out[surface]["unsaved_at_end"] = int(page.locator(".dl-saved").get_attribute("data-pending"))
                    own = page.evaluate("window.__defectlabLabeler.timings.map(t => t.ms)")[-presses:]
                    out[surface]["component_median_ms"] = round(statistics.median(own), 1) if own else None
                page.context.close()
                print(f"{size:>7} items  {surface:<8} {out[surface]}", flush=True)
            out["images"] = images
            return out
        finally:
            server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the 100k workspace goes away


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1800, 100_000])
    ap.add_argument("--presses", type=int, default=50)
    ap.add_argument("--pause", type=int, default=150, help="ms after each painted item before the next key")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    results = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for size in args.sizes:
                results[size] = run_size(browser, size, args.presses, args.pause)
        finally:
            browser.close()
    print("\nkey -> next image painted (Chromium, ms)")
    print(f"{'items':>8} {'path':<8} {'median':>8} {'p95':>8} {'max':>8}")
    for size, res in results.items():
        for surface in ("browser", "classic"):
            r = res[surface]
            print(f"{size:>8} {surface:<8} {r['median_ms']:>8} {r['p95_ms']:>8} {r['max_ms']:>8}")
        ratio = res["classic"]["median_ms"] / max(res["browser"]["median_ms"], 0.1)
        print(f"{size:>8} median ratio rerun / browser: {ratio:.1f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
