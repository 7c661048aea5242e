"""Rotation-invariant uniform local binary patterns (riu2), batch-vectorised.

Definition (Ojala et al. 2002; identical to scikit-image ``local_binary_pattern(image, P, R,
method="uniform")``): the ``P`` neighbours of a pixel sit at ``(-R sin(2 pi p / P), R cos(2 pi p / P))``
(rows, cols; rounded to 5 decimals) and are bilinearly interpolated, with zeros outside the image.
Bit ``p`` is 1 when the neighbour is >= the centre. A pattern with at most two 0/1 transitions around
the circle is *uniform* and coded by its number of ones (0..P); every other pattern is coded ``P + 1``.

How it is fast: the batch is zero-padded and stacked into one 2-D float32 image; each interpolated
neighbour is one ``cv2.filter2D`` call with its 2x2 bilinear kernel over the whole stack (SIMD), read
back at the neighbour's offset; neighbours on the pixel grid are plain shifted views. For P <= 8 the
bits are packed into an 8-bit pattern mapped to riu2 by a 256-entry ``cv2.LUT``; for larger P the code
is accumulated from uint8 counts of ones and of 0/1 transitions. The per-image histograms come from
one ``cv2.calcHist`` over (code, image index).

Exact arithmetic: the four bilinear weights are integers summing to ``2**16`` (the exact weights
rounded to 1/65536), so every interpolated value times 65536 is an integer below ``2**24``, which
float32 holds exactly. The comparison with the centre is therefore exact and deterministic: a flat
area is an exact tie (bit 1), and a 90-degree rotation of the image permutes the neighbours exactly.
scikit-image computes ``(1-dr)(1-dc) a + ...`` in float64, so within ~0.01 grey levels of a tie
(about 0.2 % of pixels on real images for P=16) the two implementations may give different bits.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ._batch import as_pyramid, batch_hist, blocked, interior_index, scratch
from ._validate import check_batch
from .spec import LBPParams

__all__ = ["extract_lbp", "lbp_codes", "lbp_names"]

_ONE = 1 << 16  # fixed-point scale of the bilinear weights


def lbp_names(params=None):
    """Column names of :func:`extract_lbp`: ``lbp.p8r1.u0`` .. ``lbp.p8r1.u8``,
    ``lbp.p8r1.nonuniform``; settings on pyramid scale ``s`` > 1 are prefixed ``lbp.x<s>.``."""
    params = params or LBPParams()
    names = []
    for p, r, s in params.settings:
        pre = f"lbp.p{p}r{r}." if s == 1 else f"lbp.x{s}.p{p}r{r}."
        names += [f"{pre}u{k}" for k in range(p + 1)] + [f"{pre}nonuniform"]
    return names


def _neighbours(P, R):
    """Per neighbour: (row0, col0, [(drow, dcol, weight), ...]), taps relative to (row0, col0),
    integer weights summing to 2**16."""
    ang = 2.0 * np.pi * np.arange(P) / P
    rp = np.round(-R * np.sin(ang), 5)
    cp = np.round(R * np.cos(ang), 5)
    out = []
    for r, c in zip(rp, cp, strict=True):
        r0, c0 = math.floor(r), math.floor(c)
        fr, fc = r - r0, c - c0
        taps = [(0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc), (1, 0, fr * (1 - fc)),
                (1, 1, fr * fc)]
        taps = [(dr, dc, round(wt * _ONE)) for dr, dc, wt in taps]
        taps = [t for t in taps if t[2] != 0]
        # make the integer weights sum to exactly 2**16 (a flat area is then an exact tie)
        err = _ONE - sum(t[2] for t in taps)
        k = max(range(len(taps)), key=lambda i: taps[i][2])
        taps[k] = (taps[k][0], taps[k][1], taps[k][2] + err)
        out.append((r0, c0, taps))
    return out


def _padded_codes(images, P, R):
    """riu2 codes of a ``(n, h, w)`` uint8 block on the zero-padded grid.

    Returns ``(codes, q)``: ``codes`` is a ``(n, h + 2q, w + 2q)`` uint8 scratch array whose interior
    ``[:, q:q+h, q:q+w]`` holds the codes (the padding ring holds garbage).

    Every array operation runs on one contiguous 1-D range: on the flattened padded grid a neighbour
    at (dr, dc) is the same buffer shifted by ``dr * (w + 2q) + dc`` elements, so no strided views
    (whose short rows make NumPy slow) are involved.
    """
    n, h, w = images.shape
    q = math.ceil(R) + 1
    hp, wp = h + 2 * q, w + 2 * q
    size = n * hp * wp
    margin = (q + 1) * wp
    buf = scratch("lbp.pad", (size + 2 * margin,), np.float32)
    buf.fill(0.0)
    grid = buf[margin:margin + size]
    grid.reshape(n, hp, wp)[:, q:q + h, q:q + w] = images
    ibuf = scratch("lbp.interp", (size + 2 * margin,), np.float32)
    ibuf[:margin] = 0.0
    ibuf[margin + size:] = 0.0
    interp2d = ibuf[margin:margin + size].reshape(n * hp, wp)
    threshold = np.multiply(grid, np.float32(_ONE), out=scratch("lbp.thr", (size,), np.float32))
    bit = scratch("lbp.bit", (size,), np.bool_)
    packed = P <= 8  # 8-bit pattern code + one 256-entry table; else count ones and transitions
    if packed:
        code = scratch("lbp.code", (size,), np.uint8)
        code.fill(0)
        tmp = scratch("lbp.tmp", (size,), np.uint8)
    else:
        count = scratch("lbp.count", (size,), np.uint8)
        trans = scratch("lbp.trans", (size,), np.uint8)
        count.fill(0)
        trans.fill(0)
        bits = [scratch(f"lbp.bit{i}", (size,), np.bool_) for i in range(3)]
        first, prev = bits[0], None
        xor = scratch("lbp.xor", (size,), np.bool_)
    for p, (r0, c0, taps) in enumerate(_neighbours(P, R)):
        off = margin + r0 * wp + c0
        if not packed:  # rotate three buffers: first, previous and current bits
            bit = first if p == 0 else bits[1 + p % 2]
        if len(taps) == 1:  # on the pixel grid: exact comparison
            dr, dc, _ = taps[0]
            off += dr * wp + dc
            np.greater_equal(buf[off:off + size], grid, out=bit)
        else:
            kernel = np.zeros((2, 2), np.float32)
            for dr, dc, wt in taps:
                kernel[dr, dc] = wt
            cv2.filter2D(grid.reshape(n * hp, wp), cv2.CV_32F, kernel, dst=interp2d,
                         anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
            np.greater_equal(ibuf[off:off + size], threshold, out=bit)
        if packed:
            np.multiply(bit, np.uint8(1 << p), out=tmp)
            np.bitwise_or(code, tmp, out=code)
            continue
        np.add(count, bit, out=count)
        if prev is not None:
            np.bitwise_xor(prev, bit, out=xor)
            np.add(trans, xor, out=trans)
        prev = bit
    codes = scratch("lbp.codes", (n, hp, wp), np.uint8)
    if packed:
        cv2.LUT(code.reshape(n * hp, wp), _pattern_table(P), dst=codes.reshape(n * hp, wp))
        return codes, q
    np.bitwise_xor(prev, first, out=xor)
    np.add(trans, xor, out=trans)
    # code = count if trans <= 2 else P + 1, through a 256-entry table on (min(trans, 3), count)
    np.minimum(trans, 3, out=trans)
    np.left_shift(trans, 6, out=trans)
    np.bitwise_or(trans, count, out=trans)
    codes = scratch("lbp.codes", (n, hp, wp), np.uint8)
    cv2.LUT(trans.reshape(n * hp, wp), _riu2_table(P), dst=codes.reshape(n * hp, wp))
    return codes, q


def _codes_block(images, P, R):
    """riu2 codes of a ``(n, h, w)`` uint8 block -> ``(n, h, w)`` uint8 view of a scratch array."""
    _, h, w = images.shape
    codes, q = _padded_codes(images, P, R)
    return codes[:, q:q + h, q:q + w]


_TABLES = {}


def _pattern_table(P):
    """riu2 code of every P-bit pattern (P <= 8), as a 256-entry uint8 table."""
    key = ("pattern", P)
    table = _TABLES.get(key)
    if table is None:
        v = np.arange(256) & ((1 << P) - 1)
        rot = ((v << 1) | (v >> (P - 1))) & ((1 << P) - 1)
        trans = np.bitwise_count(v ^ rot)
        ones = np.bitwise_count(v)
        table = np.where(trans <= 2, ones, P + 1).astype(np.uint8)
        _TABLES[key] = table
    return table


def _riu2_table(P):
    table = _TABLES.get(P)
    if table is None:
        v = np.arange(256)
        table = np.where(v >> 6 <= 2, v & 63, P + 1).astype(np.uint8)
        _TABLES[P] = table
    return table


def lbp_codes(images, P=8, R=1):
    """Per-pixel riu2 codes (``0..P+1``), same definition as scikit-image ``method="uniform"``.

    Parameters
    ----------
    images : (N, H, W) ndarray of np.uint8
    P : int
        Number of neighbours.
    R : int or float
        Radius in pixels.

    Returns
    -------
    (N, H, W) ndarray of np.uint8
    """
    images = check_batch(images, "lbp_codes")
    out = np.empty(images.shape, np.uint8)
    for i in range(0, len(images), 16):
        out[i:i + 16] = _codes_block(images[i:i + 16], P, R)
    return out


def _block(pyramid, params):
    pyr = as_pyramid(pyramid)
    cols = []
    for p, r, s in params.settings:
        level = pyr[s]
        n, h, w = level.shape
        codes, q = _padded_codes(level, p, r)
        index = interior_index(n, h, w, q)
        cols.append(batch_hist(codes.reshape(n * (h + 2 * q), w + 2 * q), p + 2, n, index)
                    / float(h * w))
    return np.concatenate(cols, axis=1)


def extract_lbp(images, params=None):
    """Normalised riu2 LBP histograms at several (P, R, pyramid scale).

    Parameters
    ----------
    images : (N, H, W) ndarray of np.uint8
    params : LBPParams, optional

    Returns
    -------
    (N, F) ndarray of np.float32
        Fractions of pixels per code (each setting's block of ``P + 2`` columns sums to 1), as named
        by :func:`lbp_names`.

    Examples
    --------
    >>> import numpy as np
    >>> x = extract_lbp(np.zeros((2, 16, 16), np.uint8), LBPParams(settings=((8, 1, 1),)))
    >>> x.shape
    (2, 10)
    """
    images = check_batch(images, "extract_lbp")
    params = params or LBPParams()
    return blocked(lambda b: _block(b, params), images, len(lbp_names(params)))
