"""Radial and angular distribution of the power spectrum (how fine, and how directional).

Uses the periodic-component power spectrum of ``spectrum.py`` (no false border cross).

* ``fft.radial<k>``: fraction of the AC power in half-octave frequency rings, ``radial0`` the finest
  (0.354..0.5 cycles/pixel and the corners beyond), each next ring half an octave lower; the last ring
  also holds everything below it (DC excluded);
* ``fft.angular<k>``: fraction of the power above 1/32 cycles/pixel (finer than 32-pixel periods)
  whose frequency direction lies in the sector centred on ``k * 180 / angular`` degrees (0 =
  left-right intensity changes, i.e. vertical stripes / edges);
* ``fft.slope``: log-log slope of the radial power (how fast power falls with frequency: smooth
  surfaces have steep negative slopes, grainy ones flat).
"""

from __future__ import annotations

import numpy as np

from ._batch import blocked
from ._validate import check_batch
from .spec import FFTParams
from .spectrum import power_spectrum, projection

__all__ = ["extract_fft", "fft_names"]

_MIN_ANGULAR = 1.0 / 32.0


def fft_names(params=None):
    """Column names of :func:`extract_fft`."""
    params = params or FFTParams()
    return ([f"fft.radial{k}" for k in range(params.radial)]
            + [f"fft.angular{k}" for k in range(params.angular)] + ["fft.slope"])


def _ring_edges(k):
    return 0.5 * 2.0 ** (-np.arange(k + 1) / 2.0)  # descending: 0.5, 0.354, 0.25, ...


def _weights(params):
    def make(fy, fx):
        r = np.sqrt(fy * fy + fx * fx)
        edges = _ring_edges(params.radial)
        out = []
        for k in range(params.radial):
            hi = np.inf if k == 0 else edges[k]
            lo = 0.0 if k == params.radial - 1 else edges[k + 1]
            out.append(((r > lo) & (r <= hi)).astype(np.float64))
        ang = np.mod(np.degrees(np.arctan2(fy, fx)), 180.0)
        width = 180.0 / params.angular
        sector = np.floor(np.mod(ang + width / 2.0, 180.0) / width).astype(int)
        for k in range(params.angular):
            out.append(((sector == k) & (r > _MIN_ANGULAR)).astype(np.float64))
        out.append((r > 0).astype(np.float64))  # total AC power
        out.append((r > _MIN_ANGULAR).astype(np.float64))
        w = np.stack([np.broadcast_to(o, r.shape) for o in out], axis=-1)
        w[0, 0] = 0.0
        return w
    return make


def fft_from_power(power, width, params):
    """FFT columns from :func:`~defectlab.features.spectrum.power_spectrum` output.

    Parameters
    ----------
    power : (n, h, width//2+1) ndarray of float64
    width : int
    params : FFTParams

    Returns
    -------
    (n, F) ndarray of float64
    """
    n, h, _ = power.shape
    proj = projection(("fft", params.radial, params.angular), h, width, _weights(params))
    sums = np.einsum("ij,jk->ik", power.reshape(n, -1), proj)  # no threaded BLAS (see gabor)
    kr, ka = params.radial, params.angular
    total = sums[:, kr + ka:kr + ka + 1]
    total_hi = sums[:, kr + ka + 1:kr + ka + 2]
    radial = sums[:, :kr] / np.where(total > 0, total, 1.0)
    angular = sums[:, kr:kr + ka] / np.where(total_hi > 0, total_hi, 1.0)
    # slope of log(power density) against log(frequency) over the rings (least squares)
    edges = _ring_edges(kr)
    centres = np.log2(np.sqrt(edges[:-1] * edges[1:]))
    areas = np.pi * (edges[:-1] ** 2 - edges[1:] ** 2)
    dens = np.log2(radial / areas + 1e-12)
    if kr >= 2:
        x = centres - centres.mean()
        slope = (dens - dens.mean(axis=1, keepdims=True)) @ x / (x @ x)
        slope = np.where(total[:, 0] > 0, slope, 0.0)
    else:
        slope = np.zeros(n)
    return np.column_stack([radial, angular, slope])


def extract_fft(images, params=None):
    """Radial and angular power-spectrum distribution of a batch.

    Parameters
    ----------
    images : (N, H, W) ndarray of np.uint8
    params : FFTParams, optional

    Returns
    -------
    (N, F) ndarray of np.float32
        Columns named by :func:`fft_names`; zeros for a constant image.

    Examples
    --------
    >>> import numpy as np
    >>> extract_fft(np.zeros((2, 32, 32), np.uint8)).shape
    (2, 17)
    """
    images = check_batch(images, "extract_fft")
    params = params or FFTParams()
    return blocked(lambda b: fft_from_power(power_spectrum(b), b.shape[2], params), images,
                   len(fft_names(params)))
