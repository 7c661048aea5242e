"""Synthetic steel-surface imagery for the demo workspace and for tests.

Everything here is procedural (numpy + OpenCV only), deterministic for a given ``random_state`` and
fast: the whole demo set (about 240 defect crops, 120 scrap photos, 4 plates and 24 batch images)
is generated and written in a couple of seconds on one core.

Three kinds of images are made:

* :func:`make_defect_crops` -- grey crops of the six NEU-style surface defects
  (:data:`DEFECT_CLASSES`) on a realistic rolled-steel background. The rolling direction is
  **horizontal** (along the rows): rolling texture, inclusions and rolled-in scale are elongated
  left-to-right. Contrast, position, size and number of marks vary, and a share of the crops is faint,
  so a good texture classifier gets high but not perfect accuracy.
* :func:`make_scrap_photos` -- colour photos of scrap piles on an **ordinal** grade scale
  (:data:`SCRAP_GRADES`). Each photo draws a continuous "grade position" around its nominal grade, so
  neighbouring grades overlap and mistakes mostly land one grade off.
* :func:`make_plate_images` -- full plate images with defects pasted in at known boxes, for the
  "cut crops from a full plate by box" workflow.

:func:`write_demo_files` writes all of them to disk in the layouts the importer understands
(class-folder tree, Pascal VOC boxes, an unlabeled batch folder) and includes a non-ASCII file name.

Each image is drawn from its own random stream derived from ``(random_state, kind, class, index)``,
so the first ``k`` images of a class are the same whatever ``n_per_class`` is.

Examples
--------
>>> from defectlab.demo import make_defect_crops, DEFECT_CLASSES
>>> images, labels = make_defect_crops(n_per_class=2, size=64, random_state=0)
>>> images.shape, images.dtype
((12, 64, 64), dtype('uint8'))
>>> labels[:3] == ["crazing", "crazing", "inclusion"]
True
"""

from __future__ import annotations

import numbers
from pathlib import Path
from xml.etree import ElementTree as ET

import cv2
import numpy as np

from defectlab._validation import _check_int
from defectlab.errors import InputError
from defectlab.messages import msg

__all__ = [
    "DEFECT_CLASSES",
    "DEFECT_DESCRIPTIONS",
    "SCRAP_DESCRIPTIONS",
    "SCRAP_GRADES",
    "make_defect_crops",
    "make_plate_images",
    "make_scrap_photos",
    "write_demo_files",
]

DEFECT_CLASSES = (
    "crazing",
    "inclusion",
    "patches",
    "pitted_surface",
    "rolled-in_scale",
    "scratches",
)
"""The six NEU surface-defect classes, in the order the generators use."""

SCRAP_GRADES = ("heavy", "medium", "light", "thin_sheet")
"""Ordinal scrap-steel grades, from the thickest pieces to the thinnest (order matters)."""

DEFECT_DESCRIPTIONS = {
    "crazing": {
        "en": (
            "A network of fine, dark, wavy cracks (about 1 px wide) spread over most of the crop, "
            "crossing and branching. At least 5 separate cracks, none longer than half the crop; "
            "one long straight line is a scratch, not crazing."
        ),
        "zh_CN": (
            "细小、发暗、弯曲的裂纹（宽约 1 像素）交织成网，分布在图像大部分区域，相互交叉、分叉。"
            "至少 5 条独立裂纹，且单条长度不超过图像边长的一半；一条长而直的线属于划痕，不是龟裂。"
        ),
    },
    "inclusion": {
        "en": (
            "Dark specks or short streaks elongated along the rolling direction, often in a chain "
            "along one line. Each mark is at least 2x longer than wide but shorter than 1/3 of the "
            "crop; a mark longer than 5x its width across most of the crop is a scratch."
        ),
        "zh_CN": (
            "沿轧制方向拉长的暗色斑点或短条纹，常沿一条线成串分布。单个痕迹长度至少为宽度的 2 倍，"
            "但短于图像边长的 1/3；若细长痕迹长度超过宽度 5 倍且贯穿大部分图像，应标为划痕。"
        ),
    },
    "patches": {
        "en": (
            "Large irregular blotches clearly darker (or lighter) than the surrounding surface, with "
            "soft edges. At least one blotch covers more than 10% of the crop; many small dots are "
            "pitted surface."
        ),
        "zh_CN": (
            "明显比周围表面更暗（或更亮）的大块不规则斑块，边缘柔和。至少有一块面积超过图像的 10%；"
            "大量细小圆点应标为麻点。"
        ),
    },
    "pitted_surface": {
        "en": (
            "Many small round dark pits (diameter 1-6 px), at least 15 in the crop, scattered or in "
            "a cluster. Pits are roughly round (length under 2x width); elongated flakes are "
            "rolled-in scale."
        ),
        "zh_CN": (
            "大量细小的圆形暗色凹坑（直径 1-6 像素），图像内至少 15 个，分散或成片分布。"
            "凹坑大致为圆形（长度小于宽度的 2 倍）；拉长的片状物应标为压入氧化铁皮。"
        ),
    },
    "rolled-in_scale": {
        "en": (
            "Irregular flakes of scale pressed into the surface, dark with a bright rim or bright "
            "with a dark rim, elongated along the rolling direction, spread over the crop. Flakes "
            "are angular and 4-25 px long; round dots are pits, a chain of dark streaks is inclusion."
        ),
        "zh_CN": (
            "氧化铁皮碎片被压入钢板表面形成的不规则片状痕迹，暗片带亮边或亮片带暗边，沿轧制方向拉长，"
            "散布在图像中。碎片有棱角，长 4-25 像素；圆点应标为麻点，成串的暗色条纹应标为夹杂。"
        ),
    },
    "scratches": {
        "en": (
            "Long thin straight lines, bright or dark, mostly in one direction. A line counts as a "
            "scratch when it is longer than 5x its width and longer than 1/3 of the crop; shorter "
            "marks are pits or inclusions."
        ),
        "zh_CN": (
            "细长的直线，亮或暗，大多沿同一方向。线条长度超过宽度的 5 倍且超过图像边长的 1/3 时"
            "算作划痕；更短的痕迹应标为麻点或夹杂。"
        ),
    },
}
"""Label-book text for each defect class: ``{class: {"en": str, "zh_CN": str}}``, with measurable
criteria an annotator can apply."""

