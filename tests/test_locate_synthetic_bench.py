"""The synthetic locate benchmark (``benchmarks/locate_synthetic.py``) still runs on the library, end to end
on a few plates: it switches the tight trees and the soft suppression off and sets the containment limit
through private constants, and must put them back."""

import importlib.util
from pathlib import Path

import pytest

import defectlab.learn.box_proposals as bp

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "locate_synthetic.py"


@pytest.mark.slow
def test_synthetic_locate_benchmark_scores_both_variants_on_the_same_plates(tmp_path):
    spec = importlib.util.spec_from_file_location("locate_synthetic_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    saved = bp._TIGHT_MIN_PLATES, bp._SOFT_SIGMA, bp._MAX_INSIDE
    out = bench.main(["--train", "8", "--test", "3", "--workdir", str(tmp_path)])
    assert (bp._TIGHT_MIN_PLATES, bp._SOFT_SIGMA, bp._MAX_INSIDE) == saved  # the peers' switches are put back
    learned, peer = out["variants"]["learned"], out["variants"]["no tight trees (peer)"]
    hard, half = out["variants"]["hard suppression (peer)"], out["variants"]["half inside (peer)"]
    assert learned["true_boxes"] == peer["true_boxes"] == hard["true_boxes"] == half["true_boxes"] > 3  # 2-4 a plate
    for v in (learned, peer, hard, half):
        assert 0.0 <= v["recall"] <= 1.0 and 0.0 <= v["precision"] <= 1.0 and v["cpu_seconds_per_plate"] > 0
    assert peer["tight_kept"] == {"scorer": False, "crop_stage": False}  # the peer never learns them
    # both copies hold their own locator, learned from the same run
    copies = ("learned", "notight", "hard", "halfinside")
    assert all(any((tmp_path / name / "ws" / "runs").glob("*/locator")) for name in copies)
