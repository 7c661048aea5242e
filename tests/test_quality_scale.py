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


@pytest.mark.parametrize("shape, ties", [((128, 768), False), ((50, 701), False), ((7, 30), False),
                                         ((40, 300), True), ((5, 12), False)])
def test_k_smallest_is_the_k_smallest_of_every_row(shape, ties):
    rng = np.random.default_rng(shape[1])
    h = rng.normal(size=shape).astype(np.float32)
    if ties:  # whole runs of equal values at and around the cut
        h = np.round(h * 2).astype(np.float32)
    for k in (1, 6, 11):
        part = _knn._k_smallest(h, k)
        assert part.shape == (shape[0], k)
        assert all(len(set(row)) == k for row in part.tolist())
        got = np.sort(np.take_along_axis(h, part, axis=1), axis=1)
        np.testing.assert_array_equal(got, np.sort(h, axis=1)[:, :k])


def test_cell_search_is_exact_within_the_probed_cells(monkeypatch):
    """The outliers' search: neighbours at least as close as the re-ranked candidates', itself first
    at distance 0, exact copies at distance 0, distances exact, only index rows, deterministic."""
    X, _ = _clusters(3000, seed=5)
    Z = (X - X.mean(0)) / X.std(0)
    Z[100] = Z[200]  # an exact copy
    index = np.flatnonzero(np.arange(3000) % 4 != 1)
    monkeypatch.setattr(_knn, "_EXACT_CELLS", 0)
    monkeypatch.setattr(_knn, "_CELL", 32)
    monkeypatch.setattr(_knn, "_DIMS", 8)
    cand_idx, cand_d = _knn.kneighbors(Z, 6, index)
    idx, d = _knn.kneighbors(Z, 6, index, search="cells")
    assert np.isin(idx, index).all() and (np.diff(d, axis=1) >= 0).all()
    assert (d.mean(axis=1) <= cand_d.mean(axis=1) * (1 + 1e-4)).all()  # float32 rounding
    exact, _ = _knn._exact(Z, Z[index], 6)

    def overlap(found):
        return np.mean([len(set(a) & set(b)) / 6 for a, b in zip(found, index[exact], strict=True)])

    assert overlap(idx) >= max(0.9, overlap(cand_idx))
    indexed = np.isin(np.arange(3000), index)
    assert (d[indexed, 0] == 0).all()
    indexed[200] = False  # its first neighbour is its copy 100 (ties by row number)
    assert (idx[indexed, 0] == np.flatnonzero(indexed)).all()
    assert (d[[100, 200], :2] == 0).all() and set(idx[100, :2]) == set(idx[200, :2]) == {100, 200}
    assert not indexed[101] and idx[101, 0] != 101  # not indexed: never its own neighbour
    i = 17
    np.testing.assert_allclose(d[i], np.linalg.norm(Z[idx[i]] - Z[i], axis=1), rtol=1e-4, atol=1e-5)
    again_idx, again_d = _knn.kneighbors(Z, 6, index, search="cells")
    np.testing.assert_array_equal(again_idx, idx)
    np.testing.assert_array_equal(again_d, d)


def test_robust_scale_from_a_sample_is_the_full_one_within_its_error():
    from defectlab.quality._standardize import _robust_centre_scale, _robust_standardize, _standardize

    rng = np.random.default_rng(3)
    X = rng.lognormal(size=(60_000, 12))
    X[:, 3] = 0.0
    X[rng.choice(60_000, 50, replace=False), 3] = 1.0  # rare values: IQR 0, spread from all rows
    X[:, 5] = 2.5  # constant
    full_centre, full_scale = _robust_centre_scale(X, sample_rows=60_000)
    centre, scale = _robust_centre_scale(X, sample_rows=20_000)
    assert np.all(np.abs(centre - full_centre) <= 0.03 * full_scale)
    np.testing.assert_allclose(scale, full_scale, rtol=0.03)
    assert scale[3] == pytest.approx(X[:, 3].std()) and scale[5] == 1.0
    small = X[:500]
    np.testing.assert_array_equal(_robust_standardize(small, np.inf), _standardize(small, robust=True))
    Z32 = _robust_standardize(X.astype(np.float32), 10.0, np.float32, 20_000)
    assert Z32.dtype == np.float32 and Z32.flags.c_contiguous and np.abs(Z32).max() <= 10.0
    np.testing.assert_allclose(Z32, np.clip((X - centre) / scale, -10, 10), atol=1e-4)


def test_outliers_on_large_sets_agree_with_the_exact_path(monkeypatch):
    from defectlab.quality import outliers

    X, _ = _clusters(3000, seed=9)
    X[[7, 1500]] += 25.0  # unlike any other item
    X[900, 3] += 400.0  # one wild feature
    exact = find_outliers(X, n_neighbors=8)
    monkeypatch.setattr(_knn, "_EXACT_CELLS", 0)
    monkeypatch.setattr(_knn, "_CELL", 32)
    monkeypatch.setattr(outliers, "_SAMPLE_ROWS", 1000)
    X32 = X.astype(np.float32)
    before = X32.copy()
    large = find_outliers(X32, n_neighbors=8)
    np.testing.assert_array_equal(X32, before)  # the caller's features are not touched
    flagged = set(large.loc[large["is_outlier"], "index"])
    assert flagged == set(exact.loc[exact["is_outlier"], "index"]) and {7, 900, 1500} <= flagged
    r_large = large.sort_values("index")["distance_ratio"].to_numpy()
    r_exact = exact.sort_values("index")["distance_ratio"].to_numpy()
    assert np.median(np.abs(r_large - r_exact)) < 0.05  # a 1,000-row sample, cells of 32 rows


def test_outliers_leave_the_cycle_collector_as_they_found_it():
    import gc

    X = np.random.default_rng(0).normal(size=(30, 3))
    assert gc.isenabled()
    find_outliers(X)
    assert gc.isenabled()
    gc.disable()
    try:
        find_outliers(X)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_outlier_reasons_top_columns_are_the_head_of_a_stable_sort():
    from defectlab.quality.outliers import _top_columns

    rng = np.random.default_rng(4)
    A = np.abs(np.round(rng.normal(size=(500, 40)) * 2) / 2)  # many ties
    A[:20] = 1.5  # whole rows of ties
    want = np.argsort(-A, axis=1, kind="stable")[:, :3]
    np.testing.assert_array_equal(_top_columns(A.copy()), want)
    narrow = A[:, :2].copy()
    np.testing.assert_array_equal(_top_columns(narrow.copy()), np.argsort(-narrow, axis=1, kind="stable"))
