"""Shared fixtures.

``neu_dir`` points at the real NEU-DET set in ``../shared/datasets/neu-det`` (or ``$DEFECTLAB_NEU_DIR``)
and skips the test cleanly when it is absent: a user's machine will not have it.
"""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


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
