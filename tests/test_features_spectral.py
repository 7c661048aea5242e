"""Power spectrum, Gabor bank and FFT distribution: known stripes, no border cross, constants."""

import numpy as np
import pytest

from defectlab.features.fft import FFTParams, extract_fft, fft_names
from defectlab.features.gabor import GaborParams, extract_gabor, gabor_names
from defectlab.features.spectrum import _dft_half, fold, power_spectrum


def _stripes(period, angle_deg, size=64):
    r, c = np.indices((size, size))
    t = np.deg2rad(angle_deg)
    phase = 2 * np.pi * (c * np.cos(t) + r * np.sin(t)) / period
    return (127.5 + 100 * np.sin(phase)).astype(np.uint8)


@pytest.mark.parametrize("shape", [(8, 8), (16, 12), (6, 10), (7, 9)])
def test_half_plane_dft_matches_numpy(shape):
    u = np.random.default_rng(0).integers(0, 256, (2, *shape)).astype(np.float32)
    ref = np.fft.rfft2(u.astype(np.float64))
    np.testing.assert_allclose(_dft_half(u), ref, rtol=0, atol=1e-6 * np.abs(ref).max())


def test_periodic_component_matches_moisan_reference():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (2, 12, 10), dtype=np.uint8)
    u = images.astype(np.float64)
    v = np.zeros_like(u)
    v[:, 0] += u[:, -1] - u[:, 0]
    v[:, -1] -= u[:, -1] - u[:, 0]
    v[:, :, 0] += u[:, :, -1] - u[:, :, 0]
    v[:, :, -1] -= u[:, :, -1] - u[:, :, 0]
    q, s = np.indices((12, 10))
    den = 2 * np.cos(2 * np.pi * q / 12) + 2 * np.cos(2 * np.pi * s / 10) - 4
    den[0, 0] = 1
    smooth = np.fft.fft2(v) / den
    smooth[:, 0, 0] = 0
    want = np.abs(np.fft.fft2(u) - smooth) ** 2
    want[:, 0, 0] = 0
    np.testing.assert_allclose(power_spectrum(images), want[:, :, :6], rtol=1e-5,
                               atol=1e-6 * want.max())


def test_fold_preserves_weighted_sums():
    rng = np.random.default_rng(2)
    u = rng.random((9, 10))
    full = np.abs(np.fft.fft2(u)) ** 2
    half = np.abs(np.fft.rfft2(u)) ** 2
    w = rng.random((9, 10, 3))
    np.testing.assert_allclose((half[..., None] * fold(w, 9, 10)).sum(axis=(0, 1)),
                               (full[..., None] * w).sum(axis=(0, 1)))


@pytest.mark.parametrize("angle", [0, 45, 90, 135])
def test_gabor_peaks_at_the_stripes_wavelength_and_direction(angle):
    params = GaborParams(wavelengths=(4, 8, 16), orientations=4)
    x = extract_gabor(_stripes(8, angle)[None], params)[0]
    names = gabor_names(params)
    energies = {n: v for n, v in zip(names, x, strict=True) if n.endswith(".energy")}
    assert max(energies, key=energies.get) == f"gabor.l8.o{angle}.energy"


def test_gabor_ignores_borders_of_a_smooth_ramp():
    # a plain DFT sees the ramp's wrap-around jump as a strong vertical edge (0 deg at every
    # wavelength); the periodic component has almost nothing at fine scales
    ramp = np.tile(np.linspace(0, 255, 64), (64, 1)).astype(np.uint8)[None]
    x = dict(zip(gabor_names(), extract_gabor(ramp)[0], strict=True))
    assert x["gabor.l3.o0.energy"] < 0.5 and x["gabor.l6.o0.energy"] < 0.5


def test_fft_fractions_and_direction():
    params = FFTParams(radial=6, angular=4)
    names = fft_names(params)
    assert names[0] == "fft.radial0" and names[6] == "fft.angular0" and names[-1] == "fft.slope"
    x = extract_fft(np.stack([_stripes(3, 90), _stripes(16, 0)]), params)
    np.testing.assert_allclose(x[:, :6].sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(x[:, 6:10].sum(axis=1), 1, rtol=1e-6)
    assert x[0, 6 + 2] > 0.9  # horizontal stripes: the 90-degree sector
    assert x[1, 6 + 0] > 0.9  # vertical stripes: the 0-degree sector
    assert np.argmax(x[0, :6]) < np.argmax(x[1, :6])  # period 3 is finer than period 16


@pytest.mark.parametrize("value", [0, 255])
def test_constant_images_give_finite_zeros(value):
    images = np.full((2, 32, 32), value, np.uint8)
    assert not extract_gabor(images).any() and np.isfinite(extract_gabor(images)).all()
    assert not extract_fft(images).any()


def test_odd_sizes_work():
    rng = np.random.default_rng(3)
    x = extract_gabor(rng.integers(0, 256, (2, 33, 47), dtype=np.uint8))
    assert x.shape == (2, len(gabor_names())) and np.isfinite(x).all()
