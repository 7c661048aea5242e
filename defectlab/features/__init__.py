"""The vectorised texture-feature core: ``(N, H, W) uint8 -> (N, F) float32``.

>>> from defectlab.features import extract, feature_names
>>> X = extract(images)            # doctest: +SKIP
>>> names = feature_names()        # F names matching X's columns

Public API
----------
``extract(images, spec=None, *, chunk_size=256, n_jobs=1)``
    Features of a uint8 ``(N, H, W)`` batch (fast path), a uint8 RGB ``(N, H, W, 3)`` batch, or a
    list of arrays of any size / dtype / channels. Rows depend only on their own image; results
    are identical for any ``chunk_size`` and ``n_jobs``.
``feature_names(spec=None)``
    ``"<family>.<detail>"`` names of the columns (``lbp.p8r1.u3``, ``glcm.d2.contrast_mean``,
    ``gabor.l12.o45.energy``, ``hog.c2.b5``, ``fft.radial3``, ``intensity.p90``, ``color.h_mean``).
``FAMILY_TITLES``
    Plain-words title per family (the part of a name before the first dot).
``prepare_images(images, spec=None) -> (grey, color)``
    The working-size policy (grey uint8 at ``spec.size``; RGB too when the spec has ``color``).
``extract_cached(shas, load_images, spec, cache_dir, n_jobs=1, progress=None)``
    Incremental on-disk cache in ``<cache_dir>/<spec hash>/`` (``cache_dir`` =
    ``<workspace>/features``): indexed 4,096-row shards, each verified once per process; missing
    images loaded and extracted on ``n_jobs`` threads. ``cache.FeatureCache`` is the lower-level
    lookup / add used by the Dask path.
``TileParams``, ``auto_spec(spec, heights, widths)``
    Tile-pooled features for large images (whole photos): tiles -> families -> pooled row, beside
    the whole image's own row; the automatic choice from the images' sizes (see
    :mod:`defectlab.features.tiles`).
``auto_working_size(spec, heights, widths)``, ``WORKING_SIDES``
    Small crops get a smaller working size (64 x 64 crops: 64, not 160), same columns; ``auto_spec``
    applies it to crop projects (see :mod:`defectlab.features.sizing`).
``FeatureSpec``, ``PRESETS`` ("fast", "default", "rich"), ``get_spec(name_or_spec)``,
``spec_hash(spec)``, ``FEATURES_VERSION``
    Which families, parameters and working size; hashed and versioned.

Families: one module each (``intensity``, ``lbp``, ``glcm``, ``hog``, ``gabor``, ``fft``,
``color``, ``residual``) with ``extract_<family>(images, params) -> (N, F) float32`` and ``<family>_names``;
``lbp.lbp_codes``, ``glcm.glcm_matrices`` / ``glcm_props`` and ``hog.hog_blocks`` expose the
per-pixel / per-matrix intermediates that match scikit-image.

Importing this package imports only NumPy, OpenCV and the standard library.
"""

from ._validate import prepare_images
from .cache import extract_cached
from .pipeline import extract, feature_names
from .sizing import WORKING_SIDES, auto_working_size
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
    ResidualParams,
    TileParams,
    get_spec,
    spec_hash,
)
from .tiles import auto_spec

__all__ = [
    "DEFAULT_PRESET",
    "FAMILIES",
    "FAMILY_TITLES",
    "FEATURES_VERSION",
    "PRESETS",
    "WORKING_SIDES",
    "ColorParams",
    "FFTParams",
    "FeatureSpec",
    "GLCMParams",
    "GaborParams",
    "HOGParams",
    "IntensityParams",
    "LBPParams",
    "ResidualParams",
    "TileParams",
    "auto_spec",
    "auto_working_size",
    "extract",
    "extract_cached",
    "feature_names",
    "get_spec",
    "prepare_images",
    "spec_hash",
]
