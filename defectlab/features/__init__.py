"""The vectorised texture-feature core: ``(N, H, W) uint8 -> (N, F) float32``.

>>> from defectlab.features import extract, feature_names
>>> X = extract(images)            # doctest: +SKIP
>>> names = feature_names()        # F names matching X's columns

Families (one module each, each with ``extract_<family>(images, params)`` and ``<family>_names``):
``intensity``, ``lbp``, ``glcm``, ``hog``, ``gabor``, ``fft``, ``color``. A :class:`FeatureSpec`
chooses families, parameters and the working size; :data:`PRESETS` holds the named ones
("fast", "default", "rich"). :func:`extract_cached` keeps features on disk per (image sha256, spec hash).

Importing this package imports only NumPy, OpenCV and the standard library.
"""

from ._validate import prepare_images
from .cache import extract_cached
from .pipeline import extract, feature_names
from .spec import (
    DEFAULT_PRESET,
    FAMILIES,
    FAMILY_TITLES,
    FEATURES_VERSION,
    PRESETS,
    ColorParams,
    FeatureSpec,
    FFTParams,
    GaborParams,
    GLCMParams,
    HOGParams,
    IntensityParams,
    LBPParams,
    get_spec,
    spec_hash,
)

__all__ = [
    "DEFAULT_PRESET",
    "FAMILIES",
    "FAMILY_TITLES",
    "FEATURES_VERSION",
    "PRESETS",
    "ColorParams",
    "FFTParams",
    "FeatureSpec",
    "GLCMParams",
    "GaborParams",
    "HOGParams",
    "IntensityParams",
    "LBPParams",
    "extract",
    "extract_cached",
    "feature_names",
    "get_spec",
    "prepare_images",
    "spec_hash",
]
