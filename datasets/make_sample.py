"""Write the tiny committed sample ``datasets/sample/`` (run from the repository: ``make sample``).

Six synthetic steel-surface defect classes x 6 grey 64x64 crops = 36 PNGs (about 150 KB), drawn by
:func:`defectlab.demo.make_defect_crops` with a fixed seed, in the class-folder layout::

    datasets/sample/<class>/<class>_<i>.png

The same seed gives the same pixels on the same OpenCV (the files were written with OpenCV 5.1;
``tests/test_sample_dataset.py`` checks they still match). OpenCV 4.x draws anti-aliased lines a little
differently: up to ~3 % of a crop's pixels differ there, which the test allows.

Usage: ``python datasets/make_sample.py [OUT_DIR]`` (default: ``datasets/sample`` next to this file).
"""

import sys
from pathlib import Path

import cv2
import numpy as np

from defectlab.demo import make_defect_crops

SEED = 2026
N_PER_CLASS = 6
SIZE = 64


def sample_images():
    """The sample's ``(images, labels)``: (36, 64, 64) uint8 and the class of each, class by class."""
    return make_defect_crops(n_per_class=N_PER_CLASS, size=SIZE, random_state=SEED)


def write_sample(out):
    """Write the sample into ``out`` (created); return the list of files written, in order."""
    out = Path(out)
    images, labels = sample_images()
    written, count = [], {}
    for image, label in zip(images, labels, strict=True):
        count[label] = count.get(label, 0) + 1
        path = out / label / f"{label}_{count[label]:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        ok, data = cv2.imencode(".png", np.ascontiguousarray(image), [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if not ok:
            raise RuntimeError(f"could not encode {path}")
        path.write_bytes(data.tobytes())
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "sample"
    files = write_sample(target)
    size = sum(f.stat().st_size for f in files)
    print(f"wrote {len(files)} crops to {target} ({size / 1024:.0f} KB)")