SCRAP_DESCRIPTIONS = {
    "heavy": {
        "en": (
            "Large thick pieces: blocks, beams, billet ends. Most pieces longer than 1/3 of the photo "
            "with a visible side face (thickness) of 6 mm or more; dark, heavily rusted."
        ),
        "zh_CN": (
            "大块厚料：钢块、型钢、坯头。多数料块长度超过照片的 1/3，可见侧面（厚度）不小于 6 毫米；"
            "颜色发暗，锈蚀较重。"
        ),
    },
    "medium": {
        "en": (
            "Medium pieces: plate offcuts, short sections. Pieces about 1/5-1/3 of the photo, "
            "thickness 3-6 mm still visible; brown rust."
        ),
        "zh_CN": "中等料块：板边料、短型材。料块约为照片的 1/5-1/3，仍可见 3-6 毫米厚度；棕色锈迹。",
    },
    "light": {
        "en": (
            "Light pieces: many small pieces about 1/8-1/5 of the photo, thickness barely visible "
            "(under 3 mm); lighter rust mixed with bare metal."
        ),
        "zh_CN": "轻型料：大量小料块，约为照片的 1/8-1/5，厚度几乎看不出（小于 3 毫米）；浅锈夹杂金属本色。",
    },
    "thin_sheet": {
        "en": (
            "Thin sheet: many crumpled sheet fragments smaller than 1/8 of the photo, no visible "
            "thickness, bright metal with folds and glints."
        ),
        "zh_CN": "薄板料：大量揉皱的薄板碎片，小于照片的 1/8，看不出厚度，金属发亮，有折痕和反光。",
    },
}
"""Label-book text for each scrap grade: ``{grade: {"en": str, "zh_CN": str}}``."""

# Random streams: each image gets default_rng([entropy, stream, class, index]).
_STREAM_DEFECTS = 1
_STREAM_SCRAP = 2
_STREAM_PLATES = 3
_STREAM_BATCH = 4
_STREAM_EXTRA = 5

_NON_ASCII_NAME = "划痕_001.png"


# ----------------------------------------------------------------------------------------------
# validation and random streams
# ----------------------------------------------------------------------------------------------
def _entropy(random_state, func):
    """Turn ``random_state`` (None, int, Generator or RandomState) into a non-negative int seed."""
    if random_state is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if int(random_state) < 0:
            raise InputError(
                msg("error.demo.random_state_parameter_must_2",
                    "The 'random_state' parameter of {func} must be a non-negative integer, a numpy "
                    "Generator/RandomState or None. Got {random_state}.",
                    func=func, random_state=repr(random_state))
            )
        return int(random_state)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63 - 1))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**63 - 1, dtype=np.int64))
    raise InputError(
        msg("error.demo.random_state_parameter_must",
            "The 'random_state' parameter of {func} must be a non-negative integer, a numpy "
            "Generator/RandomState or None. Got {random_state} of type {name}.",
            func=func, random_state=repr(random_state), name=type(random_state).__name__)
    )


def _rng(entropy, stream, group, index):
    return np.random.default_rng([entropy, stream, group, index])


# ----------------------------------------------------------------------------------------------
# building blocks
# ----------------------------------------------------------------------------------------------
def _unit_noise(rng, h, w, sigma_row, sigma_col):
    """Gaussian noise blurred with the given sigmas (rows, columns), rescaled to unit std."""
    noise = rng.standard_normal((h, w), dtype=np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), sigmaX=float(sigma_col), sigmaY=float(sigma_row))
    std = float(noise.std())
    return noise / std if std > 0 else noise


def _smooth_field(rng, h, w, cell):
    """Low-frequency unit-std field: coarse noise upsampled with cubic interpolation."""
    gh, gw = max(2, round(h / cell) + 2), max(2, round(w / cell) + 2)
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    field = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    field -= field.mean()
    std = float(field.std())
    return field / std if std > 0 else field


def _steel_background(rng, h, w):
    """A rolled steel surface, float32 grey levels: level, gradient, unevenness, rolling lines, grain."""
    level = rng.uniform(75.0, 185.0)
    img = np.full((h, w), level, dtype=np.float32)
    # slight illumination gradient in a random direction
    rows = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None]
    cols = np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :]
    theta = rng.uniform(0.0, 2.0 * np.pi)
    img += rng.uniform(0.0, 28.0) * (np.cos(theta) * cols + np.sin(theta) * rows)
    # large-scale unevenness
    img += rng.uniform(0.0, 6.0) * _smooth_field(rng, h, w, cell=max(h, w) / 2.7)
    # rolling texture: streaks elongated along the rows, plus a per-row profile
    img += rng.uniform(1.5, 5.0) * _unit_noise(rng, h, w, 0.6, rng.uniform(6.0, 20.0))
    profile = np.convolve(rng.standard_normal(h + 4), np.array([1, 4, 6, 4, 1]) / 16.0, "valid")
    img += (rng.uniform(0.0, 3.0) * profile / max(float(profile.std()), 1e-6)).astype(np.float32)[:, None]
    # fine grain
    grain = rng.standard_normal((h, w), dtype=np.float32)
    grain = cv2.GaussianBlur(grain, (0, 0), rng.uniform(0.4, 0.8))
    img += rng.uniform(2.0, 6.0) * grain / max(float(grain.std()), 1e-6)
    return img


def _severity(rng):
    """Defect contrast multiplier: mostly clear, a tail of faint ones (what makes it not trivial)."""
    return float(rng.choice([rng.uniform(0.35, 0.65), rng.uniform(0.65, 1.2)], p=[0.15, 0.85]))


def _random_polygon(rng, cx, cy, radius, n_vertices, elongation, angle, jitter):
    """Vertices (K, 1, 2) int32 of an irregular polygon around (cx, cy), stretched along ``angle``."""
    phi = np.sort(rng.uniform(0.0, 2.0 * np.pi, n_vertices))
    r = radius * rng.uniform(1.0 - jitter, 1.0 + jitter * 0.5, n_vertices)
    x, y = r * np.cos(phi) * elongation, r * np.sin(phi)
    ca, sa = np.cos(angle), np.sin(angle)
    xr, yr = cx + ca * x - sa * y, cy + sa * x + ca * y
    return np.round(np.stack([xr, yr], axis=1) * 16).astype(np.int32).reshape(-1, 1, 2)


