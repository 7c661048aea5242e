"""The store sits below team, learn and quality: none of its modules imports them (not even lazily), and the
blind-visibility rule the item browser applies lives in the store (``team.visibility`` re-exports it)."""

import ast
import subprocess
import sys
from pathlib import Path

STORE = Path(__file__).resolve().parents[1] / "defectlab" / "store"
HIGHER = ("team", "learn", "quality", "ui", "ingest", "export", "labelops", "features")


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            yield "." * node.level + (node.module or "")
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names)


# none left: the item browser's bulk actions (an "assign" creates a team assignment) live above both layers
# in ``defectlab.bulk``, and the workspace check reads run files with ``store.run_files``
KNOWN: dict[str, list[str]] = {}


def _layer(name):
    """The top-level defectlab package an import names, or None for the store itself / outside libraries."""
    if name.startswith("defectlab."):
        return name.split(".")[1]
    if name.startswith("..") and not name.startswith("..."):
        return name[2:].split(".")[0]
    return None


def test_no_store_module_imports_a_higher_layer():
    bad = {}
    for path in sorted(STORE.glob("*.py")):
        for name in _imports(path):
            if _layer(name) in HIGHER:
                bad.setdefault(path.name, []).append(name)
    assert bad == KNOWN


def test_the_item_browser_does_not_load_the_team_package():
    code = ("import sys, defectlab.store.browse, defectlab.store.visibility; "
            "print(any(m.startswith('defectlab.team') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_team_visibility_is_the_store_rule():
    from defectlab.store import visibility as low
    from defectlab.team import visibility as high

    assert high.item_views is low.item_views and high.visible_labels is low.visible_labels
    assert high.ItemView is low.ItemView and high.may_see_model is low.may_see_model
