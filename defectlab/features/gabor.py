"""Gabor filter bank energies, computed exactly from the power spectrum (Parseval).

For a complex Gabor filter ``g`` with frequency ``1/wavelength`` in direction ``theta``, the mean
squared response over the image is ``sum_f |I(f)|^2 |G(f)|^2 / (H W)^2`` (Parseval). The transfer
function of a Gabor filter with an isotropic Gaussian envelope is a Gaussian bump around the
filter's centre frequency, so the whole bank (all wavelengths and orientations) is one matrix product
of the power spectra with precomputed weights: no 31x31 convolutions, and the same spectrum also
serves the ``fft`` family.

* ``bandwidth`` ``b`` (octaves) sets the bump's width: ``sigma_f = f0 (2^b - 1) / ((2^b + 1)
  sqrt(2 ln 2))`` (half-amplitude bandwidth of ``b`` octaves; ``b = 1`` is the classic Gabor cell,
  spatial sigma ~ 0.56 wavelength);
* the response is that of the analytic (even + odd) filter, so the energy does not depend on the
  phase of the stripes; the DC term is excluded (the energy ignores mean brightness);
* the spectrum is that of the periodic component of the image (see ``spectrum.py``), equivalent
  to filtering with periodic borders but without the false border edges.

Columns: ``gabor.l<wavelength>.o<degrees>.energy`` = ``log(1 + RMS response)`` (grey levels), where
the orientation is the direction in which the intensity oscillates (0 = left-right, i.e. vertical
stripes; 90 = up-down, i.e. horizontal stripes; degrees rounded to integers in the name); plus per
wavelength ``gabor.l<w>.mean`` (log RMS over all orientations, rotation invariant) and
``gabor.l<w>.aniso`` (max minus min orientation energy, in log units: how directional the texture is).
"""

from __future__ import annotations

import numpy as np

from ._batch import blocked
from ._validate import check_batch
from .spec import GaborParams
from .spectrum import _cached as _cached_blocks
from .spectrum import power_spectrum, projection

__all__ = ["extract_gabor", "gabor_names"]


def _angles(params):
    return [180.0 * k / params.orientations for k in range(params.orientations)]


def gabor_names(params=None):
    """Column names of :func:`extract_gabor`."""
    params = params or GaborParams()
    names = []
    for lam in params.wavelengths:
        names += [f"gabor.l{lam}.o{round(a)}.energy" for a in _angles(params)]
        names += [f"gabor.l{lam}.mean", f"gabor.l{lam}.aniso"]
    return names


def _weights(params):
    b = params.bandwidth
    k = (2.0 ** b - 1.0) / ((2.0 ** b + 1.0) * np.sqrt(2.0 * np.log(2.0)))

    def make(fy, fx):
        out = []
        for lam in params.wavelengths:
            f0 = 1.0 / lam
            sig = k * f0
            for a in _angles(params):
                t = np.deg2rad(a)
                cy, cx = f0 * np.sin(t), f0 * np.cos(t)
                out.append(np.exp(-((fy - cy) ** 2 + (fx - cx) ** 2) / (sig * sig)))
        w = np.stack(out, axis=-1)
        w[0, 0] = 0.0
        return w
    return make


def _support_blocks(params, h, width):
    """Per wavelength: the folded weights restricted to the low-frequency box holding them.

    A filter's weights fall below 1e-9 a few bandwidths away from its centre frequency, so the
    longer wavelengths only need the few lowest frequencies; summing over those boxes instead of the
    whole half plane is less work and changes nothing measurable (< 1e-9 relative).
    Returns a list of ``(top, bottom, cols, w_top, w_bottom)``: rows ``[0, top)`` and
    ``[h - bottom, h)``, columns ``[0, cols)``.
    """
    key = ("gabor", params.wavelengths, params.orientations, params.bandwidth)

    def make():
        wh = width // 2 + 1
        dense = projection(key, h, width, _weights(params)).reshape(h, wh, -1)
        k = params.orientations
        out = []
        for i in range(len(params.wavelengths)):
            w = dense[:, :, i * k:(i + 1) * k]
            keep = w.max(axis=2) > 1e-9
            rows = np.flatnonzero(keep.any(axis=1))
            cols = np.flatnonzero(keep.any(axis=0))
            ncols = int(cols.max()) + 1 if cols.size else 1
            low = rows[rows < (h + 1) // 2]
            high = rows[rows >= (h + 1) // 2]
            top = int(low.max()) + 1 if low.size else 1
            bottom = h - int(high.min()) if high.size else 0
            if top + bottom >= h:
                top, bottom = h, 0
            out.append((top, bottom, ncols, np.ascontiguousarray(w[:top, :ncols]),
                        np.ascontiguousarray(w[h - bottom:, :ncols]) if bottom else None))
        return out
    return _cached_blocks(("blocks", *key, h, width), make)


def gabor_from_power(power, width, params):
    """Gabor columns from :func:`~defectlab.features.spectrum.power_spectrum` output.

    Parameters
    ----------
    power : (n, h, width//2+1) ndarray of float64
    width : int
        Image width (the half plane does not tell odd from even widths).
    params : GaborParams

    Returns
    -------
    (n, F) ndarray of float64
    """
    h = power.shape[1]
    norm = float(h * width) ** 2
    cols = []
    # einsum, not BLAS: small products that threaded BLAS makes slow (and jittery) on a busy CPU
    for top, bottom, ncols, w_top, w_bottom in _support_blocks(params, h, width):
        energy = np.einsum("nrc,rck->nk", power[:, :top, :ncols], w_top)
        if bottom:
            energy += np.einsum("nrc,rck->nk", power[:, h - bottom:, :ncols], w_bottom)
        energy = np.maximum(energy / norm, 0.0)
        e = np.log1p(np.sqrt(energy))
        mean = np.log1p(np.sqrt(energy.mean(axis=1)))
        cols += [e, mean[:, None], (e.max(axis=1) - e.min(axis=1))[:, None]]
    return np.concatenate(cols, axis=1)


def extract_gabor(images, params=None):
    """Gabor energies per wavelength and orientation.

    Parameters
    ----------
    images : (N, H, W) ndarray of np.uint8
    params : GaborParams, optional

    Returns
    -------
    (N, F) ndarray of np.float32
        Columns named by :func:`gabor_names`.

    Examples
    --------
    >>> import numpy as np
    >>> rows = np.arange(64)[:, None] * np.ones((1, 64))
    >>> stripes = (127 + 100 * np.sin(2 * np.pi * rows / 8)).astype(np.uint8)[None]
    >>> x = extract_gabor(stripes, GaborParams(wavelengths=(8,), orientations=4))
    >>> names = gabor_names(GaborParams(wavelengths=(8,), orientations=4))
    >>> names[int(np.argmax(x[0, :4]))]   # horizontal stripes oscillate up-down
    'gabor.l8.o90.energy'
    """
    images = check_batch(images, "extract_gabor")
    params = params or GaborParams()
    return blocked(lambda b: gabor_from_power(power_spectrum(b), b.shape[2], params), images,
                   len(gabor_names(params)))
