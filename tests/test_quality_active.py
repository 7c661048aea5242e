"""defectlab.quality.active: uncertainty, diverse batches without near-copies, determinism."""

import numpy as np
import pytest

from defectlab.errors import InputError
from defectlab.quality import rank_for_labeling, uncertainty


def test_uncertainty_exact():
    P = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.6, 0.3, 0.1], [1 / 3, 1 / 3, 1 / 3]]
    assert uncertainty(P).round(6).tolist() == [0.0, 1.0, 0.7, 1.0]
    h = -(0.6 * np.log(0.6) + 0.3 * np.log(0.3) + 0.1 * np.log(0.1)) / np.log(3)
    assert uncertainty(P, "entropy").tolist() == pytest.approx([0.0, np.log(2) / np.log(3), h, 1.0])


def test_margin_and_entropy_orders():
    P = np.array([[0.9, 0.05, 0.05], [0.45, 0.45, 0.1], [0.4, 0.3, 0.3], [0.7, 0.3, 0.0]])
    assert rank_for_labeling(P, batch_size=4, strategy="margin").tolist() == [1, 2, 3, 0]
    assert rank_for_labeling(P, batch_size=2, strategy="entropy").tolist() == [2, 1]
    assert rank_for_labeling(P, batch_size=10, strategy="margin").tolist() == [1, 2, 3, 0]


def _clumps(seed=0, n_clumps=12, per=15, n_easy=200):
    """``n_clumps`` tight clumps of near-copies, all very uncertain, plus many easy items."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 10, (n_clumps, 6))
    X = np.r_[np.repeat(centers, per, axis=0) + rng.normal(0, 0.01, (n_clumps * per, 6)),
              rng.normal(0, 10, (n_easy, 6))]
    clump = np.r_[np.repeat(np.arange(n_clumps), per), np.full(n_easy, -1)]
    p = np.r_[rng.uniform(0.45, 0.55, n_clumps * per), rng.uniform(0.9, 1.0, n_easy)]
    P = np.c_[p, 1 - p]
    return P, X, clump


def test_margin_diverse_batch_has_no_near_copies():
    P, X, clump = _clumps()
    plain = rank_for_labeling(P, batch_size=12, strategy="margin")
    assert len(set(clump[plain])) < 12  # plain margin piles up near-copies
    batch = rank_for_labeling(P, X, batch_size=12, random_state=0)
    assert batch.dtype == np.intp and len(batch) == 12 and len(set(batch.tolist())) == 12
    assert sorted(clump[batch].tolist()) == list(range(12))  # one from every clump
    d = np.linalg.norm(X[batch][:, None] - X[batch][None], axis=-1)[np.triu_indices(12, 1)]
    assert d.min() > 1.0
    u = uncertainty(P)[batch]
    assert (np.diff(u) <= 0).all()  # most uncertain first


def test_margin_diverse_is_deterministic_for_a_seed():
    P, X, _ = _clumps(seed=1)
    a = rank_for_labeling(P, X, batch_size=8, random_state=3)
    b = rank_for_labeling(P, X, batch_size=8, random_state=3)
    assert a.tolist() == b.tolist()


def test_margin_diverse_with_fewer_distinct_points_than_the_batch():
    P = np.tile([[0.5, 0.5]], (10, 1))
    X = np.repeat(np.eye(3), [4, 3, 3], axis=0)
    batch = rank_for_labeling(P, X, batch_size=5, random_state=0)
    assert len(set(batch.tolist())) == 5
    assert set(np.argmax(X[batch], axis=1).tolist()) == {0, 1, 2}


def test_random_strategy_is_seeded():
    P = np.full((30, 2), 0.5)
    a = rank_for_labeling(P, batch_size=10, strategy="random", random_state=1)
    assert a.tolist() == rank_for_labeling(P, batch_size=10, strategy="random", random_state=1).tolist()
    assert len(set(a.tolist())) == 10 and a.max() < 30
    assert a.tolist() != rank_for_labeling(P, batch_size=10, strategy="random", random_state=2).tolist()


@pytest.mark.parametrize("kwargs, match", [
    (dict(strategy="margin_diverse"), "needs 'features'"),
    (dict(strategy="magic"), r"'strategy'.*one of \['margin_diverse'"),
    (dict(strategy="margin", batch_size=0), "'batch_size'.*>= 1"),
    (dict(features=np.ones((3, 2))), "has 3 rows but there are 4 items"),
    (dict(pred_probs=np.ones((4, 2))), "summing to 1"),
    (dict(strategy="margin", pool_factor=0), "'pool_factor'"),
])
def test_invalid(kwargs, match):
    args = dict(pred_probs=np.full((4, 2), 0.5), batch_size=2)
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        rank_for_labeling(**args)
