"""Nearest neighbours in feature space without an all-pairs step (private module).

The label-issue neighbour vote and the outlier score both need each item's ``k`` nearest items.
scikit-learn's exact search on ~200 standardised columns is brute force over all pairs (minutes and
gigabytes at 100,000 items), and a k-d tree does not help at that dimension. Here:

- *small sets* (``n_query * n_index`` up to :data:`_EXACT_CELLS`): exact, in blocks of bounded size;
- *large sets*: the features are reduced to :data:`_DIMS` principal components (fitted on a sample),
  the index rows are split into cells of about :data:`_CELL` rows by k-means (an inverted-file index),
  each query is compared with the rows of the few cells nearest to its own cell only, and the best
  ``3 k`` candidates are re-ranked with exact distances on the full features.

Cost grows linearly with the number of items (a fixed number of candidates per query) and memory is
bounded by the block size. Distances are Euclidean; normalise the rows first for cosine distance.
"""

import numpy as np

__all__ = []  # private module

_EXACT_CELLS = 16_000_000  # n_query * n_index at or below which the search is exact
_BLOCK_CELLS = 4_000_000  # distance cells per block (~32 MB of float64)
_DIMS = 32  # principal components of the reduced space
_CELL = 128  # target index rows per inverted-file cell
_MIN_PROBE = 6  # cells searched per query cell, at least
_CANDIDATES = 2  # candidates per neighbour kept for the exact re-ranking
_PCA_SAMPLE = 20_000


