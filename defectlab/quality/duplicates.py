"""Duplicates: identical files, near-identical pictures, and the same picture under two labels.

- *Exact* duplicates share a content hash (the sha256 the store keeps for every item).
- *Near* duplicates are the same picture re-encoded, resized, slightly brightened or re-cropped:
  their 64-bit perceptual hashes (:func:`phash`, a DCT hash) differ in a few bits, and/or their feature
  vectors point the same way (cosine similarity on standardised features).
- A group whose members carry different labels is a *conflict*: the same picture cannot be two
  classes, so at least one label is certainly wrong.

Data in, data out: hashes, images or features and labels in; a table of groups out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from defectlab._validation import _check_features, _check_float, _check_int
from defectlab.errors import InputError
from defectlab.messages import msg
from defectlab.quality._standardize import _standardize

if TYPE_CHECKING:
    from defectlab._typing import ArrayLike

__all__ = ["find_duplicates", "hamming_distances", "phash"]

_HASH_SIDE = 32  # the picture is reduced to 32 x 32 before the DCT
_LOW = 8  # the 8 x 8 lowest frequencies make the 64 bits
_COLUMNS = ["group", "kind", "n", "indices", "labels", "conflict", "distance", "reason",
            "reason_parts"]


def _to_grey_float(image, where, i):
    """One image as a 2-D float32 grey array (uint8 / uint16 / float / bool; grey, RGB or RGBA)."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] in (3, 4):
        a = a[..., :3]
        if a.dtype == np.bool_:
            a = a.astype(np.uint8)
        a = a.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    elif a.ndim != 2:
        raise InputError(
            msg("error.duplicates.image_given_must_d",
                "Image {i} given to {where} must be 2-D grey (H, W) or colour (H, W, 3|4). Got shape "
                "{shape}.",
                i=i, where=where, shape=a.shape)
        )
    if a.size == 0 or a.dtype.kind not in "biuf":
        raise InputError(
            msg("error.duplicates.image_given_must_non",
                "Image {i} given to {where} must be a non-empty numeric array. Got dtype {dtype} "
                "with shape {shape}.",
                i=i, where=where, dtype=a.dtype, shape=a.shape)
        )
    a = a.astype(np.float32, copy=False)
    if not np.all(np.isfinite(a)):
        raise InputError(msg("error.duplicates.image_given_has_nan",
                "Image {i} given to {where} has NaN or infinite pixels; fix or drop it.",
                i=i, where=where))
    return a


def phash(images: ArrayLike) -> np.ndarray:
    """64-bit perceptual hashes (DCT pHash) of a batch of images.

    Each image is reduced to grey 32 x 32 (area averaging), transformed with ``cv2.dct``, and the
    8 x 8 lowest frequencies are compared with their median (the constant term excluded): bit = 1
    where the coefficient is above it. Re-encoding, resizing and brightness or contrast changes move
    few bits; different pictures differ in about half of them.

    Parameters
    ----------
    images : (N, H, W) or (N, H, W, 3) ndarray, or list of 2-D / 3-D arrays
        uint8, uint16, float or bool; grey, RGB or RGBA; sizes may differ within a list.

    Returns
    -------
    (N,) ndarray of np.uint64
        Bit ``8 * r + c`` is the sign of DCT coefficient ``(r, c)`` against the median.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    >>> h = phash(np.stack([a, a // 2 + 60, 255 - a]))
    >>> hamming_distances(h[:1], h)[0].tolist()   # same, dimmer, inverted (nearly every bit flips)
    [0, 0, 62]
    """
    where = "phash"
    if isinstance(images, np.ndarray):
        if images.ndim not in (3, 4) or images.shape[0] == 0:
            raise InputError(
                msg("error.duplicates.images_parameter_must_batch",
                    "The 'images' parameter of {where} must be a batch (N, H, W) or (N, H, W, 3) or "
                    "a list of images. Got an array of shape {shape}.",
                    where=where, shape=images.shape)
            )
    elif not isinstance(images, (list, tuple)) or len(images) == 0:
        raise InputError(
            msg("error.duplicates.images_parameter_must_non",
                "The 'images' parameter of {where} must be a non-empty batch or list of images. Got "
                "{name}.",
                where=where, name=type(images).__name__)
        )
    small = np.empty((len(images), _HASH_SIDE, _HASH_SIDE), np.float32)
    for i, image in enumerate(images):
        grey = _to_grey_float(image, where, i)
        small[i] = cv2.resize(grey, (_HASH_SIDE, _HASH_SIDE), interpolation=cv2.INTER_AREA)
    # one DCT per image: the per-image OpenCV call, the rest is batch NumPy
    coeffs = np.stack([cv2.dct(s)[:_LOW, :_LOW] for s in small]).reshape(len(small), -1)
    med = np.median(coeffs[:, 1:], axis=1, keepdims=True)
    scale = np.abs(coeffs[:, 1:]).max(axis=1, keepdims=True)
    bits = coeffs > med + 1e-6 * scale  # flat pictures: every coefficient ~0 -> all bits 0
    weights = np.left_shift(np.uint64(1), np.arange(64, dtype=np.uint64))
    return (bits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)


