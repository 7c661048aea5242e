"""The synthetic locate benchmark (``benchmarks/locate_synthetic.py``) still runs on the library, end to end
on a few plates: it switches the tight trees and the soft suppression off and sets the containment limit
through private constants, and must put them back, also when a variant fails."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import defectlab.learn.box_proposals as bp
import defectlab.learn.locate as locate_mod
from defectlab.demo import DEFECT_CLASSES
from defectlab.errors import DefectlabError

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "locate_synthetic.py"


def _bench():
    spec = importlib.util.spec_from_file_location("locate_synthetic_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def _switches():
    return (bp._TIGHT_MIN_PLATES, bp._SOFT_SIGMA, bp._MAX_INSIDE, locate_mod._SALIENT_SHARE, bp._STRUCT_MIN_SPAN,
            locate_mod._CROP_STAGE_LARGER, locate_mod._SALIENT_SPREAD)


def test_every_variant_sets_its_switches_and_puts_them_back_even_when_it_fails(tmp_path, monkeypatch):
    bench = _bench()
    saved = _switches()
    seen = []

    def failing_open(ws_dir):  # what the library would run with, then a failure (a workspace gone)
        seen.append(_switches())
        raise DefectlabError(f"no workspace at {ws_dir}")

    monkeypatch.setattr(bench, "open_workspace", failing_open)
    for tight, soft, inside, placed, spread in (v[1:] for v in bench.VARIANTS.values()):
        with pytest.raises(DefectlabError):
            bench.evaluate(tmp_path / "ws", [], tight, soft, inside, placed, spread=spread)
        assert _switches() == saved
    tight_min, sigma, max_inside, share, span, larger, spread = saved
    assert larger is True and spread > 0
    assert dict(zip(bench.VARIANTS, seen, strict=True)) == {
        "learned": saved,
        "unspread (peer)": (tight_min, sigma, max_inside, share, span, larger, 0.0),
        "half inside (peer)": (tight_min, sigma, 0.5, share, span, larger, spread),
        "hard suppression (peer)": (tight_min, None, max_inside, share, span, larger, spread),
        "no tight trees (peer)": (10**9, sigma, max_inside, share, span, larger, spread),
        "stretched grid (peer)": (tight_min, sigma, max_inside, 0.0, 0, larger, spread)}
    with pytest.raises(DefectlabError):  # the peer on much larger images: tile by tile, map only
        bench.evaluate(tmp_path / "ws", [], larger_crop=False)
    assert seen[-1] == (*saved[:-2], False, spread) and _switches() == saved
    with pytest.raises(SystemExit):  # an unknown variant is refused before anything is trained
        bench.main(["--variants", "magic", "--workdir", str(tmp_path)])


@pytest.mark.slow
def test_synthetic_locate_benchmark_scores_the_library_and_a_peer_on_the_same_plates(tmp_path):
    bench = _bench()
    saved = _switches()
    out = bench.main(["--train", "8", "--test", "3", "--workdir", str(tmp_path),
                      "--variants", "learned", "no tight trees (peer)"])
    assert _switches() == saved  # the peer's switch is put back
    assert list(out["variants"]) == ["learned", "no tight trees (peer)"]
    learned, peer = out["variants"]["learned"], out["variants"]["no tight trees (peer)"]
    assert learned["true_boxes"] == peer["true_boxes"] > 3  # 2-4 a plate
    for v in (learned, peer):
        assert 0.0 <= v["recall"] <= 1.0 and 0.0 <= v["precision"] <= 1.0 and v["cpu_seconds_per_plate"] > 0
    assert peer["tight_kept"] == {"scorer": False, "crop_stage": False}  # the peer never learns them
    # each copy holds its own locator, learned from the same run; copies of variants not run are not made
    assert all(any((tmp_path / name / "ws" / "runs").glob("*/locator")) for name in ("learned", "notight"))
    assert not (tmp_path / "hard").exists() and not (tmp_path / "halfinside").exists()


def test_dense_frames_hold_three_by_three_plates_worth_of_separate_defects():
    bench = _bench()
    frames = bench.dense_frames(2, 160, 240, random_state=1)
    assert len(frames) == 2
    for image, boxes in frames:
        assert image.shape == (480, 720) and image.dtype == np.uint8
        assert 9 <= len(boxes) <= 36  # 1-4 a cell (a small cell may not fit all)
        taken = np.zeros(image.shape, bool)
        for label, x0, y0, x1, y1 in boxes:
            assert label in DEFECT_CLASSES and 8 <= x0 < x1 <= 712 and 8 <= y0 < y1 <= 472
            assert x0 // 240 == (x1 - 1) // 240 and y0 // 160 == (y1 - 1) // 160  # inside one cell
            assert not taken[y0:y1, x0:x1].any()  # boxes do not overlap
            taken[y0:y1, x0:x1] = True
    again = bench.dense_frames(2, 160, 240, random_state=1)
    assert all((a[0] == b[0]).all() and a[1] == b[1] for a, b in zip(frames, again, strict=True))
