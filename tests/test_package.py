"""Package-level rules: the library never imports Streamlit; only defectlab/ui/ may."""

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "defectlab"


def test_import_defectlab_does_not_import_streamlit():
    code = (
        "import sys, defectlab, defectlab.store, defectlab.ingest, defectlab.imaging, defectlab.demo, "
        "defectlab.features, defectlab.learn, defectlab.quality, defectlab.team, defectlab.i18n, defectlab.cli; "
        "print('streamlit' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_only_ui_package_mentions_streamlit():
    offenders = []
    for path in PKG.rglob("*.py"):
        if "ui" in path.relative_to(PKG).parts[:1]:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "streamlit" or n.startswith("streamlit.") for n in names):
                offenders.append(str(path.relative_to(PKG)))
    assert offenders == []


def test_no_pickle_loading_in_the_library():
    bad = []
    for path in PKG.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for needle in ("pickle.load", "joblib.load", "allow_pickle=True"):
            if needle in text:
                bad.append(f"{path.relative_to(PKG)}: {needle}")
    assert bad == []
