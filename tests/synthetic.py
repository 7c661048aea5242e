"""Small synthetic images shared by tests (textures a classifier tells apart easily)."""

import numpy as np


def texture_image(kind, rng, size=48):
    """One of three easily told apart textures with noise: ``dark``, ``stripes``, else bright spots."""
    base = rng.normal(0, 12, (size, size))
    if kind == "dark":
        img = 60 + base
    elif kind == "stripes":
        img = 128 + 60 * np.sin(np.arange(size) / 1.5)[None, :] + base
    else:
        img = 128 + base
        for r, c in rng.integers(4, size - 4, (12, 2)):
            img[r - 2:r + 2, c - 2:c + 2] = 250
    return np.clip(img, 0, 255).astype(np.uint8)


def write_voc_plates(src, n, height=200, width=240, random_state=5):
    """``n`` synthetic plates of the demo's renderer as a VOC folder: ``src/images/p<k>.png`` and
    ``src/annotations/p<k>.xml`` (their boxes). Returns ``src``."""
    import cv2

    from defectlab.demo import _voc_xml, make_plate_images

    (src / "images").mkdir(parents=True, exist_ok=True)
    (src / "annotations").mkdir(parents=True, exist_ok=True)
    for k, (image, boxes) in enumerate(make_plate_images(n, height, width, random_state=random_state)):
        cv2.imwrite(str(src / "images" / f"p{k}.png"), image)
        (src / "annotations" / f"p{k}.xml").write_text(_voc_xml(f"p{k}.png", height, width, boxes))
    return src
