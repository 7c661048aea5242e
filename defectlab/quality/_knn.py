"""Nearest neighbours in feature space without an all-pairs step (private module).

The label-issue neighbour vote and the outlier score both need each item's ``k`` nearest items.
scikit-learn's exact search on ~200 standardised columns is brute force over all pairs (minutes and
gigabytes at 100,000 items), and a k-d tree does not help at that dimension. Here:

- *small sets* (``n_query * n_index`` up to :data:`_EXACT_CELLS`): exact, in blocks of bounded size;
- *large sets*: the features are reduced to :data:`_DIMS` principal components (float32; the
  components come from the covariance of a sample), the index rows are split into cells of about
  :data:`_CELL` rows by k-means (a few Lloyd rounds from random rows of a sample: an inverted-file
  index), the queries of one cell are compared with the rows of the few cells nearest to it only (one
  matrix product per cell), and the best :data:`_CANDIDATES` ``x k`` candidates are re-ranked with
  exact distances on the full features (float32).

Cost grows linearly with the number of items (a fixed number of candidates per query) and memory is
bounded by the block size. Distances are Euclidean; normalise the rows first for cosine distance.
"""

import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = []  # private module

_EXACT_CELLS = 16_000_000  # n_query * n_index at or below which the search is exact
_BLOCK_CELLS = 4_000_000  # distance cells per block (~32 MB of float64)
_DIMS = 32  # principal components of the reduced space
_CELL = 128  # target index rows per inverted-file cell
_MIN_PROBE = 6  # cells searched per query cell, at least
_CANDIDATES = 2  # candidates per neighbour kept for the exact re-ranking
_PCA_SAMPLE = 20_000
_KMEANS_ROUNDS = 6  # Lloyd rounds of the cell centroids
_KMEANS_SAMPLE = 16  # sample rows per cell the centroids are fitted on
_THREADS = min(2, os.cpu_count() or 1)  # the per-cell search and the re-ranking release the GIL


def _in_threads(fn, n):
    """``fn(start, stop)`` over ``range(n)`` split in :data:`_THREADS` contiguous parts (disjoint writes)."""
    cuts = np.linspace(0, n, _THREADS + 1).astype(int)
    if _THREADS == 1 or n < 2 * _THREADS:
        fn(0, n)
        return
    with ThreadPoolExecutor(_THREADS) as pool:
        for f in [pool.submit(fn, a, b) for a, b in itertools.pairwise(cuts.tolist())]:
            f.result()


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
        part, dd = _nearest_in_block(q, P, i_sq, k)
        order = _row_order(dd, part)
        out_idx[s:s + block] = np.take_along_axis(part, order, axis=1)
        out_d[s:s + block] = np.take_along_axis(dd, order, axis=1)
    return out_idx, out_d


def _nearest_in_block(q, P, p_sq, k):
    """Unsorted ``k`` nearest rows of ``P`` for the rows of ``q`` (one matrix product)."""
    d = q @ P.T
    d *= -2.0
    d += p_sq[None, :]
    d += np.einsum("ij,ij->i", q, q)[:, None]
    np.maximum(d, 0.0, out=d)
    ni = P.shape[0]
    if k < ni:
        part = np.argpartition(d, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(ni), d.shape)
    return part, np.take_along_axis(d, part, axis=1)


def _row_order(dd, part):
    """Per-row order by distance, ties by index (deterministic whatever argpartition returned)."""
    order = np.argsort(part, axis=1, kind="stable")
    by_d = np.argsort(np.take_along_axis(dd, order, axis=1), axis=1, kind="stable")
    return np.take_along_axis(order, by_d, axis=1)


def _sample(n, size, seed):
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, min(n, size), replace=False))


