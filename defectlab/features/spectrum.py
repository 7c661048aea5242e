"""Power spectra of a batch (private helper of the ``gabor`` and ``fft`` families).

The spectrum is that of the *periodic component* of each image (Moisan, "Periodic plus smooth image
decomposition", JMIV 2011): a plain DFT treats the image as tiled, and the jumps between opposite
borders add a strong false horizontal/vertical cross to the spectrum. Subtracting the smooth component
(computed in closed form from the border differences with two 1-D FFTs) removes it without windowing,
so defects at the image border keep their full weight.

One forward DFT per image (``cv2.dft``, real input, packed CCS output: 3-6x faster here than
``numpy.fft.rfft2``); odd sizes fall back to ``numpy.fft.rfft2``. The result is the half-plane power
``|P(q, s)|**2`` for ``s = 0..W//2`` with the DC term set to zero.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from ._batch import scratch

__all__ = []

_CACHE = {}
_LOCK = threading.Lock()


def _cached(key, make):
    with _LOCK:
        value = _CACHE.get(key)
    if value is None:
        value = make()
        with _LOCK:
            if len(_CACHE) >= 16:  # projections are a few MB per working size
                _CACHE.clear()
            _CACHE[key] = value
    return value


def _dft_half(u, out=None):
    """Half-plane complex DFT of a float32 ``(n, h, w)`` batch -> ``(n, h, w//2 + 1)`` complex128."""
    n, h, w = u.shape
    if h % 2 or w % 2:
        return np.fft.rfft2(u.astype(np.float64))
    d = scratch("spec.ccs", (n, h, w), np.float32)
    for i in range(n):  # one OpenCV call per image: there is no batched 2-D DFT
        cv2.dft(u[i], d[i])
    h2, w2 = h // 2, w // 2
    if out is None:
        out = np.empty((n, h, w2 + 1), np.complex128)
    re, im = out.real, out.imag
    # inner columns: (Re, Im) pairs for every row
    re[:, :, 1:w2] = d[:, :, 1:w - 1:2]
    im[:, :, 1:w2] = d[:, :, 2:w - 1:2]
    # first and last column: packed 1-D real transforms along the rows (Hermitian in q)
    for col_out, col_in in ((0, 0), (w2, w - 1)):
        c = d[:, :, col_in]
        re[:, 0, col_out] = c[:, 0]
        im[:, 0, col_out] = 0.0
        re[:, 1:h2, col_out] = c[:, 1:h - 1:2]
        im[:, 1:h2, col_out] = c[:, 2:h - 1:2]
        re[:, h2, col_out] = c[:, h - 1]
        im[:, h2, col_out] = 0.0
        re[:, h2 + 1:, col_out] = re[:, h2 - 1:0:-1, col_out]
        im[:, h2 + 1:, col_out] = -im[:, h2 - 1:0:-1, col_out]
    return out


def _smooth_terms(h, w):
    """Cached ``eq * inv`` (h, w//2+1) and ``es * inv`` (h, w//2+1) of the smooth component."""
    def make():
        q = np.arange(h)
        s = np.arange(w // 2 + 1)
        eq = 1.0 - np.exp(2j * np.pi * q / h)
        es = 1.0 - np.exp(2j * np.pi * s / w)
        denom = 2.0 * np.cos(2 * np.pi * q / h)[:, None] + 2.0 * np.cos(2 * np.pi * s / w)[None, :]
        denom = denom - 4.0
        denom[0, 0] = 1.0
        inv = 1.0 / denom
        inv[0, 0] = 0.0
        return eq[:, None] * inv, es[None, :] * inv
    return _cached(("smooth", h, w), make)


def power_spectrum(images):
    """Half-plane power spectrum of each image's periodic component.

    Parameters
    ----------
    images : (n, h, w) ndarray of np.uint8

    Returns
    -------
    (n, h, w//2 + 1) ndarray of np.float64
        ``|DFT|**2`` (unnormalised, DC = 0). Row ``q`` is the frequency ``fftfreq(h)[q]``, column
        ``s`` the frequency ``s / w``.
    """
    n, h, w = images.shape
    wh = w // 2 + 1
    u = np.asarray(images, np.float32)
    spec = _dft_half(u, scratch("spec.half", (n, h, wh), np.complex128))
    # periodic + smooth decomposition: subtract the smooth component's DFT
    a = np.fft.rfft(u[:, -1, :].astype(np.float64) - u[:, 0, :], axis=-1)  # (n, w//2+1)
    b = np.fft.fft(u[:, :, -1].astype(np.float64) - u[:, :, 0], axis=-1)  # (n, h)
    eqi, esi = _smooth_terms(h, w)
    tmp = scratch("spec.tmp", (n, h, wh), np.complex128)
    np.multiply(a[:, None, :], eqi[None], out=tmp)
    np.subtract(spec, tmp, out=spec)
    np.multiply(b[:, :, None], esi[None], out=tmp)
    np.subtract(spec, tmp, out=spec)
    power = np.multiply(spec.real, spec.real)
    power += spec.imag * spec.imag
    power[:, 0, 0] = 0.0
    return power


def frequency_grid(h, w):
    """Row and column frequencies (cycles/pixel) of the half-plane: ``(h, 1)`` and ``(1, w//2+1)``."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = (np.arange(w // 2 + 1) / w)[None, :]
    return fy, fx


def fold(weights_full, h, w):
    """Fold full-plane weights ``(h, w, k)`` onto the half plane ``(h, w//2+1, k)``.

    ``sum(power_full * wf) == sum(power_half * fold(wf))`` for the power of a real image, since its
    power at ``f`` and ``-f`` is the same.
    """
    wh = w // 2 + 1
    out = weights_full[:, :wh].copy()
    s = np.arange(1, (w - 1) // 2 + 1)  # columns whose mirror -s is not in the half plane
    qneg = (-np.arange(h)) % h
    out[:, s] += weights_full[qneg[:, None], (w - s)[None, :]]
    return out


def full_grid(h, w):
    """Full-plane frequencies ``fy (h, 1)``, ``fx (1, w)`` in cycles/pixel (``fftfreq`` order)."""
    return np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]


def projection(key, h, w, make_full):
    """Cached ``(h*(w//2+1), k)`` matrix: folded weights from ``make_full(fy, fx) -> (h, w, k)``."""
    def make():
        fy, fx = full_grid(h, w)
        wf = make_full(fy, fx)
        return np.ascontiguousarray(fold(wf, h, w).reshape(h * (w // 2 + 1), -1))
    return _cached(("proj", key, h, w), make)