# ----------------------------------------------------------------------------------------------
# defect renderers: each returns a signed float32 (h, w) intensity change; ``scale`` = pixel scale
# (1.0 for a 128 px crop).
# ----------------------------------------------------------------------------------------------
_SHIFT = 4  # cv2 drawing with sub-pixel coordinates: points are multiplied by 16 (shift=4)


def _crazing(rng, h, w, scale):
    mask = np.zeros((h, w), np.float32)
    n_cracks = int(rng.integers(10, 30) * max(h * w, 1) / (128.0 * 128.0) / scale**2) + 4
    starts = []
    base = rng.uniform(0.0, np.pi)  # loose preferred orientation of this network
    for _ in range(n_cracks):
        if starts and rng.random() < 0.45:  # branch off an earlier crack: a network, not strokes
            x0, y0 = starts[int(rng.integers(len(starts)))]
        else:
            x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        n_steps = int(rng.integers(4, 12))
        step = rng.uniform(3.0, 7.0, n_steps) * scale
        ang = base + rng.normal(0.0, 0.9) + np.cumsum(rng.normal(0.0, 0.55, n_steps))
        xs = x0 + np.concatenate([[0.0], np.cumsum(step * np.cos(ang))])
        ys = y0 + np.concatenate([[0.0], np.cumsum(step * np.sin(ang))])
        pts = np.round(np.stack([xs, ys], 1) * 16).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(mask, [pts], False, float(rng.uniform(0.6, 1.0)), 1, cv2.LINE_AA, _SHIFT)
        k = int(rng.integers(1, n_steps + 1))
        starts.append((xs[k], ys[k]))
    mask = cv2.GaussianBlur(mask, (0, 0), 0.55 * scale)
    contrast = rng.uniform(45.0, 85.0) * _severity(rng)
    rough = rng.uniform(2.0, 6.0) * _unit_noise(rng, h, w, 1.5 * scale, 1.5 * scale)
    return -contrast * mask + rough


def _inclusion(rng, h, w, scale):
    mask = np.zeros((h, w), np.float32)
    n_chains = int(rng.integers(1, 4))
    for _ in range(n_chains):
        cy, cx = rng.uniform(0.1 * h, 0.9 * h), rng.uniform(0.0, w)
        n_specks = int(rng.integers(3, 10))
        xs = cx + np.cumsum(rng.uniform(4.0, 20.0, n_specks) * scale) * rng.choice([-1.0, 1.0])
        ys = cy + rng.normal(0.0, 2.0 * scale, n_specks)
        for x, y in zip(xs, ys, strict=True):
            a = rng.uniform(3.5, 14.0) * scale
            b = min(a / 1.8, rng.uniform(1.2, 3.4) * scale)
            cv2.ellipse(
                mask,
                (int(x * 16), int(y * 16)),
                (int(a * 16), int(b * 16)),
                float(rng.normal(0.0, 6.0)),
                0.0,
                360.0,
                float(rng.uniform(0.5, 1.0)),
                -1,
                cv2.LINE_AA,
                _SHIFT,
            )
    if rng.random() < 0.2:  # an occasional longer streak (the hard cases against scratches)
        y = rng.uniform(0.15 * h, 0.85 * h)
        x0 = rng.uniform(0.0, 0.5 * w)
        x1 = x0 + rng.uniform(0.25, 0.5) * w
        pts = np.array([[x0, y], [(x0 + x1) / 2, y + rng.normal(0, 2)], [x1, y + rng.normal(0, 3)]])
        pts = np.round(pts * 16).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(mask, [pts], False, 0.7, max(1, round(2.5 * scale)), cv2.LINE_AA, _SHIFT)
    mask = cv2.GaussianBlur(mask, (0, 0), 1.0 * scale)
    contrast = rng.uniform(35.0, 75.0) * _severity(rng)
    return -contrast * mask


def _patches(rng, h, w, scale):
    field = _smooth_field(rng, h, w, cell=rng.uniform(22.0, 40.0) * scale)
    field = cv2.GaussianBlur(field, (0, 0), sigmaX=4.0 * scale, sigmaY=2.5 * scale)
    field /= max(float(field.std()), 1e-6)
    threshold = rng.uniform(0.0, 1.1)
    soft = 1.0 / (1.0 + np.exp(-(field - threshold) * rng.uniform(2.0, 5.0)))
    sign = -1.0 if rng.random() < 0.8 else 1.0
    contrast = rng.uniform(30.0, 70.0) * _severity(rng)
    mottle = rng.uniform(3.0, 8.0) * _unit_noise(rng, h, w, 2.0 * scale, 2.0 * scale)
    return (sign * contrast + mottle) * soft.astype(np.float32)


def _pitted_surface(rng, h, w, scale):
    mask = np.zeros((h, w), np.float32)
    n_pits = int(rng.integers(25, 130) * h * w / (128.0 * 128.0) / scale**2) + 5
    if rng.random() < 0.5:  # clustered in a region
        cx, cy = rng.uniform(0.2 * w, 0.8 * w), rng.uniform(0.2 * h, 0.8 * h)
        xs = cx + rng.normal(0.0, rng.uniform(0.12, 0.35) * w, n_pits)
        ys = cy + rng.normal(0.0, rng.uniform(0.12, 0.35) * h, n_pits)
    else:
        xs, ys = rng.uniform(0, w, n_pits), rng.uniform(0, h, n_pits)
    radii = rng.gamma(2.5, 0.55, n_pits) * scale + 0.6
    values = rng.uniform(0.4, 1.0, n_pits)
    for x, y, r, v in zip(xs, ys, radii, values, strict=True):
        cv2.circle(mask, (int(x * 16), int(y * 16)), int(r * 16), float(v), -1, cv2.LINE_AA, _SHIFT)
    mask = cv2.GaussianBlur(mask, (0, 0), 0.6 * scale)
    contrast = rng.uniform(30.0, 70.0) * _severity(rng)
    return -contrast * mask