def _exact(Q, P, k):
    """Exact ``k`` nearest rows of ``P`` for each row of ``Q``: (indices, squared distances), sorted."""
    nq, ni = Q.shape[0], P.shape[0]
    k = min(k, ni)
    out_idx = np.empty((nq, k), dtype=np.int64)
    out_d = np.empty((nq, k), dtype=np.float64)
    i_sq = np.einsum("ij,ij->i", P, P)
    block = max(1, _BLOCK_CELLS // max(ni, 1))
    for s in range(0, nq, block):
        q = Q[s:s + block]
        d = np.einsum("ij,ij->i", q, q)[:, None] + i_sq[None, :] - 2.0 * (q @ P.T)
        np.maximum(d, 0.0, out=d)
        if k < ni:
            part = np.argpartition(d, k - 1, axis=1)[:, :k]
        else:
            part = np.broadcast_to(np.arange(ni), d.shape)
        dd = np.take_along_axis(d, part, axis=1)
        order = _row_order(dd, part)
        out_idx[s:s + block] = np.take_along_axis(part, order, axis=1)
        out_d[s:s + block] = np.take_along_axis(dd, order, axis=1)
    return out_idx, out_d


def _row_order(dd, part):
    """Per-row order by distance, ties by index (deterministic whatever argpartition returned)."""
    order = np.argsort(part, axis=1, kind="stable")
    by_d = np.argsort(np.take_along_axis(dd, order, axis=1), axis=1, kind="stable")
    return np.take_along_axis(order, by_d, axis=1)


def _reduce(Z, dims, seed):
    """``Z`` projected on its first ``dims`` principal components (fitted on a sample), float64."""
    from sklearn.utils.extmath import randomized_svd

    n, f = Z.shape
    if f <= dims:
        return Z
    rng = np.random.default_rng(seed)
    sample = Z[np.sort(rng.choice(n, min(n, _PCA_SAMPLE), replace=False))]
    mean = sample.mean(axis=0)
    _, _, vt = randomized_svd(sample - mean, dims, random_state=seed)
    return ((Z - mean) @ vt.T).astype(np.float32)


def _cells(R, n_cells, seed):
    """k-means centroids of ``R`` (a few Lloyd rounds from a sample) and each row's cell."""
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(seed)
    sample = R[np.sort(rng.choice(R.shape[0], min(R.shape[0], 16 * n_cells), replace=False))]
    km = KMeans(n_clusters=n_cells, n_init=1, max_iter=6, random_state=seed).fit(sample)
    centroids = km.cluster_centers_.astype(R.dtype)
    return centroids, _exact(R, centroids, 1)[0][:, 0]


def _probe_lists(centroids, sizes, need):
    """For each cell: the nearest cells (itself first) holding at least ``need`` rows in all."""
    order, _ = _exact(centroids, centroids, centroids.shape[0])
    lists = []
    for row in order:
        total = np.cumsum(sizes[row])
        stop = max(_MIN_PROBE, int(np.searchsorted(total, need)) + 1)
        lists.append(row[:stop])
    return lists


def _ivf_candidates(R, index_rows, m, seed):
    """About ``m`` approximate nearest index rows (positions in ``index_rows``) for every row of ``R``."""
    RI = R[index_rows]
    n_cells = max(1, RI.shape[0] // _CELL)
    centroids, cell_of_index = _cells(RI, n_cells, seed)
    if index_rows.size == R.shape[0]:
        cell_of_query = cell_of_index
    else:
        cell_of_query = _exact(R, centroids, 1)[0][:, 0]
    members = np.argsort(cell_of_index, kind="stable")
    bounds = np.searchsorted(cell_of_index[members], np.arange(n_cells + 1))
    sizes = np.diff(bounds)
    probes = _probe_lists(centroids, sizes, m)
    queries = np.argsort(cell_of_query, kind="stable")
    qbounds = np.searchsorted(cell_of_query[queries], np.arange(n_cells + 1))
    out = np.empty((R.shape[0], m), dtype=np.int64)
    for cell in range(n_cells):
        q = queries[qbounds[cell]:qbounds[cell + 1]]
        if q.size == 0:
            continue
        cand = np.concatenate([members[bounds[p]:bounds[p + 1]] for p in probes[cell]])
        idx, _ = _exact(R[q], RI[cand], m)
        out[q] = cand[idx]
    return out


def _rerank(Z, index_rows, cand, k):
    """Exact distances on the full features to each query's candidates; the best ``k``, sorted."""
    n = Z.shape[0]
    Z32 = Z.astype(np.float32)
    out_idx = np.empty((n, k), dtype=np.int64)
    out_d = np.empty((n, k), dtype=np.float64)
    block = max(1, _BLOCK_CELLS // max(cand.shape[1] * Z.shape[1], 1))
    for s in range(0, n, block):
        c = index_rows[cand[s:s + block]]  # (b, m) global rows
        diff = Z32[c] - Z32[s:s + block, None, :]
        d = np.einsum("ijk,ijk->ij", diff, diff).astype(np.float64)
        order = _row_order(d, c)[:, :k]
        out_idx[s:s + block] = np.take_along_axis(c, order, axis=1)
        out_d[s:s + block] = np.take_along_axis(d, order, axis=1)
    return out_idx, out_d


def kneighbors(Z, k, index_rows=None, *, seed=0):
    """The ``k`` nearest index rows of every row of ``Z`` (a row finds itself when it is indexed).

    Parameters
    ----------
    Z : (N, F) ndarray of float
        Rows to search with and among (standardise, and normalise for cosine, beforehand).
    k : int
        Neighbours per row (capped at the number of index rows).
    index_rows : (M,) ndarray of int or None
        Rows that may be returned as neighbours; ``None`` = all.
    seed : int
        Seeds the sample of the reduction and of the cells (results are deterministic).

    Returns
    -------
    indices : (N, k) ndarray of np.int64
        Global row numbers, nearest first (ties by row number).
    distances : (N, k) ndarray of np.float64
        Euclidean distances on the full features.
    """
    Z = np.ascontiguousarray(Z, dtype=np.float64)
    index_rows = np.arange(Z.shape[0]) if index_rows is None else np.asarray(index_rows, np.int64)
    k = min(int(k), index_rows.size)
    if Z.shape[0] * index_rows.size <= _EXACT_CELLS or index_rows.size <= _CELL * _MIN_PROBE:
        idx, d = _exact(Z, Z[index_rows], k)
        return index_rows[idx], np.sqrt(d)
    m = min(index_rows.size, max(_CANDIDATES * k, k + 8))
    R = _reduce(Z, _DIMS, seed)
    cand = _ivf_candidates(R, index_rows, m, seed)
    idx, d = _rerank(Z, index_rows, cand, k)
    return idx, np.sqrt(d)
