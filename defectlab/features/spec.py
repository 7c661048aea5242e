"""Feature specifications: which texture families, with which parameters, at which working size.

A :class:`FeatureSpec` is a small frozen, JSON-serialisable value. Its :attr:`FeatureSpec.hash`
(sha256 of the canonical JSON, the ``name`` excluded) identifies the *outputs*: two specs with the
same hash produce the same columns with the same values, so the hash keys the on-disk feature cache
and is stored with every trained model. :data:`FEATURES_VERSION` is part of the hash and is bumped
whenever the code changes any output value, so old caches and old models are never silently mixed
with new features.

Input policy (see :func:`defectlab.features.prepare_images`)
-----------------------------------------------------------
* colour ``(H, W, 3)`` RGB (or RGBA, alpha dropped) is converted to grey with ITU-R BT.601 weights
  (``cv2.COLOR_RGB2GRAY``); the colour family, when present, reads the RGB pixels;
* 16-bit and other integer images: ``depth="stretch"`` (default) maps the 0.1st..99.9th percentile of
  each image to 0..255 (10/12/14-bit cameras store values far below 65535, so a fixed /257 would leave
  them nearly black); ``depth="scale"`` divides by 257 (full 16-bit range) instead;
* float images with all values in [0, 1] are multiplied by 255, other float images are min-max
  stretched; NaN or infinity is an error;
* every image is then resized to the working ``size`` (rows, cols): ``cv2.INTER_AREA`` when shrinking,
  ``cv2.INTER_LINEAR`` when enlarging. ``resize="stretch"`` (default) ignores the aspect ratio;
  ``resize="crop"`` first cuts the centred largest box of the working aspect ratio.

All lengths in the parameters below (LBP radii, GLCM distances, HOG cells, Gabor wavelengths) are in
pixels *of the working size*. Families that look at coarse structure use an image pyramid
(``scale`` 2 = the working image halved by 2x2 averaging, 4 = quartered), so large defects and large
input images are still described at several scales.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from ..errors import InputError
from ..messages import msg

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
    "ResidualParams",
    "TileParams",
    "get_spec",
    "spec_hash",
]

#: Version of the feature definitions. Bump it whenever any output value changes.
FEATURES_VERSION = 1

#: Families in the order their columns appear.
FAMILIES = ("intensity", "lbp", "glcm", "hog", "gabor", "fft", "color", "residual")

#: Plain-words title of each family (the part of a feature name before the first dot).
FAMILY_TITLES = {
    "intensity": "Brightness statistics (mean, spread, percentiles, grey-level histogram)",
    "lbp": "LBP texture (local micro-patterns: spots, edges, corners, flat areas)",
    "glcm": "GLCM contrast / co-occurrence (how grey levels of neighbouring pixels differ)",
    "hog": "Edge directions (histogram of oriented gradients)",
    "gabor": "Gabor filters (stripes and ripples at a given size and direction)",
    "fft": "Frequency spectrum (fine vs coarse texture, dominant directions)",
    "color": "Colour (hue, saturation and value in HSV)",
    "residual": "Local residual (what stands out from the smoothed surface: dark or bright spots, streaks)",
}

_RESIZE_MODES = ("stretch", "crop")
_TILE_MODES = ("grid", "sliding")
#: Pooling statistics of tile features (``q<k>``: the k-th percentile over the tiles).
TILE_POOLS = ("whole", "mean", "std", "max", "min", "q10", "q25", "q50", "q75", "q90")
_DEPTH_MODES = ("stretch", "scale")
_GLCM_PROPS = ("contrast", "dissimilarity", "homogeneity", "energy", "correlation", "ASM")


def _fail(where, what, got, fix):
    raise InputError(msg("error.spec.got",
            "The '{where}' {what}. Got {got}. {fix}",
            where=where, what=what, got=repr(got), fix=fix))


def _int_tuple(value, where, *, min_value=1, max_value=None, length=None):
    try:
        out = tuple(int(v) for v in value)
        ok = all(float(v) == int(v) for v in value)
    except (TypeError, ValueError):
        ok, out = False, ()
    if not ok or not out or any(v < min_value for v in out) or (
        max_value is not None and any(v > max_value for v in out)
    ) or (length is not None and len(out) != length):
        rng = f">= {min_value}" + (f" and <= {max_value}" if max_value is not None else "")
        n = f"{length} " if length else "a non-empty list of "
        _fail(where, f"parameter must be {n}integers {rng}", value, "Fix the feature spec.")
    return out


def _check_spec_int(value, where, lo, hi):
    """A feature-spec integer: a plain ``int`` only (not a NumPy integer, unlike the shared
    :func:`defectlab._validation._check_int`), because the spec is hashed through ``json.dumps``."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        _fail(where, f"parameter must be an integer in [{lo}, {hi}]", value, "Fix the feature spec.")
    return value