def _rolled_in_scale(rng, h, w, scale):
    mask = np.zeros((h, w), np.float32)
    n_flakes = int(rng.integers(10, 40) * h * w / (128.0 * 128.0) / scale**2) + 3
    # flakes tend to sit in a few bands along the rolling direction
    band_rows = rng.uniform(0.1 * h, 0.9 * h, int(rng.integers(1, 4)))
    rows = band_rows[rng.integers(0, len(band_rows), n_flakes)] + rng.normal(0, 0.18 * h, n_flakes)
    cols = rng.uniform(0, w, n_flakes)
    for cx, cy in zip(cols, rows, strict=True):
        radius = rng.uniform(2.0, 6.5) * scale
        poly = _random_polygon(
            rng, cx, cy, radius, int(rng.integers(5, 9)), rng.uniform(1.3, 2.6), rng.normal(0, 0.2), 0.5
        )
        value = float(rng.uniform(0.5, 1.0)) * (-1.0 if rng.random() < 0.7 else 1.0)
        rim = poly + np.array([0, -int(1.3 * scale * 16)], np.int32)  # relief: rim on the upper edge
        cv2.fillPoly(mask, [rim], -0.6 * value, cv2.LINE_AA, _SHIFT)
        cv2.fillPoly(mask, [poly], value, cv2.LINE_AA, _SHIFT)
    mask = cv2.GaussianBlur(mask, (0, 0), 0.7 * scale)
    contrast = rng.uniform(28.0, 60.0) * _severity(rng)
    rough = rng.uniform(2.0, 5.0) * _unit_noise(rng, h, w, 1.0 * scale, 2.5 * scale)
    return contrast * mask + rough


def _scratches(rng, h, w, scale):
    mask = np.zeros((h, w), np.float32)
    if w >= 2.5 * h:  # a box elongated along the rows: the scratch follows it
        angle = rng.normal(0.0, 1.5)
    elif h >= 2.5 * w:
        angle = 90.0 + rng.normal(0.0, 1.5)
    elif rng.random() < 0.7:
        angle = rng.normal(0.0, 6.0)
    else:
        angle = rng.uniform(0.0, 180.0)
    n_lines = int(rng.integers(1, 6))
    diag = float(np.hypot(h, w))
    for _ in range(n_lines):
        a = np.deg2rad(angle + rng.normal(0.0, 1.5))
        cx, cy = rng.uniform(0.1 * w, 0.9 * w), rng.uniform(0.1 * h, 0.9 * h)
        length = rng.uniform(0.6, 1.3) * diag
        if rng.random() < 0.4:  # interrupted: two long pieces with a short gap
            g0 = rng.uniform(-0.2, 0.2)
            t = np.array([-0.5, g0, g0 + rng.uniform(0.03, 0.12), 0.5])
        else:
            t = np.array([-0.5, 0.5])
        value = float(rng.uniform(0.5, 1.0)) * (1.0 if rng.random() < 0.75 else -1.0)
        thickness = int(rng.choice([1, 1, 2, 2, 3]) * max(1.0, scale))
        for t0, t1 in zip(t[0::2], t[1::2], strict=True):
            p0 = (int((cx + t0 * length * np.cos(a)) * 16), int((cy + t0 * length * np.sin(a)) * 16))
            p1 = (int((cx + t1 * length * np.cos(a)) * 16), int((cy + t1 * length * np.sin(a)) * 16))
            cv2.line(mask, p0, p1, value, thickness, cv2.LINE_AA, _SHIFT)
    if rng.random() < 0.3:  # a wide faint scuff alongside
        a = np.deg2rad(angle)
        cx, cy = rng.uniform(0.2 * w, 0.8 * w), rng.uniform(0.2 * h, 0.8 * h)
        p0 = (int((cx - diag * np.cos(a)) * 16), int((cy - diag * np.sin(a)) * 16))
        p1 = (int((cx + diag * np.cos(a)) * 16), int((cy + diag * np.sin(a)) * 16))
        cv2.line(mask, p0, p1, 0.3, int(rng.integers(4, 9) * scale), cv2.LINE_AA, _SHIFT)
    mask = cv2.GaussianBlur(mask, (0, 0), 0.6 * scale)
    contrast = rng.uniform(35.0, 80.0) * _severity(rng)
    return contrast * mask


_RENDERERS = {
    "crazing": _crazing,
    "inclusion": _inclusion,
    "patches": _patches,
    "pitted_surface": _pitted_surface,
    "rolled-in_scale": _rolled_in_scale,
    "scratches": _scratches,
}


def _defect_crop(rng, kind, size):
    scale = size / 128.0
    img = _steel_background(rng, size, size)
    img += _RENDERERS[kind](rng, size, size, scale)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# public generators
# ----------------------------------------------------------------------------------------------
def make_defect_crops(n_per_class=40, size=128, random_state=0):
    """Make grey crops of the six surface-defect classes on a synthetic steel background.

    Parameters
    ----------
    n_per_class : int, default=40
        Crops per class, 1 to 10,000.
    size : int, default=128
        Side of each square crop in pixels, 32 to 1024. Defect features scale with it.
    random_state : int, numpy Generator, numpy RandomState or None, default=0
        Seed. The same int gives identical images; crop ``i`` of a class does not depend on
        ``n_per_class``.

    Returns
    -------
    images : (N, size, size) ndarray of np.uint8
        ``N = 6 * n_per_class`` crops, grouped by class in :data:`DEFECT_CLASSES` order.
    labels : list of str, length N
        The class of each crop.

    Raises
    ------
    InputError
        If a parameter is out of range or of the wrong type.

    Examples
    --------
    >>> images, labels = make_defect_crops(n_per_class=3, size=64)
    >>> images.shape, len(labels), sorted(set(labels)) == sorted(DEFECT_CLASSES)
    ((18, 64, 64), 18, True)
    """
    func = "make_defect_crops"
    n_per_class = _check_int(n_per_class, func, "n_per_class", 1, 10_000)
    size = _check_int(size, func, "size", 32, 1024)
    entropy = _entropy(random_state, func)
    images = np.empty((len(DEFECT_CLASSES) * n_per_class, size, size), np.uint8)
    labels = []
    for c, kind in enumerate(DEFECT_CLASSES):
        for i in range(n_per_class):
            images[c * n_per_class + i] = _defect_crop(_rng(entropy, _STREAM_DEFECTS, c, i), kind, size)
            labels.append(kind)
    return images, labels


