"""Shared fixtures.

``neu_dir`` points at the real NEU-DET set in ``../shared/datasets/neu-det`` (or ``$DEFECTLAB_NEU_DIR``)
and skips the test cleanly when it is absent: a user's machine will not have it.
"""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# The page tests (AppTest cannot see inside a component) and the older browser tests drive the classic
# rerun-per-key pages; tests of the in-browser labeling surface ask for it with ?surface=browser.
os.environ.setdefault("DEFECTLAB_LABEL_SURFACE", "classic")


def _find_neu():
    env = os.environ.get("DEFECTLAB_NEU_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "datasets" / "neu-det")
    for c in candidates:
        if (c / "images").is_dir() and any((c / "images").glob("*.jpg")):
            return c
    return None


NEU_DIR = _find_neu()


@pytest.fixture(scope="session")
def neu_dir():
    """Path of NEU-DET (with ``images/`` and ``annotations/``); skips when it is absent."""
    if NEU_DIR is None:
        pytest.skip("NEU-DET not found at ../shared/datasets/neu-det (set DEFECTLAB_NEU_DIR)")
    return NEU_DIR


@pytest.fixture(autouse=True)
def cheap_scrypt(request, monkeypatch):
    """Password hashing at N=2**4 in tests (the product uses 2**17: ~0.6 s and 128 MiB per hash); tests
    about the real cost are marked ``real_scrypt``."""
    if request.node.get_closest_marker("real_scrypt") is None:
        from defectlab.team import accounts

        monkeypatch.setattr(accounts, "SCRYPT_N", 2**4)
#: scikit-image's bundled grey pictures (no download): textures and a photo, for parity tests that do not
#: depend on NEU-DET.
SKIMAGE_PICTURES = ("camera", "brick", "grass", "gravel", "moon", "coins")


@pytest.fixture(scope="session")
def skimage_images():
    """(6, 200, 200) uint8: the centre 200x200 of each of :data:`SKIMAGE_PICTURES` (NEU's size)."""
    data = pytest.importorskip("skimage.data")
    import numpy as np

    crops = []
    for name in SKIMAGE_PICTURES:
        image = getattr(data, name)()
        r, c = (image.shape[0] - 200) // 2, (image.shape[1] - 200) // 2
        crops.append(image[r:r + 200, c:c + 200])
    return np.stack(crops).astype(np.uint8)


@pytest.fixture
def ws(tmp_path):
    """A fresh, empty workspace in a temp folder."""
    from defectlab.store import open_workspace

    return open_workspace(tmp_path / "ws")


@pytest.fixture
def add_items():
    """``add_items(ws, project, n, prefix)`` -> item ids: tiny distinct items with blobs, no labels."""

    def _add(ws, project, n, prefix="img"):
        import numpy as np

        from defectlab.store import add_item

        ids = []
        with ws.transaction() as conn:
            for i in range(n):
                data = f"{prefix}-{i}".encode() + np.random.default_rng(i).bytes(8)
                sha, rel = ws.put_blob(data, "bin")
                ids.append(add_item(conn, project.id, sha256=sha, blob=rel, width=8, height=8,
                                    channels=1, source=f"{prefix}_{i}.png"))
        return ids

    return _add


@pytest.fixture
def make_team():
    """``make_team(ws, annotators=..., reviewers=..., supervisors=...)``: a lead (which switches the
    workspace to team mode) plus the named accounts (password hashing is cheap: see above)."""
    from defectlab.team import accounts

    def _make(ws, annotators=("ann1", "ann2"), reviewers=("rev",), supervisors=()):
        accounts.create_user(ws, "lead", "lead-pass-1", "lead", by="local", admin_password="local-pass-1")
        for role, names, pw in (("annotator", annotators, "ann-pass-1"), ("reviewer", reviewers, "rev-pass-1"),
                                ("supervisor", supervisors, "sup-pass-1")):
            for name in names:
                accounts.create_user(ws, name, pw, role, by="lead")
        return ws

    return _make