def _reduce(Z, dims, seed):
    """``Z`` projected on its first ``dims`` principal components (from a sample's covariance), float32."""
    n, f = Z.shape
    if f <= dims:
        return np.ascontiguousarray(Z, dtype=np.float32)
    sample = Z[_sample(n, _PCA_SAMPLE, seed)].astype(np.float64)
    mean = sample.mean(axis=0)
    sample -= mean
    _, vecs = np.linalg.eigh(sample.T @ sample)  # ascending eigenvalues
    comps = vecs[:, ::-1][:, :dims].astype(np.float32)
    out = np.empty((n, dims), dtype=np.float32)
    step = max(1, _BLOCK_CELLS // f)
    mean32 = mean.astype(np.float32)
    for s in range(0, n, step):
        out[s:s + step] = (Z[s:s + step] - mean32) @ comps
    return out


def _assign(R, centroids):
    """Each row's nearest centroid (blocked argmin)."""
    c_sq = np.einsum("ij,ij->i", centroids, centroids)
    out = np.empty(R.shape[0], dtype=np.int64)
    step = max(1, _BLOCK_CELLS // max(centroids.shape[0], 1))
    for s in range(0, R.shape[0], step):
        d = R[s:s + step] @ centroids.T
        d *= -2.0
        d += c_sq[None, :]
        out[s:s + step] = d.argmin(axis=1)
    return out


def _cells(R, n_cells, seed):
    """k-means centroids of ``R`` (Lloyd rounds on a sample, from random rows) and each row's cell."""
    rng = np.random.default_rng(seed)
    sample = R[_sample(R.shape[0], _KMEANS_SAMPLE * n_cells, seed)]
    centroids = sample[np.sort(rng.choice(sample.shape[0], n_cells, replace=False))].copy()
    for _ in range(_KMEANS_ROUNDS):
        of = _assign(sample, centroids)
        sizes = np.bincount(of, minlength=n_cells)
        sums = np.zeros_like(centroids)
        np.add.at(sums, of, sample)
        full = sizes > 0
        centroids[full] = sums[full] / sizes[full, None]
        empty = np.flatnonzero(~full)  # an empty cell restarts at a random row of the sample
        if empty.size:
            centroids[empty] = sample[rng.choice(sample.shape[0], empty.size, replace=False)]
    return centroids, _assign(R, centroids)


def _probe_lists(centroids, sizes, need):
    """For each cell: the nearest cells (itself first) holding at least ``need`` rows in all."""
    order, _ = _exact(centroids, centroids, centroids.shape[0])
    lists = []
    for row in order:
        total = np.cumsum(sizes[row])
        stop = max(_MIN_PROBE, int(np.searchsorted(total, need)) + 1)
        lists.append(row[:stop])
    return lists


def _ivf_index(R, index_rows, need, seed):
    """The inverted-file index of the rows ``index_rows`` of ``R``, and the rows of ``R`` grouped by cell.

    Returns ``(members, bounds, probes, queries, qbounds)``: cell ``c`` holds the index rows
    ``members[bounds[c]:bounds[c + 1]]`` (positions in ``index_rows``), its queries are the rows
    ``queries[qbounds[c]:qbounds[c + 1]]`` of ``R``, and ``probes[c]`` lists the cells they are compared
    with (itself first; at least ``need`` index rows in all).
    """
    RI = R[index_rows]
    n_cells = max(1, RI.shape[0] // _CELL)
    centroids, cell_of_index = _cells(RI, n_cells, seed)
    if index_rows.size == R.shape[0]:
        cell_of_query = cell_of_index
    else:
        cell_of_query = _assign(R, centroids)
    members = np.argsort(cell_of_index, kind="stable")
    bounds = np.searchsorted(cell_of_index[members], np.arange(n_cells + 1))
    probes = _probe_lists(centroids, np.diff(bounds), need)
    queries = np.argsort(cell_of_query, kind="stable")
    qbounds = np.searchsorted(cell_of_query[queries], np.arange(n_cells + 1))
    return members, bounds, probes, queries, qbounds


def _ivf_candidates(R, index_rows, m, seed):
    """About ``m`` approximate nearest index rows (positions in ``index_rows``) for every row of ``R``."""
    members, bounds, probes, queries, qbounds = _ivf_index(R, index_rows, m, seed)
    RI = R[index_rows]
    ri_sq = np.einsum("ij,ij->i", RI, RI)
    out = np.empty((R.shape[0], m), dtype=np.int64)

    def search(first, stop):
        for cell in range(first, stop):
            q = queries[qbounds[cell]:qbounds[cell + 1]]
            if q.size == 0:
                continue
            cand = np.concatenate([members[bounds[p]:bounds[p + 1]] for p in probes[cell]])
            part, _ = _nearest_in_block(R[q], RI[cand], ri_sq[cand], min(m, cand.size))
            out[q, :part.shape[1]] = cand[part]
            if part.shape[1] < m:  # fewer candidates than asked: repeat one (the re-ranking drops repeats)
                out[q, part.shape[1]:] = cand[part[:, :1]]

    _in_threads(search, len(probes))
    return out


def _ivf_exact_in_cells(Z, R, index_rows, k, seed):
    """The ``k`` nearest index rows of every row of ``Z`` among the rows of its probed cells, by exact
    distances on the full features: one matrix product per cell (queries x probed rows), no re-ranking.

    The cells and probes come from the reduced rows ``R`` as in :func:`_ivf_candidates`. The index rows
    are copied once in cell order, so a cell's probed rows are a few contiguous slices (no row gather
    per cell). Distances are ``|q|^2 + |p|^2 - 2 q.p`` in float32 (standardised, clipped features: the
    rounding is ~1e-6 of the squared norms); a pair within ``1e-4`` of them of 0 is recomputed exactly,
    so an exact copy is at distance 0 (as in :func:`_rerank`), and a row is at distance 0 from itself.
    """
    members, bounds, probes, queries, qbounds = _ivf_index(R, index_rows, k, seed)
    rows = index_rows[members]  # the index rows, cell after cell
    ZI = Z[rows]
    zi_sq = np.einsum("ij,ij->i", ZI, ZI)
    out_idx = np.empty((Z.shape[0], k), dtype=np.int64)
    out_d = np.empty((Z.shape[0], k), dtype=np.float64)

    def search(first, stop):
        for cell in range(first, stop):
            q = queries[qbounds[cell]:qbounds[cell + 1]]
            if q.size == 0:
                continue
            spans = [slice(bounds[p], bounds[p + 1]) for p in probes[cell]]
            cand = np.concatenate([rows[s] for s in spans])
            p_sq = np.concatenate([zi_sq[s] for s in spans])
            Q = Z[q]
            h = Q @ np.concatenate([ZI[s] for s in spans]).T
            h *= -2.0
            h += p_sq[None, :]  # -2 q.p + |p|^2 ranks a row's neighbours as its squared distances do
            part = _k_smallest(h, min(k, cand.size))
            ids = cand[part]
            q_sq = np.einsum("ij,ij->i", Q, Q)[:, None]
            dd = np.take_along_axis(h, part, axis=1).astype(np.float64)
            dd += q_sq
            np.maximum(dd, 0.0, out=dd)
            _exact_near_zero(Z, q, ids, dd, q_sq + p_sq[part])
            order = _row_order(dd, ids)
            out_idx[q] = np.take_along_axis(ids, order, axis=1)
            out_d[q] = np.take_along_axis(dd, order, axis=1)

    _in_threads(search, len(probes))
    return out_idx, out_d


def _k_smallest(h, k):
    """Positions of the ``k`` smallest values of every row of ``h`` (unordered; at equal values at the
    cut, the first columns), without an ``argpartition`` of whole rows (7x its speed on 128 x 768).

    The ``k``-th smallest of the minima of ``G >= k`` disjoint column groups bounds each row's ``k``-th
    smallest value from above (those minima are ``k`` values of the row), so only the columns at or
    below that bound (a few more than ``k``: one ``flatnonzero``) are sorted.
    """
    nq, nc = h.shape
    groups = min(nc // 2, max(64, 4 * k))
    if groups < k:
        part = np.argsort(h, axis=1, kind="stable")[:, :k]
        return part
    span = nc // groups
    gmin = h[:, :groups].copy()
    for i in range(1, span):
        np.minimum(gmin, h[:, i * groups:(i + 1) * groups], out=gmin)
    bound = np.sort(gmin, axis=1)[:, k - 1]
    flat = np.flatnonzero(h <= bound[:, None])  # row by row, columns in order
    row = flat // nc
    counts = np.bincount(row, minlength=nq)
    pos = np.arange(flat.size) - np.repeat(np.cumsum(counts) - counts, counts)
    vals = np.full((nq, int(counts.max())), np.inf, dtype=h.dtype)
    cols = np.zeros(vals.shape, dtype=np.int64)
    vals[row, pos] = h.ravel()[flat]
    cols[row, pos] = flat - row * nc
    return np.take_along_axis(cols, np.argsort(vals, axis=1, kind="stable")[:, :k], axis=1)


def _exact_near_zero(Z, q, ids, dd, norms):
    """In place: squared distances ``dd`` (rows ``q`` to rows ``ids``) that float32 rounding may have
    moved off 0, exact (a row to itself: 0; others within ``1e-4 * norms``: recomputed in float64)."""
    dd[ids == q[:, None]] = 0.0
    near = np.nonzero((dd < 1e-4 * norms) & (ids != q[:, None]))
    if near[0].size:
        diff = Z[q[near[0]]].astype(np.float64) - Z[ids[near]]
        dd[near] = np.einsum("ij,ij->i", diff, diff)


def _rerank(Z, index_rows, cand, k):
    """Exact distances on the full features to each query's candidates; the best ``k``, sorted."""
    n, f = Z.shape
    out_idx = np.empty((n, k), dtype=np.int64)
    out_d = np.empty((n, k), dtype=np.float64)
    block = max(1, _BLOCK_CELLS // max(cand.shape[1] * f * _THREADS, 1))
    starts = range(0, n, block)

    def rank(first, stop):
        for s in starts[first:stop]:
            c = _unique_per_row(index_rows[cand[s:s + block]])  # (b, m) global rows
            diff = Z[c]
            diff -= Z[s:s + block, None, :]
            d = np.einsum("ijk,ijk->ij", diff, diff).astype(np.float64)
            d[c < 0] = np.inf
            order = _row_order(d, np.where(c < 0, np.iinfo(np.int64).max, c))[:, :k]
            out_idx[s:s + block] = np.take_along_axis(c, order, axis=1)
            out_d[s:s + block] = np.take_along_axis(d, order, axis=1)

    _in_threads(rank, len(starts))
    return out_idx, out_d


def _unique_per_row(c):
    """``c`` with repeated entries of a row marked -1 (they index row -1 harmlessly; masked after)."""
    srt = np.sort(c, axis=1)
    if not (srt[:, 1:] == srt[:, :-1]).any():
        return c
    order = np.argsort(c, axis=1, kind="stable")
    sc = np.take_along_axis(c, order, axis=1)
    dup = np.zeros_like(sc, dtype=bool)
    dup[:, 1:] = sc[:, 1:] == sc[:, :-1]
    out = c.copy()
    np.put_along_axis(out, order, np.where(dup, -1, sc), axis=1)
    return out


def kneighbors(Z, k, index_rows=None, *, seed=0, search="candidates"):
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
    search : {"candidates", "cells"}
        On large sets: ``"candidates"`` (the neighbour vote) takes each row's best ``2k`` candidates in
        the reduced space and re-ranks them on the full features; ``"cells"`` (the outlier score)
        compares each row with every row of its probed cells on the full features, one matrix product
        per cell: as close or closer neighbours, and less time at ~200 columns (no per-pair gather).

    Returns
    -------
    indices : (N, k) ndarray of np.int64
        Global row numbers, nearest first (ties by row number).
    distances : (N, k) ndarray of np.float64
        Euclidean distances on the full features (float64 on small sets, float32 precision on large).
    """
    index_rows = np.arange(Z.shape[0]) if index_rows is None else np.asarray(index_rows, np.int64)
    k = min(int(k), index_rows.size)
    if Z.shape[0] * index_rows.size <= _EXACT_CELLS or index_rows.size <= _CELL * _MIN_PROBE:
        Z = np.ascontiguousarray(Z, dtype=np.float64)
        idx, d = _exact(Z, Z[index_rows], k)
        return index_rows[idx], np.sqrt(d)
    from threadpoolctl import threadpool_limits

    Z = np.ascontiguousarray(Z, dtype=np.float32)
    m = min(index_rows.size, max(_CANDIDATES * k, k + 8))
    # one BLAS thread: the per-cell products are small, and BLAS threads waiting for a core on a busy
    # machine cost more than they bring (3x the CPU and wall time at load 10 on two cores)
    with threadpool_limits(limits=1, user_api="blas"):
        R = _reduce(Z, _DIMS, seed)
        if search == "cells":
            idx, d = _ivf_exact_in_cells(Z, R, index_rows, k, seed)
        else:
            cand = _ivf_candidates(R, index_rows, m, seed)
            idx, d = _rerank(Z, index_rows, cand, k)
    return idx, np.sqrt(d)