def _lerp(a, b, u):
    return a + (b - a) * u


def _colour(rgb):
    """cv2 drawing colour from a float array."""
    return tuple(float(v) for v in rgb)


def _point(p):
    """cv2 drawing point (already multiplied by 16) from an int array."""
    return (int(p[0]), int(p[1]))


def _rectangle(cx, cy, length, width, angle):
    """Corners (4, 1, 2) int32 (x16 sub-pixel) of a rotated rectangle centred at (cx, cy)."""
    half = np.array([[-length, -width], [length, -width], [length, width], [-length, width]]) / 2
    ca, sa = np.cos(angle), np.sin(angle)
    xs = cx + ca * half[:, 0] - sa * half[:, 1]
    ys = cy + sa * half[:, 0] + ca * half[:, 1]
    return np.round(np.stack([xs, ys], 1) * 16).astype(np.int32).reshape(-1, 1, 2)


def _scrap_photo(rng, grade_index, size):
    """One RGB scrap-pile photo; ``grade_index`` 0 (heavy) .. 3 (thin sheet)."""
    s = size / 160.0
    # continuous grade position around the nominal grade: neighbours overlap
    t = float(np.clip(grade_index + rng.normal(0.0, 0.33), -0.45, 3.45))
    u = (t + 0.45) / 3.9  # 0 = heaviest, 1 = thinnest
    # ground: dirt, dark grey-brown
    ground = np.array([88, 80, 70], np.float32) * rng.uniform(0.75, 1.05)
    img = np.empty((size, size, 3), np.float32)
    img[:] = ground
    img += (8.0 * _smooth_field(rng, size, size, 20.0))[..., None]

    n_pieces = round(_lerp(7, 90, u**1.3) * rng.uniform(0.85, 1.15))
    piece_len = _lerp(0.62, 0.08, u**0.8) * size
    thickness = _lerp(13.0, 0.8, u) * s
    brightness = _lerp(0.55, 1.2, u)
    metal_share = _lerp(0.0, 0.65, u**1.5)  # bare metal vs rust
    rust_dark = np.array([92, 58, 40], np.float32)
    rust_light = np.array([168, 104, 64], np.float32)
    metal = np.array([172, 172, 178], np.float32)

    # painter's order: far (top) pieces first, near (bottom) pieces last
    centres_y = np.sort(rng.uniform(-0.05 * size, 1.05 * size, n_pieces))
    for cy in centres_y:
        cx = rng.uniform(-0.05 * size, 1.05 * size)
        length = piece_len * rng.uniform(0.7, 1.3)
        angle = rng.uniform(0, np.pi)
        thick_piece = u < 0.55
        if thick_piece:  # blocks and beams: rectangles
            poly = _rectangle(cx, cy, length, length * rng.uniform(0.22, 0.6), angle)
        else:  # thin crumpled sheet fragments
            n_vertices = int(rng.integers(6, 11))
            poly = _random_polygon(rng, cx, cy, length / 2, n_vertices, rng.uniform(1.0, 1.8), angle, 0.7)
        colour = _lerp(rust_dark, rust_light, rng.uniform(0.0, 1.0) * _lerp(0.5, 1.0, u))
        if rng.random() < metal_share:
            colour = _lerp(colour, metal, rng.uniform(0.5, 0.95))
        colour = colour * brightness * rng.uniform(0.85, 1.15)
        # side face (thickness): the outline extruded downwards, darker
        d = round(thickness * rng.uniform(0.7, 1.3) * 16)
        if d > 8:
            side = poly + np.array([0, d], np.int32)
            cv2.fillPoly(img, [side], _colour(colour * 0.42), cv2.LINE_AA, _SHIFT)
            width_px = max(1, int(thickness / 3))
            for p0, p1 in zip(poly[:, 0], side[:, 0], strict=True):
                cv2.line(img, _point(p0), _point(p1), _colour(colour * 0.42), width_px, cv2.LINE_AA, _SHIFT)
        cv2.fillPoly(img, [poly], _colour(colour), cv2.LINE_AA, _SHIFT)
        if thick_piece:
            if rng.random() < 0.4:  # beam web / flange line along the middle
                m0 = (poly[0, 0] + poly[3, 0]) // 2
                m1 = (poly[1, 0] + poly[2, 0]) // 2
                line_px = max(1, int(3 * s))
                cv2.line(img, _point(m0), _point(m1), _colour(colour * 0.6), line_px, cv2.LINE_AA, _SHIFT)
            cv2.polylines(img, [poly], True, _colour(colour * 0.5), max(1, int(2 * s)), cv2.LINE_AA, _SHIFT)
        else:  # a fold and a glint on a thin sheet
            k = len(poly)
            i0, i1 = rng.integers(0, k, 2)
            fold = _colour(colour * 0.7)
            cv2.line(img, _point(poly[i0, 0]), _point(poly[i1, 0]), fold, 1, cv2.LINE_AA, _SHIFT)
            glint = _colour(np.minimum(colour * 1.5 + 40.0, 255.0))
            j = int(rng.integers(0, k))
            cv2.line(img, _point(poly[j, 0]), _point(poly[(j + 1) % k, 0]), glint, 1, cv2.LINE_AA, _SHIFT)
    # rust mottling (stronger on heavy, old scrap), lighting, sensor noise
    mottle = _smooth_field(rng, size, size, 8.0 * s)
    img *= (1.0 + _lerp(0.16, 0.07, u) * mottle)[..., None] * np.array([1.0, 0.93, 0.86], np.float32)
    rows = np.linspace(-0.5, 0.5, size, dtype=np.float32)[:, None]
    theta = rng.uniform(0, 2 * np.pi)
    cols = rows.T
    img *= (1.0 + rng.uniform(0.0, 0.25) * (np.cos(theta) * cols + np.sin(theta) * rows))[..., None]
    img *= rng.uniform(0.85, 1.15)  # exposure
    img += rng.normal(0.0, 3.5, img.shape).astype(np.float32)
    img = cv2.GaussianBlur(img, (0, 0), 0.6 * s)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def make_scrap_photos(n_per_grade=30, size=160, random_state=0):
    """Make colour photos of scrap-steel piles on the ordinal grade scale :data:`SCRAP_GRADES`.

    Piece size and visible thickness decrease from ``heavy`` to ``thin_sheet``; brightness, piece
    count (edge density) and the share of bare metal increase. Each photo's appearance is drawn around
    its nominal grade, so adjacent grades overlap and far grades do not.

    Parameters
    ----------
    n_per_grade : int, default=30
        Photos per grade, 1 to 10,000.
    size : int, default=160
        Side of each square photo in pixels, 48 to 1024.
    random_state : int, numpy Generator, numpy RandomState or None, default=0
        Seed; the same int gives identical photos.

    Returns
    -------
    images : (N, size, size, 3) ndarray of np.uint8
        RGB photos, ``N = 4 * n_per_grade``, grouped by grade in :data:`SCRAP_GRADES` order.
    labels : list of str, length N
        The grade of each photo.

    Examples
    --------
    >>> images, labels = make_scrap_photos(n_per_grade=2, size=64)
    >>> images.shape, labels[0], labels[-1]
    ((8, 64, 64, 3), 'heavy', 'thin_sheet')
    """
    func = "make_scrap_photos"
    n_per_grade = _check_int(n_per_grade, func, "n_per_grade", 1, 10_000)
    size = _check_int(size, func, "size", 48, 1024)
    entropy = _entropy(random_state, func)
    images = np.empty((len(SCRAP_GRADES) * n_per_grade, size, size, 3), np.uint8)
    labels = []
    for g, grade in enumerate(SCRAP_GRADES):
        for i in range(n_per_grade):
            images[g * n_per_grade + i] = _scrap_photo(_rng(entropy, _STREAM_SCRAP, g, i), g, size)
            labels.append(grade)
    return images, labels