@dataclass(frozen=True)
class IntensityParams:
    """Brightness statistics from each image's 256-bin histogram.

    Parameters
    ----------
    percentiles : tuple of int
        Percentiles (0..100, nearest-rank) reported as ``intensity.p<k>``.
    bins : int
        Number of equal-width grey-level histogram bins reported as fractions ``intensity.h<i>``
        (a divisor of 256).
    """

    percentiles: tuple = (1, 5, 10, 25, 50, 75, 90, 95, 99)
    bins: int = 16

    def __post_init__(self):
        object.__setattr__(self, "percentiles", _int_tuple(
            self.percentiles, "intensity.percentiles", min_value=0, max_value=100))
        if self.bins not in (1, 2, 4, 8, 16, 32, 64, 128, 256):
            _fail("intensity.bins", "parameter must be a power of two in [1, 256]", self.bins,
                  "Use e.g. 16.")


@dataclass(frozen=True)
class LBPParams:
    """Rotation-invariant uniform LBP (riu2) histograms.

    Parameters
    ----------
    settings : tuple of (P, R, scale)
        ``P`` neighbours on a circle of radius ``R`` pixels (bilinear interpolation, as in
        scikit-image ``local_binary_pattern(method="uniform")``), computed on the pyramid level
        ``scale`` (1, 2, 4, 8: the working image shrunk by that factor). Each setting gives ``P + 2``
        columns: the fraction of pixels whose pattern has ``k`` ones (``u0..uP``) and of non-uniform
        patterns (``nonuniform``).
    """

    settings: tuple = ((8, 1, 1), (8, 1, 2), (16, 2, 2), (8, 1, 4))

    def __post_init__(self):
        out = []
        for s in self.settings:
            p, r, sc = _int_tuple(s, "lbp.settings", length=3)
            if not 4 <= p <= 32 or r > 8 or sc not in (1, 2, 4, 8):
                _fail("lbp.settings", "entries must be (P in 4..32, R in 1..8, scale in 1,2,4,8)",
                      s, "Use e.g. (8, 1, 1).")
            out.append((p, r, sc))
        if not out or len(set(out)) != len(out):
            _fail("lbp.settings", "parameter must be a non-empty list of distinct (P, R, scale)",
                  self.settings, "Remove duplicates.")
        object.__setattr__(self, "settings", tuple(out))


