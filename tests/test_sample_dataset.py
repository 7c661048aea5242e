"""The committed sample in datasets/sample: tracked, small, reproducible, importable and trainable."""

import importlib.util
import subprocess
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "datasets" / "sample"


def _script():
    spec = importlib.util.spec_from_file_location("make_sample", REPO / "datasets" / "make_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _files():
    return sorted(SAMPLE.rglob("*.png"))


def test_sample_is_small_and_tracked_by_git():
    files = _files()
    assert len(files) == 36
    assert sum(f.stat().st_size for f in files) < 300 * 1024
    assert {f.parent.name for f in files} == {"crazing", "inclusion", "patches", "pitted_surface",
                                              "rolled-in_scale", "scratches"}
    if (REPO / ".git").exists():
        tracked = subprocess.run(["git", "ls-files", "datasets"], cwd=REPO, capture_output=True, text=True,
                                 check=True).stdout.split()
        assert {"datasets/README.md", "datasets/make_sample.py"} <= set(tracked)
        assert {f.relative_to(REPO).as_posix() for f in files} <= set(tracked)


def test_committed_pixels_are_what_the_script_makes():
    """The fixed seed reproduces every committed crop: pixel for pixel on OpenCV 5 (which wrote them); on
    OpenCV 4 anti-aliased lines are drawn a little differently, so a few pixels of a crop may differ."""
    exact = int(cv2.__version__.split(".")[0]) >= 5
    images, labels = _script().sample_images()
    count = {}
    for image, label in zip(images, labels, strict=True):
        count[label] = count.get(label, 0) + 1
        path = SAMPLE / label / f"{label}_{count[label]:03d}.png"
        stored = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        assert stored is not None and stored.shape == image.shape and stored.dtype == np.uint8, path
        differ = stored != image
        if exact:
            assert not differ.any(), path
        else:
            assert differ.mean() <= 0.05 and np.abs(stored.astype(int) - image).mean() < 3, path


def test_script_writes_the_committed_layout(tmp_path):
    written = _script().write_sample(tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out") for p in written) == [p.relative_to(SAMPLE) for p in _files()]


def test_import_and_train_on_the_sample(ws):
    """What the quick start does with the sample: import the class folders, train, get a useful model."""
    from defectlab.ingest import import_source
    from defectlab.learn import runs
    from defectlab.store import current_labels, get_project

    report = import_source(ws, "Sample", SAMPLE, layout="folders")
    assert report.imported == 36 and not report.rejected and not report.conflicts
    project = get_project(ws, "Sample")
    assert set(project.classes) == {p.name for p in SAMPLE.iterdir() if p.is_dir()}
    assert sum(state.label is not None for state in current_labels(ws, project.id).values()) == 36
    summary = runs.train_project(ws, "Sample", preset="fast", folds=3, seed=0, n_jobs=1)
    assert summary["n_items"] == 36 and summary["n_classes"] == 6
    # six synthetic classes, six crops each: far above chance (1/6) even with 24 training crops a fold
    assert summary["accuracy"] >= 0.6, summary


def test_cli_imports_the_sample(tmp_path):
    import json
    import os
    import sys

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "defectlab.cli", "import", "Sample", str(SAMPLE),
                           "--workspace", str(tmp_path / "ws"), "--json"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["imported"] == 36