def _box_shape(rng, kind):
    """(height, width) of a pasted defect of ``kind`` on a plate, in pixels."""
    if kind == "scratches":
        return int(rng.integers(16, 34)), int(rng.integers(140, 260))
    if kind == "inclusion":
        return int(rng.integers(28, 50)), int(rng.integers(80, 150))
    side = int(rng.integers(64, 130))
    return int(side * rng.uniform(0.75, 1.0)), side


def _feather(h, w, frac=0.18):
    """(h, w) float32 window, 1 inside and fading to ~0 at the edges, so pasted defects blend in."""

    def ramp(n):
        k = max(2, round(n * frac))
        r = np.ones(n, np.float32)
        edge = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, k, dtype=np.float32))
        r[:k] = np.minimum(r[:k], edge)
        r[n - k :] = np.minimum(r[n - k :], edge[::-1])
        return r

    return ramp(h)[:, None] * ramp(w)[None, :]


def _paste_defects(rng, img, kinds, height, width, y_off=0, x_off=0):
    """Paste one defect of each of ``kinds`` into the ``height`` x ``width`` region of the float image ``img``
    at ``(y_off, x_off)``, apart from each other and 8 px from its edges; returns their boxes in ``img``."""
    margin = 8
    taken = np.zeros((height, width), bool)
    boxes = []
    for kind in kinds:
        bh, bw = _box_shape(rng, kind)
        bh, bw = min(bh, height - 2 * margin), min(bw, width - 2 * margin)
        for _ in range(60):  # rejection sampling for a free spot
            y0 = int(rng.integers(margin, height - margin - bh + 1))
            x0 = int(rng.integers(margin, width - margin - bw + 1))
            if not taken[max(0, y0 - 6) : y0 + bh + 6, max(0, x0 - 6) : x0 + bw + 6].any():
                break
        else:
            continue
        taken[y0 : y0 + bh, x0 : x0 + bw] = True
        # a marked defect on a plate is a clear one: no faint tail, slightly stronger than crops
        delta = _RENDERERS[kind](rng, bh, bw, 1.0) * rng.uniform(1.2, 1.6)
        y0, x0 = y0 + y_off, x0 + x_off
        img[y0 : y0 + bh, x0 : x0 + bw] += delta * _feather(bh, bw)
        boxes.append((kind, x0, y0, x0 + bw, y0 + bh))
    return boxes


def _plate(rng, height, width):
    img = _steel_background(rng, height, width)
    n_defects = int(rng.integers(2, 5))
    kinds = [DEFECT_CLASSES[k] for k in rng.permutation(len(DEFECT_CLASSES))[:n_defects]]
    boxes = _paste_defects(rng, img, kinds, height, width)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8), boxes


def make_plate_images(n_plates=4, height=400, width=600, random_state=0):
    """Make full grey plate images with a few defects pasted in at known boxes.

    Parameters
    ----------
    n_plates : int, default=4
        Number of plates, 1 to 1,000.
    height, width : int, default=400, 600
        Plate image size in pixels, 160 to 4096 each.
    random_state : int, numpy Generator, numpy RandomState or None, default=0
        Seed; the same int gives identical plates and boxes.

    Returns
    -------
    plates : list of (image, boxes)
        ``image`` is a (height, width) ndarray of np.uint8. ``boxes`` is a list of
        ``(label, x0, y0, x1, y1)`` with int pixel coordinates, columns ``x``, rows ``y``: the
        defect is ``image[y0:y1, x0:x1]`` (x1, y1 exclusive). Every box keeps at least 8 px from the
        image border, boxes do not overlap, and the defects of one plate are of different classes:
        2-4 per plate at the default size, fewer (at least 1) on plates too small to fit them.

    Examples
    --------
    >>> plates = make_plate_images(n_plates=1)
    >>> image, boxes = plates[0]
    >>> image.shape, 2 <= len(boxes) <= 4
    ((400, 600), True)
    """
    func = "make_plate_images"
    n_plates = _check_int(n_plates, func, "n_plates", 1, 1000)
    height = _check_int(height, func, "height", 160, 4096)
    width = _check_int(width, func, "width", 160, 4096)
    entropy = _entropy(random_state, func)
    return [_plate(_rng(entropy, _STREAM_PLATES, 0, i), height, width) for i in range(n_plates)]