@dataclass(frozen=True)
class GLCMParams:
    """Grey-level co-occurrence (Haralick) properties, mean and range over four directions.

    Parameters
    ----------
    levels : int
        Grey levels after quantisation (``image >> (8 - log2(levels))``), a power of two <= 256.
    distances : tuple of int
        Pixel distances. Directions are 0, 45, 90 and 135 degrees with offsets (0, d), (d, d),
        (d, 0), (d, -d) (rows, cols); the matrix is symmetric and normalised.
    scales : tuple of int
        Pyramid levels the matrices are computed on (1 = working size); scale ``s`` > 1 adds
        columns named ``glcm.x<s>.d<d>.<prop>_<stat>``.
    props : tuple of str
        Among contrast, dissimilarity, homogeneity, energy, correlation, ASM
        (scikit-image ``graycoprops`` definitions).
    """

    levels: int = 32
    distances: tuple = (1, 2, 4)
    scales: tuple = (1,)
    props: tuple = _GLCM_PROPS

    def __post_init__(self):
        if self.levels not in (2, 4, 8, 16, 32, 64, 128, 256):
            _fail("glcm.levels", "parameter must be a power of two in [2, 256]", self.levels,
                  "Use e.g. 32.")
        object.__setattr__(self, "distances", _int_tuple(self.distances, "glcm.distances",
                                                         max_value=32))
        object.__setattr__(self, "scales", _int_tuple(self.scales, "glcm.scales", max_value=8))
        props = tuple(self.props)
        if not props or any(p not in _GLCM_PROPS for p in props) or len(set(props)) != len(props):
            _fail("glcm.props", f"parameter must be distinct names among {_GLCM_PROPS}", props,
                  "Fix the feature spec.")
        object.__setattr__(self, "props", props)


@dataclass(frozen=True)
class HOGParams:
    """Histogram of oriented gradients, block-normalised and average-pooled over the image.

    Parameters
    ----------
    cell : int
        Cell size in pixels (square cells; trailing pixels that do not fill a cell are ignored).
    orientations : int
        Unsigned orientation bins over 0..180 degrees.
    block : int
        Cells per block side; blocks are L2-Hys normalised as in scikit-image ``hog`` and then
        averaged, giving ``block * block * orientations`` columns ``hog.c<k>.b<b>``.
    """

    cell: int = 8
    orientations: int = 9
    block: int = 2

    def __post_init__(self):
        _check_spec_int(self.cell, "hog.cell", 2, 64)
        _check_spec_int(self.orientations, "hog.orientations", 2, 36)
        _check_spec_int(self.block, "hog.block", 1, 4)


@dataclass(frozen=True)
class GaborParams:
    """Gabor filter bank energies, computed exactly in the Fourier domain (Parseval).

    Parameters
    ----------
    wavelengths : tuple of int
        Wavelengths in pixels (>= 2).
    orientations : int
        Number of orientations over 0..180 degrees.
    bandwidth : float
        Spatial-frequency bandwidth in octaves (1.0 is the classic Gabor cell).
    """

    wavelengths: tuple = (3, 6, 12, 24)
    orientations: int = 8
    bandwidth: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "wavelengths", _int_tuple(self.wavelengths, "gabor.wavelengths",
                                                           min_value=2, max_value=256))
        _check_spec_int(self.orientations, "gabor.orientations", 1, 36)
        if not isinstance(self.bandwidth, (int, float)) or not 0.25 <= self.bandwidth <= 4:
            _fail("gabor.bandwidth", "parameter must be a number in [0.25, 4]", self.bandwidth,
                  "Use e.g. 1.0.")
        object.__setattr__(self, "bandwidth", float(self.bandwidth))


@dataclass(frozen=True)
class FFTParams:
    """Radial and angular distribution of the power spectrum.

    Parameters
    ----------
    radial : int
        Number of half-octave frequency rings from the highest frequency (0.5 cycles/pixel) down
        (``fft.radial0`` is the finest); everything below the last ring is folded into it.
    angular : int
        Number of orientation sectors over 0..180 degrees (frequencies above 1/32 cycles/pixel).
    """

    radial: int = 8
    angular: int = 8

    def __post_init__(self):
        _check_spec_int(self.radial, "fft.radial", 1, 16)
        _check_spec_int(self.angular, "fft.angular", 1, 36)


@dataclass(frozen=True)
class ColorParams:
    """HSV colour statistics (grey inputs give zero saturation and hue).

    Parameters
    ----------
    hue_bins : int
        Hue sectors; ``color.hue<i>`` is the fraction of all pixels that are coloured
        (saturation and value >= 32) with a hue in sector ``i``.
    """

    hue_bins: int = 12

    def __post_init__(self):
        _check_spec_int(self.hue_bins, "color.hue_bins", 1, 180)


