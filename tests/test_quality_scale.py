"""Linear-cost quality algorithms: the pigeonhole pHash index and the inverted-file k-NN.

The index must find exactly the pairs of the all-pairs reference; the approximate k-NN must agree
with the exact search on clustered data and never return a row outside the index.
"""

import numpy as np
import pytest

from defectlab.quality import _knn, find_duplicates, find_outliers, neighbor_label_probs
from defectlab.quality.duplicates import _blocks, _near_pairs_hash, _near_pairs_hash_all


def _planted_hashes(n, n_pairs, max_flips, seed):
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)
    src = rng.choice(n, n_pairs, replace=False)
    dst = rng.choice(n, n_pairs, replace=False)
    for a, b in zip(src.tolist(), dst.tolist(), strict=True):
        v = int(h[a])
        for bit in rng.choice(64, int(rng.integers(0, max_flips + 1)), replace=False).tolist():
            v ^= 1 << bit
        h[b] = np.uint64(v)
    # a crowded bucket: many hashes sharing their low 16 bits (larger than the small-bucket limit)
    h[:200] = (h[:200] & np.uint64(0xFFFF_FFFF_FFFF_0000)) | np.uint64(0x1234)
    return h


@pytest.mark.parametrize("max_distance", [0, 1, 3, 4, 7, 9])
def test_pigeonhole_index_finds_exactly_the_all_pairs_result(max_distance):
    h = _planted_hashes(3000, 300, max_distance + 2, seed=max_distance)
    got = _near_pairs_hash(h, max_distance)
    want = _near_pairs_hash_all(h, max_distance)
    assert want[0].size > 50  # the planted pairs are there to be found
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_pigeonhole_blocks_cover_64_bits_once():
    for r in range(8):
        blocks = _blocks(r)
        assert len(blocks) == r + 1
        covered = 0
        for shift, mask in blocks:
            bits = mask << shift
            assert covered & bits == 0
            covered |= bits
        assert covered == 2**64 - 1


def test_find_duplicates_on_planted_hashes_matches_reference_groups():
    h = _planted_hashes(2000, 150, 4, seed=11)
    df = find_duplicates(phashes=h, labels=["a"] * 2000)
    r, c, _ = _near_pairs_hash_all(h, 4)
    linked = set(r.tolist()) | set(c.tolist())
    members = {i for m in df["indices"] for i in m}
    assert members == linked
    for row in df.itertuples():
        assert row.kind == "near" and 0 <= row.distance <= 4


def _clusters(n, seed=0, f=40, k=5):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    centres = rng.normal(0, 4, (k, 6))
    latent = centres[y] + rng.normal(0, 1, (n, 6))
    X = latent @ rng.normal(0, 1, (6, f)) + rng.normal(0, 0.3, (n, f))
    return X, y


def test_approximate_knn_agrees_with_exact_and_stays_in_the_index(monkeypatch):
    X, _ = _clusters(3000)
    Z = (X - X.mean(0)) / X.std(0)
    index = np.flatnonzero(np.arange(3000) % 3 != 0)
    exact, _ = _knn.kneighbors(Z, 6, index)
    monkeypatch.setattr(_knn, "_EXACT_CELLS", 0)
    monkeypatch.setattr(_knn, "_CELL", 32)
    monkeypatch.setattr(_knn, "_DIMS", 8)
    approx, d_approx = _knn.kneighbors(Z, 6, index)
    assert approx.shape == (3000, 6)
    assert np.isin(approx, index).all()
    overlap = np.mean([len(set(a) & set(b)) / 6 for a, b in zip(approx, exact, strict=True)])
    assert overlap >= 0.9
    assert (np.diff(d_approx, axis=1) >= -1e-9).all()  # nearest first
    # distances are exact on the full features for the rows found
    i = 17
    np.testing.assert_allclose(d_approx[i], np.linalg.norm(Z[approx[i]] - Z[i], axis=1), rtol=1e-5)
    again, _ = _knn.kneighbors(Z, 6, index)
    np.testing.assert_array_equal(again, approx)  # deterministic


def test_neighbor_votes_and_outliers_use_the_index_on_large_sets(monkeypatch):
    X, y = _clusters(2500, seed=3)
    X[5] = 60.0  # an item unlike any other
    exact_votes = neighbor_label_probs(X, y, n_neighbors=8)
    monkeypatch.setattr(_knn, "_EXACT_CELLS", 0)
    monkeypatch.setattr(_knn, "_CELL", 32)
    approx_votes = neighbor_label_probs(X, y, n_neighbors=8)
    assert np.mean(exact_votes.argmax(1) == approx_votes.argmax(1)) >= 0.98
    df = find_outliers(X, n_neighbors=8)
    assert int(df.loc[0, "index"]) == 5 and bool(df.loc[0, "is_outlier"])