# ----------------------------------------------------------------------------------------------
# writing the demo tree
# ----------------------------------------------------------------------------------------------
def _write_image(path, image, ext):
    """Encode with OpenCV and write bytes from Python, so non-ASCII paths work on every OS."""
    params = [cv2.IMWRITE_JPEG_QUALITY, 92] if ext == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(ext, image, params)
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 PNG/JPEG
        raise InputError(msg("error.demo.could_not_encode_demo",
                "Could not encode the demo image {path} as {ext}.",
                path=path, ext=ext))
    path.write_bytes(buf.tobytes())


def _voc_xml(filename, height, width, boxes):
    """Pascal VOC annotation text for one grey image.

    ``boxes`` are 0-based pixel edges (x1, y1 exclusive); VOC wants 1-based inclusive pixel numbers
    (the VOC devkit, LabelImg, NEU-DET), so ``xmin = x0 + 1`` and ``xmax = x1``.
    """
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "images"
    ET.SubElement(root, "filename").text = filename
    ET.SubElement(ET.SubElement(root, "source"), "database").text = "defectlab demo"
    size = ET.SubElement(root, "size")
    ET.SubElement(size, "width").text = str(width)
    ET.SubElement(size, "height").text = str(height)
    ET.SubElement(size, "depth").text = "1"
    ET.SubElement(root, "segmented").text = "0"
    for label, x0, y0, x1, y1 in boxes:
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = label
        ET.SubElement(obj, "pose").text = "Unspecified"
        ET.SubElement(obj, "truncated").text = "0"
        ET.SubElement(obj, "difficult").text = "0"
        bnd = ET.SubElement(obj, "bndbox")
        for tag, value in (("xmin", x0 + 1), ("ymin", y0 + 1), ("xmax", x1), ("ymax", y1)):
            ET.SubElement(bnd, tag).text = str(int(value))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def write_demo_files(root, random_state=0, n_per_class=40, n_per_grade=30, n_plates=4, n_batch=24):
    """Write the demo image set to ``root`` in layouts the importer understands.

    Layout::

        root/defects/<class>/<class>_<i>.png      class-folder tree, 128x128 grey crops
        root/defects/scratches/划痕_001.png         one extra scratch with a non-ASCII name
        root/scrap/<grade>/<grade>_<i>.jpg        class-folder tree, 160x160 RGB photos
        root/plates/images/plate_<i>.png          400x600 grey plates
        root/plates/annotations/plate_<i>.xml     Pascal VOC boxes, 1-based inclusive as in VOC:
                                                  xmin = x0 + 1, xmax = x1 of make_plate_images
        root/batch/batch_<i>.png                  unlabeled new crops of all classes, shuffled

    ``<i>`` counts from 1 with three digits (``crazing_001.png``). Existing files with these names are
    overwritten; other files under ``root`` are left alone.

    Parameters
    ----------
    root : str or Path
        Folder to write into; created if missing. Must not be an existing file.
    random_state : int, numpy Generator, numpy RandomState or None, default=0
        Seed; the same int writes byte-identical files.
    n_per_class, n_per_grade, n_plates, n_batch : int
        How many defect crops per class (default 40), scrap photos per grade (30), plates (4) and
        batch images (24, 1 to 10,000).

    Returns
    -------
    paths : dict
        ``root``, ``defects_dir``, ``scrap_dir``, ``plates_dir``, ``batch_dir`` (Path);
        ``defects``, ``scrap``, ``plate_images``, ``plate_annotations``, ``batch`` (lists of Path);
        ``non_ascii`` (Path of the non-ASCII file); ``batch_truth`` (dict file name -> true class,
        for checking predictions; it is not written to disk, the batch is unlabeled).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     paths = write_demo_files(tmp, n_per_class=2, n_per_grade=1, n_plates=1, n_batch=3)
    ...     len(paths["defects"]), len(paths["scrap"]), len(paths["batch"])
    (13, 4, 3)
    """
    func = "write_demo_files"
    n_per_class = _check_int(n_per_class, func, "n_per_class", 1, 10_000)
    n_per_grade = _check_int(n_per_grade, func, "n_per_grade", 1, 10_000)
    n_plates = _check_int(n_plates, func, "n_plates", 1, 1000)
    n_batch = _check_int(n_batch, func, "n_batch", 1, 10_000)
    if not isinstance(root, (str, Path)):
        raise InputError(
            msg("error.demo.root_parameter_must_folder",
                "The 'root' parameter of {func} must be a folder path (str or Path). Got {name}.",
                func=func, name=type(root).__name__)
        )
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise InputError(
            msg("error.demo.root_parameter_must_folder_2",
                "The 'root' parameter of {func} must be a folder, but {root} is an existing file. "
                "Pass a new or existing folder.",
                func=func, root=root)
        )
    entropy = _entropy(random_state, func)
    out = {
        "root": root,
        "defects_dir": root / "defects",
        "scrap_dir": root / "scrap",
        "plates_dir": root / "plates",
        "batch_dir": root / "batch",
        "defects": [],
        "scrap": [],
        "plate_images": [],
        "plate_annotations": [],
        "batch": [],
        "batch_truth": {},
    }

    images, labels = make_defect_crops(n_per_class=n_per_class, size=128, random_state=entropy)
    for kind in DEFECT_CLASSES:
        (out["defects_dir"] / kind).mkdir(parents=True, exist_ok=True)
    for j, (image, label) in enumerate(zip(images, labels, strict=True)):
        path = out["defects_dir"] / label / f"{label}_{j % n_per_class + 1:03d}.png"
        _write_image(path, image, ".png")
        out["defects"].append(path)
    extra = _defect_crop(_rng(entropy, _STREAM_EXTRA, 0, 0), "scratches", 128)
    out["non_ascii"] = out["defects_dir"] / "scratches" / _NON_ASCII_NAME
    _write_image(out["non_ascii"], extra, ".png")
    out["defects"].append(out["non_ascii"])

    photos, grades = make_scrap_photos(n_per_grade=n_per_grade, size=160, random_state=entropy)
    for grade in SCRAP_GRADES:
        (out["scrap_dir"] / grade).mkdir(parents=True, exist_ok=True)
    for j, (image, grade) in enumerate(zip(photos, grades, strict=True)):
        path = out["scrap_dir"] / grade / f"{grade}_{j % n_per_grade + 1:03d}.jpg"
        _write_image(path, image, ".jpg")
        out["scrap"].append(path)

    (out["plates_dir"] / "images").mkdir(parents=True, exist_ok=True)
    (out["plates_dir"] / "annotations").mkdir(parents=True, exist_ok=True)
    for i, (image, boxes) in enumerate(make_plate_images(n_plates=n_plates, random_state=entropy)):
        name = f"plate_{i + 1:03d}"
        img_path = out["plates_dir"] / "images" / f"{name}.png"
        xml_path = out["plates_dir"] / "annotations" / f"{name}.xml"
        _write_image(img_path, image, ".png")
        xml = _voc_xml(img_path.name, image.shape[0], image.shape[1], boxes)
        xml_path.write_text(xml, encoding="utf-8")
        out["plate_images"].append(img_path)
        out["plate_annotations"].append(xml_path)

    out["batch_dir"].mkdir(parents=True, exist_ok=True)
    order = np.random.default_rng([entropy, _STREAM_BATCH, 99, 0]).permutation(n_batch)
    for j in range(n_batch):
        kind_index = int(order[j]) % len(DEFECT_CLASSES)
        kind = DEFECT_CLASSES[kind_index]
        image = _defect_crop(_rng(entropy, _STREAM_BATCH, kind_index, j), kind, 128)
        path = out["batch_dir"] / f"batch_{j + 1:03d}.png"
        _write_image(path, image, ".png")
        out["batch"].append(path)
        out["batch_truth"][path.name] = kind
    return out