@dataclass(frozen=True)
class ResidualParams:
    """Statistics of the image minus its smoothed self (see :mod:`defectlab.features.residual`).

    Parameters
    ----------
    sigma : float
        Gaussian smoothing in working-size pixels (0.5..64): structures much larger are "surface".
    tail : float
        ``residual.dark`` / ``residual.bright`` count pixels beyond this many standard deviations.
    """

    sigma: float = 8.0
    tail: float = 2.5

    def __post_init__(self):
        for name, lo, hi in (("sigma", 0.5, 64.0), ("tail", 0.5, 10.0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
                _fail(f"residual.{name}", f"parameter must be a number in [{lo}, {hi}]", v, "Fix the feature spec.")
            object.__setattr__(self, name, float(v))


@dataclass(frozen=True)
class TileParams:
    """Tile-pooled features for images much larger than the working size (whole photos, plates).

    An image whose shorter side is at least ``min_side`` pixels is cut into tiles; every tile goes
    through the working-size policy and the texture families like a crop, and the tiles' rows are
    pooled into one row per image, beside the whole image's own row (the ``whole`` pool, default). A
    smaller image (a 200 x 200 crop) is one tile: today's path, its pooled row is its own features
    (``std`` 0, every quantile equal). The column count does not depend on the image size, so crops
    and photos can share one model.

    Parameters
    ----------
    mode : {"grid", "sliding"}
        ``grid``: ``grid`` rows x cols tiles covering the image, neighbours sharing ``overlap`` of a
        tile; ``sliding``: square tiles of ``side`` pixels (0: the working size, i.e. tiles at the
        working scale, not shrunk) every ``side * (1 - overlap)`` pixels, at most ``max_tiles`` (the
        step grows).
    grid : (int, int)
        Tile rows and columns of the grid mode (1..8 each).
    overlap : float
        Fraction of a tile shared with its neighbour, in [0, 0.75].
    side : int
        Tile side of the sliding mode in image pixels (0 = the working size's longer side).
    max_tiles : int
        Most tiles per image in the sliding mode (2..64).
    pool : tuple of str
        Statistics over the tiles, among ``mean, std, max, min, q10, q25, q50, q75, q90``, and
        ``whole``: the whole image brought to the working size (the plain spec's row, so the tiles add
        to what a single resize sees and never replace it); columns are named ``<feature>@<pool>``
        (e.g. ``lbp.p8r1.u3@std``), pool by pool.
    min_side : int
        Images whose shorter side is below this many pixels are not tiled (16..8192).
    """

    mode: str = "grid"
    grid: tuple = (3, 3)
    overlap: float = 0.25
    side: int = 0
    max_tiles: int = 16
    pool: tuple = ("whole", "mean", "std")
    min_side: int = 320

    def __post_init__(self):
        if self.mode not in _TILE_MODES:
            _fail("tiles.mode", f"parameter must be one of {_TILE_MODES}", self.mode, "Use 'grid'.")
        object.__setattr__(self, "grid", _int_tuple(self.grid, "tiles.grid", max_value=8, length=2))
        if isinstance(self.overlap, bool) or not isinstance(self.overlap, (int, float)) or not (
                0.0 <= self.overlap <= 0.75):
            _fail("tiles.overlap", "parameter must be a number in [0, 0.75]", self.overlap, "Use e.g. 0.25.")
        object.__setattr__(self, "overlap", float(self.overlap))
        _check_spec_int(self.side, "tiles.side", 0, 8192)
        _check_spec_int(self.max_tiles, "tiles.max_tiles", 2, 64)
        _check_spec_int(self.min_side, "tiles.min_side", 16, 8192)
        pool = tuple(self.pool)
        if not pool or any(p not in TILE_POOLS for p in pool) or len(set(pool)) != len(pool):
            _fail("tiles.pool", f"parameter must be distinct names among {TILE_POOLS}", pool,
                  "Use e.g. ('mean', 'std').")
        object.__setattr__(self, "pool", pool)


_PARAM_TYPES = {
    "intensity": IntensityParams,
    "lbp": LBPParams,
    "glcm": GLCMParams,
    "hog": HOGParams,
    "gabor": GaborParams,
    "fft": FFTParams,
    "color": ColorParams,
    "residual": ResidualParams,
}


@dataclass(frozen=True)
class FeatureSpec:
    """Which families, with which parameters, at which working size.

    Parameters
    ----------
    size : (int, int)
        Working size (rows, cols) every image is brought to; both in [16, 1024]. The default
        160 x 160 keeps NEU-sized crops (200 x 200) nearly intact; larger images are shrunk with
        area averaging and their coarse structure is covered by the pyramid scales.
    resize : {"stretch", "crop"}
        Aspect-ratio policy (see the module docstring).
    depth : {"stretch", "scale"}
        16-bit / integer policy (see the module docstring).
    intensity, lbp, glcm, hog, gabor, fft, color, residual : params or None
        Family parameters; ``None`` leaves the family out. A spec read back from JSON written before
        the ``residual`` family existed has ``residual=None`` (same columns and hash as then).
    tiles : TileParams or None
        Tile-pooled features for large images (see :class:`TileParams`); ``None`` (default) brings every
        image to the working size whole. Part of :attr:`hash` only when set, so specs without tiles keep
        their hash.
    name : str
        Informational label (e.g. the preset name); not part of :attr:`hash`.
    version : int
        :data:`FEATURES_VERSION` of the code that defined the spec. :func:`extract` refuses a spec
        of another version (its features would differ from those it was made with).

    Examples
    --------
    >>> from defectlab.features import FeatureSpec, get_spec
    >>> spec = get_spec("default")
    >>> FeatureSpec.from_json(spec.to_json()) == spec
    True
    >>> len(spec.hash)
    64
    """

    size: tuple = (160, 160)
    resize: str = "stretch"
    depth: str = "stretch"
    intensity: IntensityParams | None = field(default_factory=IntensityParams)
    lbp: LBPParams | None = field(default_factory=LBPParams)
    glcm: GLCMParams | None = field(default_factory=GLCMParams)
    hog: HOGParams | None = field(default_factory=HOGParams)
    gabor: GaborParams | None = field(default_factory=GaborParams)
    fft: FFTParams | None = field(default_factory=FFTParams)
    color: ColorParams | None = field(default_factory=ColorParams)
    residual: ResidualParams | None = field(default_factory=ResidualParams)
    tiles: TileParams | None = None
    name: str = "custom"
    version: int = FEATURES_VERSION

    def __post_init__(self):
        object.__setattr__(self, "size", _int_tuple(self.size, "size", min_value=16,
                                                    max_value=1024, length=2))
        if self.resize not in _RESIZE_MODES:
            _fail("resize", f"parameter must be one of {_RESIZE_MODES}", self.resize,
                  "Fix the feature spec.")
        if self.depth not in _DEPTH_MODES:
            _fail("depth", f"parameter must be one of {_DEPTH_MODES}", self.depth,
                  "Fix the feature spec.")
        for fam, cls in _PARAM_TYPES.items():
            value = getattr(self, fam)
            if isinstance(value, dict):
                value = _params_from_dict(fam, value)
                object.__setattr__(self, fam, value)
            if value is not None and not isinstance(value, cls):
                _fail(fam, f"parameter must be a {cls.__name__}, a dict of its fields or None",
                      value, "Fix the feature spec.")
        if isinstance(self.tiles, dict):
            object.__setattr__(self, "tiles", _tiles_from_dict(self.tiles))
        if self.tiles is not None and not isinstance(self.tiles, TileParams):
            _fail("tiles", "parameter must be a TileParams, a dict of its fields or None", self.tiles,
                  "Fix the feature spec.")
        if not self.families:
            _fail("families", "of a FeatureSpec must include at least one family",
                  "none", f"Enable one of {FAMILIES}.")
        if not isinstance(self.name, str):
            _fail("name", "parameter must be a string", self.name, "Fix the feature spec.")
        _check_spec_int(self.version, "version", 1, 10**6)
        # Pyramid levels must keep at least 8x8 pixels.
        for fam, scale in self._scales():
            if min(self.size) // scale < 8:
                _fail(f"{fam}.scale", f"{scale} leaves fewer than 8 pixels at working size "
                      f"{self.size}", scale, "Use a smaller scale or a larger working size.")

    def _scales(self):
        if self.lbp is not None:
            for _, _, s in self.lbp.settings:
                yield "lbp", s
        if self.glcm is not None:
            for s in self.glcm.scales:
                yield "glcm", s

    @property
    def families(self):
        """tuple of str: the enabled families, in column order."""
        return tuple(f for f in FAMILIES if getattr(self, f) is not None)

    @property
    def needs_color(self):
        """bool: whether the spec reads colour pixels (the ``color`` family)."""
        return self.color is not None

    def to_dict(self):
        """Plain dict of the spec (lists, not tuples), as written by :meth:`to_json`."""
        fams = {}
        for fam in FAMILIES:
            value = getattr(self, fam)
            if value is not None:
                fams[fam] = _plain(dataclasses.asdict(value))
        out = {
            "version": self.version,
            "name": self.name,
            "size": list(self.size),
            "resize": self.resize,
            "depth": self.depth,
            "families": fams,
        }
        if self.tiles is not None:
            out["tiles"] = _plain(dataclasses.asdict(self.tiles))
        return out

    def to_json(self, *, indent=None):
        """JSON text of the spec; :meth:`from_json` reads it back to an equal spec."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data):
        """Spec from a dict written by :meth:`to_dict`; unknown keys are errors."""
        if not isinstance(data, dict):
            _fail("spec", "must be a JSON object", type(data).__name__, "Pass a FeatureSpec dict.")
        known = {"version", "name", "size", "resize", "depth", "families", "tiles"}
        unknown = sorted(set(data) - known)
        if unknown:
            _fail("spec", f"has unknown keys {unknown}; known keys are {sorted(known)}", data,
                  "Remove them or upgrade defectlab.")
        fams = data.get("families", {})
        if not isinstance(fams, dict) or set(fams) - set(FAMILIES):
            _fail("spec.families", f"must map family names among {FAMILIES} to parameters",
                  fams, "Fix the feature spec.")
        kwargs = {f: (_params_from_dict(f, fams[f]) if f in fams else None) for f in FAMILIES}
        return cls(
            size=tuple(data.get("size", (128, 128))),
            resize=data.get("resize", "stretch"),
            depth=data.get("depth", "stretch"),
            name=data.get("name", "custom"),
            version=data.get("version", FEATURES_VERSION),
            tiles=None if data.get("tiles") is None else _tiles_from_dict(data["tiles"]),
            **kwargs,
        )

    @classmethod
    def from_json(cls, text):
        """Spec from :meth:`to_json` text."""
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise InputError(msg("error.spec.feature_spec_not_valid",
                    "The feature spec is not valid JSON ({exc}). Pass the text written by "
                    "FeatureSpec.to_json().",
                    exc=exc)) from None
        return cls.from_dict(data)

    @property
    def hash(self):
        """str: sha256 (hex) of the canonical JSON of everything that affects outputs."""
        data = self.to_dict()
        del data["name"]
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(canonical.encode("ascii")).hexdigest()

    def replace(self, **changes):
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)


def _plain(obj):
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def _params_from_dict(fam, data):
    cls = _PARAM_TYPES[fam]
    if not isinstance(data, dict):
        _fail(f"families.{fam}", "must be a JSON object of parameters", data,
              "Fix the feature spec.")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        _fail(f"families.{fam}", f"has unknown parameters {unknown}; known: {sorted(names)}",
              data, "Fix the feature spec.")
    kwargs = {}
    for k, v in data.items():
        if k == "settings":
            v = tuple(tuple(s) for s in v)
        elif isinstance(v, list):
            v = tuple(v)
        kwargs[k] = v
    return cls(**kwargs)


def _tiles_from_dict(data):
    if not isinstance(data, dict):
        _fail("tiles", "must be a JSON object of parameters", data, "Fix the feature spec.")
    names = {f.name for f in dataclasses.fields(TileParams)}
    unknown = sorted(set(data) - names)
    if unknown:
        _fail("tiles", f"has unknown parameters {unknown}; known: {sorted(names)}", data,
              "Fix the feature spec.")
    return TileParams(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def spec_hash(spec):
    """sha256 (hex) identifying a spec's outputs; same as ``get_spec(spec).hash``."""
    return get_spec(spec).hash


def _make_presets():
    default = FeatureSpec(name="default")
    fast = FeatureSpec(
        size=(96, 96),
        lbp=LBPParams(settings=((8, 1, 1), (8, 1, 2), (8, 1, 4))),
        glcm=GLCMParams(levels=16, distances=(1, 2)),
        hog=None,
        gabor=GaborParams(wavelengths=(3, 6, 12), orientations=4),
        fft=FFTParams(radial=6, angular=4),
        name="fast",
    )
    rich = FeatureSpec(
        size=(192, 192),
        lbp=LBPParams(settings=((8, 1, 1), (16, 2, 1), (24, 3, 1), (8, 1, 2), (16, 2, 2),
                                (8, 1, 4), (8, 1, 8))),
        glcm=GLCMParams(distances=(1, 2, 4, 8), scales=(1, 2)),
        gabor=GaborParams(wavelengths=(3, 4, 6, 8, 12, 16, 24, 32)),
        fft=FFTParams(radial=10, angular=12),
        name="rich",
    )
    return {"fast": fast, "default": default, "rich": rich}


#: Named presets offered in the UI ("feature preset"):
#:
#: * ``fast`` (96 x 96, 141 columns, no HOG): quick looks at large sets, about 3.5x cheaper;
#: * ``default`` (160 x 160, 235 columns): every family, pyramid LBP at 1x/2x/4x; the choice for
#:   training unless there is a reason (~2 ms per image on one core);
#: * ``rich`` (192 x 192, 395 columns): more LBP radii and scales, GLCM on two pyramid levels,
#:   eight Gabor wavelengths; about 3x slower, for hard or very varied data.
PRESETS = _make_presets()

#: Name of the preset used when no spec is given.
DEFAULT_PRESET = "default"


def get_spec(name_or_spec=None):
    """Resolve a preset name, a spec, a spec dict/JSON or ``None`` (the default) to a spec.

    Parameters
    ----------
    name_or_spec : None, str, dict or FeatureSpec
        ``None`` -> ``PRESETS["default"]``; a preset name; JSON text or a dict from
        :meth:`FeatureSpec.to_json` / :meth:`FeatureSpec.to_dict`; or a spec (returned as is).

    Returns
    -------
    FeatureSpec
    """
    if name_or_spec is None:
        return PRESETS[DEFAULT_PRESET]
    if isinstance(name_or_spec, FeatureSpec):
        return name_or_spec
    if isinstance(name_or_spec, dict):
        return FeatureSpec.from_dict(name_or_spec)
    if isinstance(name_or_spec, str):
        if name_or_spec in PRESETS:
            return PRESETS[name_or_spec]
        if name_or_spec.lstrip().startswith("{"):
            return FeatureSpec.from_json(name_or_spec)
        raise InputError(msg("error.spec.spec_parameter_names_unknown",
                "The 'spec' parameter names an unknown feature preset. Got {name_or_spec}. Use one "
                "of {sorted_presets} or a FeatureSpec.",
                name_or_spec=repr(name_or_spec), sorted_presets=sorted(PRESETS)))
    raise InputError(msg("error.spec.spec_parameter_must_none",
            "The 'spec' parameter must be None, a preset name, a dict or a FeatureSpec. Got {name}. "
            "Use e.g. spec='default'.",
            name=type(name_or_spec).__name__))