def _check_hashes64(phashes, where, n=None):
    arr = np.asarray(phashes)
    if arr.ndim != 1 or arr.dtype.kind not in "iu" or (n is not None and arr.shape[0] != n):
        expect = "(N,)" if n is None else f"({n},)"
        raise InputError(
            msg("error.duplicates.phashes_parameter_must_integer",
                "The 'phashes' parameter of {where} must be an integer array of shape {expect} (from "
                "phash). Got dtype {dtype} with shape {shape}.",
                where=where, expect=expect, dtype=arr.dtype, shape=arr.shape)
        )
    return arr.astype(np.uint64)


def hamming_distances(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Bit differences between every 64-bit hash in ``a`` and every one in ``b``.

    Parameters
    ----------
    a : (M,) array of np.uint64
    b : (N,) array of np.uint64

    Returns
    -------
    (M, N) ndarray of np.uint8
        Values 0..64.

    Examples
    --------
    >>> hamming_distances(np.array([0b1011], np.uint64), np.array([0, 0b11], np.uint64)).tolist()
    [[3, 1]]
    """
    a = _check_hashes64(a, "hamming_distances")
    b = _check_hashes64(b, "hamming_distances")
    return np.bitwise_count(a[:, None] ^ b[None, :]).astype(np.uint8)


_CHUNK_CELLS = 4_000_000  # pairwise cells per chunk (~32 MB of uint64 / float64)


def _near_pairs_hash_all(h, max_distance):
    """Pairs ``i < j`` with Hamming distance <= max_distance, by comparing all pairs in chunks.

    The reference for :func:`_near_pairs_hash` (tests and ``benchmarks/scale_review.py``), and its
    path when ``max_distance`` is too large for the index to pay.
    """
    rows, cols, dist = [], [], []
    n = h.shape[0]
    chunk = max(1, _CHUNK_CELLS // max(n, 1))
    for s in range(0, n, chunk):
        d = np.bitwise_count(h[s:s + chunk, None] ^ h[None, :])
        i, j = np.nonzero(d <= max_distance)
        i = i + s
        keep = i < j
        rows.append(i[keep])
        cols.append(j[keep])
        dist.append(d[i[keep] - s, j[keep]].astype(np.float64))
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(dist)


_INDEX_MAX_DISTANCE = 7  # up to here the pigeonhole index splits 64 bits into max_distance + 1 blocks
_SMALL_BUCKET = 64  # buckets up to this size are paired by offsets; larger ones block by block


def _blocks(max_distance):
    """(shift, mask) of ``max_distance + 1`` bit blocks covering the 64 bits (widths differ by <= 1)."""
    m = max_distance + 1
    widths = [64 // m + (1 if b < 64 % m else 0) for b in range(m)]
    shifts = np.cumsum([0, *widths[:-1]])
    return [(int(s), (1 << w) - 1) for s, w in zip(shifts, widths, strict=True)]


def _bucket_pairs(h, order, starts, sizes, max_distance):
    """Near pairs within each bucket of ``order`` (buckets given by start and size), as two arrays.

    Small buckets pair every member by offsets (vectorised over buckets); a large bucket is checked
    in bounded chunks (:func:`_near_pairs_hash_all` on its members), never as one huge pair list.
    """
    rows, cols = [], []
    small = sizes <= _SMALL_BUCKET
    s_starts, s_sizes = starts[small], sizes[small]
    for off in range(1, int(s_sizes.max(initial=1))):
        has = s_sizes > off
        if not has.any():
            break
        base = np.repeat(s_starts[has], s_sizes[has] - off) + _ranges(s_sizes[has] - off)
        i, j = order[base], order[base + off]
        near = np.bitwise_count(h[i] ^ h[j]) <= max_distance
        rows.append(i[near])
        cols.append(j[near])
    for start, size in zip(starts[~small].tolist(), sizes[~small].tolist(), strict=True):
        members = order[start:start + size]
        i, j, _ = _near_pairs_hash_all(h[members], max_distance)
        rows.append(members[i])
        cols.append(members[j])
    if not rows:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(rows), np.concatenate(cols)


def _ranges(lengths):
    """``[0..l0-1, 0..l1-1, ...]`` for an array of lengths."""
    total = int(lengths.sum())
    out = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return out


def _near_pairs_hash(h, max_distance):
    """Pairs ``i < j`` with Hamming distance <= max_distance, and the distances, without all pairs.

    Pigeonhole index: split the 64 bits into ``max_distance + 1`` blocks; two hashes at most
    ``max_distance`` bits apart agree exactly on at least one block. So only items that share a
    block value (a bucket) are candidates, and every candidate pair gets the exact Hamming check:
    the pairs found are exactly those of :func:`_near_pairs_hash_all`, in the same order.
    """
    n = h.shape[0]
    if max_distance > _INDEX_MAX_DISTANCE or n < 2:
        return _near_pairs_hash_all(h, max_distance)
    keys = []
    for shift, mask in _blocks(max_distance):
        value = ((h >> np.uint64(shift)) & np.uint64(mask)).astype(np.int64)
        order = np.argsort(value, kind="stable")
        sv = value[order]
        starts = np.flatnonzero(np.r_[True, sv[1:] != sv[:-1]])
        sizes = np.diff(np.r_[starts, n])
        many = sizes > 1
        i, j = _bucket_pairs(h, order, starts[many], sizes[many], max_distance)
        keys.append(np.minimum(i, j) * n + np.maximum(i, j))
    pair = np.unique(np.concatenate(keys))
    rows, cols = pair // n, pair % n
    return rows, cols, np.bitwise_count(h[rows] ^ h[cols]).astype(np.float64)


def _near_pairs_features(X, min_similarity):
    """Pairs ``i < j`` whose standardised feature rows have cosine similarity >= min_similarity."""
    Z = _standardize(X)
    norms = np.linalg.norm(Z, axis=1, keepdims=True)
    Z = Z / np.where(norms > 0, norms, 1.0)
    rows, cols, sims = [], [], []
    n = Z.shape[0]
    chunk = max(1, _CHUNK_CELLS // max(n, 1))
    for s in range(0, n, chunk):
        sim = Z[s:s + chunk] @ Z.T
        i, j = np.nonzero(sim >= min_similarity)
        i = i + s
        keep = i < j
        rows.append(i[keep])
        cols.append(j[keep])
        sims.append(sim[i[keep] - s, j[keep]])
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(sims)


def _reason(kind, n, distinct):
    """A group's reason as (catalog key, args, English text): one table for both, same words.

    ``distinct``: the members' different labels, sorted (two or more: a conflict).
    """
    what = "identical files" if kind == "exact" else "near-identical pictures"
    if len(distinct) > 1:
        return (f"quality.reason.{kind}_conflict", {"n": n, "classes": distinct},
                f"{n} {what} labeled {' / '.join(distinct)}: a certain conflict, only one label "
                "can be right")
    if distinct:
        return (f"quality.reason.{kind}_same", {"n": n, "cls": distinct[0]},
                f"{n} {what}, all labeled {distinct[0]}: keep one copy")
    return f"quality.reason.{kind}_unlabeled", {"n": n}, f"{n} {what}: keep one copy"


def _is_missing(v):
    return v is None or (isinstance(v, float) and v != v)


def find_duplicates(*, hashes: Sequence[str] | None = None, images: ArrayLike | None = None,
                    phashes: ArrayLike | None = None, features: ArrayLike | None = None,
                    labels: Sequence[Any] | None = None, max_distance: int = 4,
                    min_similarity: float | None = None) -> pd.DataFrame:
    """Groups of identical and near-identical items, with label conflicts marked.

    Give any of: ``hashes`` (exact groups), ``images`` or ``phashes`` (near groups by perceptual
    hash), ``features`` with ``min_similarity`` (near groups by feature similarity).

    Parameters
    ----------
    hashes : (N,) sequence of str or None
        Content hashes (sha256 hex); equal hashes are identical files.
    images : (N, H, W) ndarray or list of arrays or None
        Hashed with :func:`phash` (give ``phashes`` instead when you have them).
    phashes : (N,) ndarray of np.uint64 or None
        Perceptual hashes from :func:`phash`.
    features : (N, F) array-like of float or None
        Feature rows; used only when ``min_similarity`` is set.
    labels : (N,) sequence or None
        Current labels; ``None`` / NaN for unlabeled items (which never cause a conflict).
    max_distance : int in [0, 32], default=4
        Largest perceptual-hash difference, in bits of 64, for a near duplicate.
    min_similarity : float in [0, 1] or None
        Smallest cosine similarity of standardised features for a near duplicate (e.g. 0.995).

    Returns
    -------
    pandas.DataFrame
        One row per group: conflicts first, then exact before near, then larger groups first.
        Columns: ``group`` (int, 0..), ``kind`` ("exact" | "near"), ``n`` (members), ``indices``
        (list of int, ascending), ``labels`` (list, the members' labels, same order), ``conflict``
        (bool: two or more different labels -- a certain error), ``distance`` (exact: 0; near by
        hash: the largest pHash bit difference of a linking pair; near by features only:
        ``1 - cosine``), ``reason`` (str), ``reason_parts`` (list of one dict: the reason as a
        :mod:`defectlab.i18n` catalog message, ``{"key": "quality.reason.<kind>_conflict" |
        "<kind>_same" | "<kind>_unlabeled", "args": {"n", "classes" (list of str) | "cls"}}``, as
        in :func:`~defectlab.quality.find_label_issues`). Exact copies are one exact group; a near
        group lists every member, exact copies included. Items in no group do not appear.

    Examples
    --------
    >>> df = find_duplicates(hashes=["aa", "bb", "aa"], labels=["pit", "pit", "scratch"])
    >>> df[["kind", "indices", "conflict"]].values.tolist()
    [['exact', [0, 2], True]]
    >>> df.loc[0, "reason"]
    '2 identical files labeled pit / scratch: a certain conflict, only one label can be right'
    >>> df.loc[0, "reason_parts"]
    [{'key': 'quality.reason.exact_conflict', 'args': {'n': 2, 'classes': ['pit', 'scratch']}}]
    """
    where = "find_duplicates"
    hashes, phashes, features, min_similarity, max_distance, labels, n = _check_duplicate_inputs(
        where, hashes, images, phashes, features, labels, max_distance, min_similarity)
    if images is not None:
        phashes = phash(images)
    lab = [None] * n if labels is None else [None if _is_missing(v) else v for v in labels.tolist()]
    rep, groups = _exact_groups(hashes, n)
    groups += _near_groups(rep, phashes, features, max_distance, min_similarity)
    return _sorted_table([_group_row(kind, members, dist, lab) for kind, members, dist in groups])


def _check_duplicate_inputs(where, hashes, images, phashes, features, labels, max_distance,
                            min_similarity):
    """Step 1 of :func:`find_duplicates`: validate, and the common number of items."""
    sizes = {}
    if hashes is not None:
        hashes = np.asarray(hashes, dtype=object)
        if hashes.ndim != 1:
            raise InputError(
                msg("error.duplicates.hashes_parameter_must_d",
                    "The 'hashes' parameter of {where} must be 1-D (one content hash per item). Got "
                    "shape {shape}.",
                    where=where, shape=hashes.shape)
            )
        sizes["hashes"] = hashes.shape[0]
    if images is not None and phashes is not None:
        raise InputError(msg("error.duplicates.give_either_images_phashes",
                "Give either 'images' or 'phashes' to {where}, not both.",
                where=where))
    if phashes is not None:
        phashes = _check_hashes64(phashes, where)
        sizes["phashes"] = phashes.shape[0]
    if images is not None:
        sizes["images"] = len(images)
    if features is not None:
        features = _check_features(features, where, name="features")
        sizes["features"] = features.shape[0]
    if min_similarity is not None:
        min_similarity = _check_float(min_similarity, where, "min_similarity", 0.0, 1.0)
        if features is None:
            raise InputError(msg("error.duplicates.min_similarity_needs_features",
                    "'min_similarity' of {where} needs 'features'.",
                    where=where))
    max_distance = _check_int(max_distance, where, "max_distance", 0, 32)
    if not sizes:
        raise InputError(
            msg("error.duplicates.needs_least_one_hashes",
                "{where} needs at least one of 'hashes', 'images', 'phashes' or 'features' (with "
                "'min_similarity').",
                where=where)
        )
    if labels is not None:
        labels = np.asarray(labels, dtype=object)
        sizes["labels"] = labels.shape[0] if labels.ndim == 1 else -1
    if len(set(sizes.values())) != 1 or -1 in sizes.values():
        raise InputError(
            msg("error.duplicates.inputs_must_describe_same",
                "The inputs of {where} must describe the same items, one entry each. Got lengths "
                "{sizes}.",
                where=where, sizes=sizes)
        )
    return (hashes, phashes, features, min_similarity, max_distance, labels,
            next(iter(sizes.values())))


def _exact_groups(hashes, n):
    """Step 2: groups of equal content hashes, and each item's representative (first of its group)."""
    rep = np.arange(n)
    groups = []
    if hashes is None:
        return rep, groups
    ok = np.array([h is not None and not _is_missing(h) and h != "" for h in hashes.tolist()],
                  dtype=bool)
    keys = pd.Series(hashes[ok]).astype(str)
    idx = np.flatnonzero(ok)
    for members in pd.Series(idx).groupby(keys.to_numpy()).groups.values():
        members = np.sort(idx[np.asarray(members)])
        if members.size > 1:
            rep[members] = members[0]
            groups.append(("exact", members, 0.0))
    return rep, groups


def _near_groups(rep, phashes, features, max_distance, min_similarity):
    """Step 3: connected components of near pairs between representatives, with their members."""
    n = rep.size
    reps = np.flatnonzero(rep == np.arange(n))
    pairs = []  # (rows, cols, distances, found by hash)
    if phashes is not None:
        r, c, d = _near_pairs_hash(phashes[reps], max_distance)
        pairs.append((reps[r], reps[c], d, np.ones(r.size, bool)))
    if features is not None and min_similarity is not None:
        r, c, sim = _near_pairs_features(features[reps], min_similarity)
        pairs.append((reps[r], reps[c], 1.0 - sim, np.zeros(r.size, bool)))
    if not pairs or not sum(p[0].size for p in pairs):
        return []
    r, c, d, hb = (np.concatenate(parts) for parts in zip(*pairs, strict=True))
    graph = coo_matrix((np.ones(r.size), (r, c)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    linked = np.zeros(n, dtype=bool)
    linked[r] = linked[c] = True
    # members: every item whose representative is linked, grouped by its representative's component
    member_comp = np.where(linked[rep], comp[rep], -1)
    order = np.argsort(member_comp, kind="stable")
    keys = member_comp[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    pair_comp = comp[r]
    dist_hash = _max_per(pair_comp, np.where(hb, d, -np.inf), n)
    dist_any = _max_per(pair_comp, d, n)
    groups = []
    for start, stop in zip(starts.tolist(), [*starts[1:].tolist(), n], strict=True):
        cid = int(keys[start])
        if cid < 0:
            continue
        dist = dist_hash[cid] if np.isfinite(dist_hash[cid]) else dist_any[cid]
        groups.append(("near", np.sort(order[start:stop]), float(dist)))
    return groups


def _max_per(groups, values, n):
    """Largest value per group id in ``[0, n)`` (``-inf`` where a group has none)."""
    out = np.full(n, -np.inf)
    np.maximum.at(out, groups, values)
    return out


def _group_row(kind, members, dist, lab):
    """Step 4: one table row for a group: its labels, conflict flag and reason."""
    mlabels = [lab[i] for i in members.tolist()]
    distinct = sorted({str(v) for v in mlabels if v is not None})
    key, args, reason = _reason(kind, int(members.size), distinct)
    return dict(kind=kind, n=int(members.size), indices=members.tolist(), labels=mlabels,
                conflict=len(distinct) > 1, distance=dist, reason=reason,
                reason_parts=[{"key": key, "args": args}])


def _sorted_table(rows):
    """Step 5: conflicts first, then exact before near, then larger groups, then first member."""
    df = pd.DataFrame(rows, columns=[c for c in _COLUMNS if c != "group"])
    if len(df):
        first = df["indices"].map(lambda m: m[0])
        df = (df.assign(_first=first, _exact=df["kind"] == "exact")
                .sort_values(["conflict", "_exact", "n", "_first"],
                             ascending=[False, False, False, True], kind="stable")
                .drop(columns=["_first", "_exact"]).reset_index(drop=True))
    df.insert(0, "group", np.arange(len(df)))
    return df