# --------------------------------------------------------------------------------------------------
# the demo workspace
# --------------------------------------------------------------------------------------------------

DEMO_DEFECT_PROJECT = "Steel defects"
DEMO_SCRAP_PROJECT = "Scrap grades"
DEMO_FILES_DIR = "demo-files"
_UNLABELED_EVERY = 3  # every third demo image arrives unlabeled: something to label on first run


def _label_book(descriptions):
    return {c: {"description": d} for c, d in descriptions.items()}


def _split_unlabeled(class_dir, dest):
    """Move every ``_UNLABELED_EVERY``-th file of each class folder to a flat folder of neutral names."""
    dest.mkdir(parents=True, exist_ok=True)
    k = 0
    for sub in sorted(p for p in class_dir.iterdir() if p.is_dir()):
        for i, f in enumerate(sorted(sub.iterdir())):
            if i % _UNLABELED_EVERY == _UNLABELED_EVERY - 1:
                k += 1
                f.replace(dest / f"new_{k:04d}{f.suffix}")


def build_demo_workspace(ws, random_state=0, train=True, progress=None, user="local"):
    """Fill a workspace with the two demo projects, unless they are already there.

    - ``Steel defects``: the six NEU kinds as 128x128 crops (two thirds labeled, one third waiting to be
      labeled), plus four full plate images whose VOC boxes became linked crops; a label book with the
      rules and example images.
    - ``Scrap grades``: an *ordinal* project (heavy > medium > light > thin sheet), photos in colour.
    - ``<workspace>/demo-files/batch``: unlabeled new images for the Predict page.
    - With ``train`` (and the learning stack available), one run per project, so the Runs, Review and
      Predict pages have something to show on first start.

    Parameters
    ----------
    ws : Workspace
    random_state : int, default 0
    train : bool, default True
    progress : callable, optional
        ``progress(done, total, message)``.

    Returns
    -------
    list of str
        The demo project names.
    """
    from .ingest import import_source
    from .store import create_project, list_projects

    names = [DEMO_DEFECT_PROJECT, DEMO_SCRAP_PROJECT]
    existing = {p.name for p in list_projects(ws, include_deleted=True)}
    if set(names) <= existing:
        return names
    root = ws.root / DEMO_FILES_DIR
    steps = 6 if train else 4
    step = 0

    def _tick(message):
        nonlocal step
        step += 1
        if progress is not None:
            progress(step, steps, message)

    write_demo_files(root, random_state=random_state)
    _split_unlabeled(root / "defects", root / "defects_new")
    _split_unlabeled(root / "scrap", root / "scrap_new")
    _tick("demo images written")

    if DEMO_DEFECT_PROJECT not in existing:
        create_project(ws, DEMO_DEFECT_PROJECT, DEFECT_CLASSES,
                       descriptions=_label_book(DEFECT_DESCRIPTIONS), user=user)
        import_source(ws, DEMO_DEFECT_PROJECT, root / "defects", layout="folders", user=user)
        import_source(ws, DEMO_DEFECT_PROJECT, root / "defects_new", layout="flat", user=user)
        import_source(ws, DEMO_DEFECT_PROJECT, root / "plates", layout="voc", user=user)
        _add_examples(ws, DEMO_DEFECT_PROJECT, user)
    _tick(DEMO_DEFECT_PROJECT)
    if DEMO_SCRAP_PROJECT not in existing:
        create_project(ws, DEMO_SCRAP_PROJECT, SCRAP_GRADES, ordinal=True,
                       descriptions=_label_book(SCRAP_DESCRIPTIONS), user=user)
        import_source(ws, DEMO_SCRAP_PROJECT, root / "scrap", layout="folders", user=user)
        import_source(ws, DEMO_SCRAP_PROJECT, root / "scrap_new", layout="flat", user=user)
        _add_examples(ws, DEMO_SCRAP_PROJECT, user)
    _tick(DEMO_SCRAP_PROJECT)

    if train:
        try:
            from .learn import train_project
        except ImportError:  # the learning stack is optional for a bare demo
            train_project = None
        for name in names:
            if train_project is not None:
                from .quality import compute_run_queues

                compute_run_queues(ws, train_project(ws, name, user=user)["run_id"])  # as the UI job does
            _tick(f"trained {name}")
    _tick("ready")
    return names


def _add_examples(ws, name, user, per_class=2):
    """Pick the first labeled items of each class as label-book examples."""
    from .store import get_project, items_frame, update_project

    project = get_project(ws, name)
    df = items_frame(ws, project.id)
    book = {}
    for cls in project.classes:
        ids = [int(i) for i in df.loc[df["label"] == cls, "id"].head(per_class)]
        book[cls] = {"examples": ids}
    update_project(ws, project, descriptions=book, user=user)
