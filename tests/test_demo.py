"""Tests for defectlab.demo: determinism, shapes, ordinal structure, learnable-not-trivial, files."""

import doctest
import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from defusedxml import ElementTree as ET
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import defectlab.demo as demo
from defectlab.demo import (
    DEFECT_CLASSES,
    DEFECT_DESCRIPTIONS,
    SCRAP_DESCRIPTIONS,
    SCRAP_GRADES,
    make_defect_crops,
    make_plate_images,
    make_scrap_photos,
    write_demo_files,
)
from defectlab.errors import InputError


def _decode(path):
    """Decode like the importer will: bytes from Python (non-ASCII safe), then cv2.imdecode."""
    return cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_UNCHANGED)


def _simple_defect_features(images):
    """A few histogram and gradient statistics: deliberately weak, to check 'not trivial'."""
    rows = []
    for image in images:
        x = image.astype(np.float32)
        gx = cv2.Sobel(x, cv2.CV_32F, 1, 0)
        gy = cv2.Sobel(x, cv2.CV_32F, 0, 1)
        mag = np.hypot(gx, gy)
        detail = x - cv2.GaussianBlur(x, (0, 0), 3)
        s = detail.std()
        rows.append(
            [
                x.std(),
                np.percentile(detail, 1),
                np.percentile(detail, 99),
                s,
                (detail < -3 * s).mean(),
                (detail > 3 * s).mean(),
                mag.mean(),
                mag.std(),
                np.abs(gx).mean() / (np.abs(gy).mean() + 1e-6),
                np.percentile(mag, 99) / (mag.mean() + 1e-6),
            ]
        )
    return np.array(rows)


def _scrap_features(images):
    """Mean brightness, contrast, edge strength (mean Sobel magnitude), saturation of RGB photos."""
    rows = []
    for image in images:
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
        hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
        edges = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)).mean()
        rows.append([grey.mean(), grey.std(), edges, hsv[..., 1].mean(), *image.reshape(-1, 3).mean(0)])
    return np.array(rows)


# ------------------------------------------------------------------------------------------------
# constants and descriptions
# ------------------------------------------------------------------------------------------------
def test_class_and_grade_constants():
    assert DEFECT_CLASSES == (
        "crazing",
        "inclusion",
        "patches",
        "pitted_surface",
        "rolled-in_scale",
        "scratches",
    )
    assert SCRAP_GRADES == ("heavy", "medium", "light", "thin_sheet")


@pytest.mark.parametrize(
    ("descriptions", "names"), [(DEFECT_DESCRIPTIONS, DEFECT_CLASSES), (SCRAP_DESCRIPTIONS, SCRAP_GRADES)]
)
def test_descriptions_cover_every_class_in_both_languages(descriptions, names):
    assert set(descriptions) == set(names)
    for name in names:
        assert set(descriptions[name]) == {"en", "zh_CN"}
        assert len(descriptions[name]["en"]) > 40
        assert len(descriptions[name]["zh_CN"]) > 20
        assert any("\u4e00" <= ch <= "\u9fff" for ch in descriptions[name]["zh_CN"])


def test_docstring_examples_run():
    result = doctest.testmod(demo, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5
    assert result.failed == 0


# ------------------------------------------------------------------------------------------------
# defect crops
# ------------------------------------------------------------------------------------------------
def test_defect_crops_shape_dtype_and_balanced_labels():
    images, labels = make_defect_crops(n_per_class=3, size=64, random_state=0)
    assert images.shape == (18, 64, 64)
    assert images.dtype == np.uint8
    assert labels == [c for c in DEFECT_CLASSES for _ in range(3)]
    # not blank, not saturated: a plausible grey surface
    means = images.reshape(18, -1).mean(1)
    assert means.min() > 30 and means.max() < 225
    assert (images.reshape(18, -1).std(1) > 2).all()


def test_defect_crops_are_deterministic_and_seed_dependent():
    a, la = make_defect_crops(n_per_class=2, size=48, random_state=7)
    b, lb = make_defect_crops(n_per_class=2, size=48, random_state=7)
    c, _ = make_defect_crops(n_per_class=2, size=48, random_state=8)
    np.testing.assert_array_equal(a, b)
    assert la == lb
    assert not np.array_equal(a, c)
    # every crop differs from its counterpart under another seed
    assert all(not np.array_equal(a[i], c[i]) for i in range(len(a)))


def test_defect_crop_i_does_not_depend_on_n_per_class():
    small, _ = make_defect_crops(n_per_class=2, size=48, random_state=3)
    large, _ = make_defect_crops(n_per_class=4, size=48, random_state=3)
    for c in range(len(DEFECT_CLASSES)):
        np.testing.assert_array_equal(small[2 * c : 2 * c + 2], large[4 * c : 4 * c + 2])


def test_random_state_accepts_generator_randomstate_and_none():
    g = np.random.default_rng(0)
    first, _ = make_defect_crops(n_per_class=1, size=32, random_state=g)
    second, _ = make_defect_crops(n_per_class=1, size=32, random_state=g)
    assert not np.array_equal(first, second)  # the generator advanced
    again, _ = make_defect_crops(n_per_class=1, size=32, random_state=np.random.default_rng(0))
    np.testing.assert_array_equal(first, again)
    rs_a, _ = make_defect_crops(n_per_class=1, size=32, random_state=np.random.RandomState(5))
    rs_b, _ = make_defect_crops(n_per_class=1, size=32, random_state=np.random.RandomState(5))
    np.testing.assert_array_equal(rs_a, rs_b)
    unseeded, _ = make_defect_crops(n_per_class=1, size=32, random_state=None)
    assert unseeded.shape == (6, 32, 32)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_per_class": 0}, r"'n_per_class' parameter of make_defect_crops .* Got 0"),
        ({"n_per_class": -3}, r"'n_per_class' .* Got -3"),
        ({"n_per_class": 2.5}, r"'n_per_class' .* must be an integer .* float"),
        ({"n_per_class": "4"}, r"'n_per_class' .* str"),
        ({"n_per_class": True}, r"'n_per_class' .* bool"),
        ({"size": 16}, r"'size' parameter of make_defect_crops .*\[32, 1024\]. Got 16"),
        ({"size": 5000}, r"'size' .* Got 5000"),
        ({"random_state": -1}, r"'random_state' .* non-negative integer"),
        ({"random_state": "seed"}, r"'random_state' .* Got 'seed' of type str"),
        ({"random_state": 1.5}, r"'random_state' .* float"),
    ],
)
def test_make_defect_crops_rejects_bad_parameters(kwargs, match):
    with pytest.raises(InputError, match=match):
        make_defect_crops(**kwargs)


def test_defect_classes_are_learnable_but_not_trivial():
    images, labels = make_defect_crops(n_per_class=30, random_state=0)
    features = _simple_defect_features(images)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    accuracy = cross_val_score(model, features, labels, cv=cv).mean()
    assert 0.6 <= accuracy <= 0.995, accuracy
    # chance is 1/6: a useless generator (noise) would sit near 0.17
    assert accuracy > 3 / len(DEFECT_CLASSES)


def test_background_level_does_not_give_the_class_away():
    images, labels = make_defect_crops(n_per_class=30, random_state=1)
    means = images.reshape(len(images), -1).mean(1)
    per_class = np.array([means[np.array(labels) == c].mean() for c in DEFECT_CLASSES])
    # the grey level varies per image far more than between class averages
    assert per_class.max() - per_class.min() < 2.0 * means.std()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    accuracy = cross_val_score(model, means[:, None], labels, cv=cv).mean()
    assert accuracy < 0.5


# ------------------------------------------------------------------------------------------------
# scrap photos (ordinal)
# ------------------------------------------------------------------------------------------------
def test_scrap_photos_shape_dtype_labels_and_determinism():
    images, labels = make_scrap_photos(n_per_grade=2, size=64, random_state=0)
    assert images.shape == (8, 64, 64, 3)
    assert images.dtype == np.uint8
    assert labels == [g for g in SCRAP_GRADES for _ in range(2)]
    again, _ = make_scrap_photos(n_per_grade=2, size=64, random_state=0)
    other, _ = make_scrap_photos(n_per_grade=2, size=64, random_state=1)
    np.testing.assert_array_equal(images, again)
    assert not np.array_equal(images, other)
    # colour, not grey stored three times
    assert np.abs(images[..., 0].astype(int) - images[..., 2]).mean() > 5


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_per_grade": 0}, r"'n_per_grade' parameter of make_scrap_photos"),
        ({"size": 20}, r"'size' parameter of make_scrap_photos .*\[48, 1024\]"),
        ({"random_state": object()}, r"'random_state' parameter of make_scrap_photos"),
    ],
)
def test_make_scrap_photos_rejects_bad_parameters(kwargs, match):
    with pytest.raises(InputError, match=match):
        make_scrap_photos(**kwargs)


@pytest.fixture(scope="module")
def scrap_set():
    images, labels = make_scrap_photos(n_per_grade=40, size=128, random_state=0)
    grade = np.array([SCRAP_GRADES.index(g) for g in labels])
    return _scrap_features(images), grade


def test_scrap_brightness_and_edge_strength_are_monotone_in_grade(scrap_set):
    features, grade = scrap_set
    brightness = [features[grade == g, 0].mean() for g in range(4)]
    edges = [features[grade == g, 2].mean() for g in range(4)]
    # clear steps, not ties: at least 5 grey levels / 5 gradient units between neighbouring grades
    assert np.all(np.diff(brightness) > 5), brightness
    assert np.all(np.diff(edges) > 5), edges


def test_scrap_grades_overlap_only_with_neighbours(scrap_set):
    features, grade = scrap_set
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    cv = StratifiedKFold(n_splits=4, shuffle=True, random_state=0)
    predicted = cross_val_predict(model, features, grade, cv=cv)
    accuracy = (predicted == grade).mean()
    off = np.abs(predicted - grade)
    assert 0.6 <= accuracy <= 0.99, accuracy  # adjacent grades overlap: not perfectly separable
    assert off.max() <= 2
    assert (off == 1).sum() >= 0.9 * (off > 0).sum()  # mistakes land one grade off


# ------------------------------------------------------------------------------------------------
# plates
# ------------------------------------------------------------------------------------------------
def test_plate_images_boxes_inside_disjoint_and_visible():
    plates = make_plate_images(n_plates=3, height=300, width=500, random_state=2)
    assert len(plates) == 3
    seen = set()
    for image, boxes in plates:
        assert image.shape == (300, 500) and image.dtype == np.uint8
        assert 2 <= len(boxes) <= 4
        taken = np.zeros(image.shape, bool)
        detail = np.abs(image.astype(np.float32) - cv2.GaussianBlur(image.astype(np.float32), (0, 0), 25))
        for label, x0, y0, x1, y1 in boxes:
            assert label in DEFECT_CLASSES
            seen.add(label)
            assert all(isinstance(v, int) for v in (x0, y0, x1, y1))
            assert 8 <= x0 < x1 <= 500 - 8 and 8 <= y0 < y1 <= 300 - 8
            assert not taken[y0:y1, x0:x1].any()
            taken[y0:y1, x0:x1] = True
        # the marked regions hold the defects: more local contrast than the bare plate
        inside = np.mean([detail[y0:y1, x0:x1].mean() for _, x0, y0, x1, y1 in boxes])
        assert inside > 1.25 * detail[~taken].mean()
    assert len(seen) >= 4
    a = make_plate_images(n_plates=1, height=300, width=500, random_state=2)
    np.testing.assert_array_equal(a[0][0], plates[0][0])
    assert a[0][1] == plates[0][1]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_plates": 0}, r"'n_plates' parameter of make_plate_images"),
        ({"height": 100}, r"'height' .*\[160, 4096\]. Got 100"),
        ({"width": 10_000}, r"'width' .* Got 10000"),
    ],
)
def test_make_plate_images_rejects_bad_parameters(kwargs, match):
    with pytest.raises(InputError, match=match):
        make_plate_images(**kwargs)


# ------------------------------------------------------------------------------------------------
# files on disk
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    return write_demo_files(root, random_state=0)


def _digest_tree(root):
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(root).rglob("*"))
        if p.is_file()
    }


def test_write_demo_files_default_counts_and_layout(demo_tree):
    root = demo_tree["root"]
    assert len(demo_tree["defects"]) == 6 * 40 + 1
    assert len(demo_tree["scrap"]) == 4 * 30
    assert len(demo_tree["plate_images"]) == len(demo_tree["plate_annotations"]) == 4
    assert len(demo_tree["batch"]) == 24
    for kind in DEFECT_CLASSES:
        files = sorted((root / "defects" / kind).glob(f"{kind}_*.png"))
        assert len(files) == 40
        assert files[0].name == f"{kind}_001.png"
    for grade in SCRAP_GRADES:
        assert len(list((root / "scrap" / grade).glob(f"{grade}_*.jpg"))) == 30
    written = {p for p in root.rglob("*") if p.is_file()}
    listed = set(
        demo_tree["defects"]
        + demo_tree["scrap"]
        + demo_tree["plate_images"]
        + demo_tree["plate_annotations"]
        + demo_tree["batch"]
    )
    assert written == listed


def test_written_images_decode_with_expected_shapes(demo_tree):
    crop = _decode(demo_tree["defects"][0])
    assert crop.shape == (128, 128) and crop.dtype == np.uint8
    photo = _decode(demo_tree["scrap"][0])
    assert photo.shape == (160, 160, 3)
    assert _decode(demo_tree["plate_images"][0]).shape == (400, 600)
    assert _decode(demo_tree["batch"][0]).shape == (128, 128)
    # the PNG holds exactly the generated crop (lossless)
    images, _ = make_defect_crops(n_per_class=1, random_state=0)
    np.testing.assert_array_equal(crop, images[0])


def test_non_ascii_file_is_written_and_readable(demo_tree):
    path = demo_tree["non_ascii"]
    assert path.name == "划痕_001.png"
    assert path.parent.name == "scratches"
    assert path in demo_tree["defects"]
    assert _decode(path).shape == (128, 128)


def test_voc_annotations_parse_and_boxes_lie_inside_the_image(demo_tree):
    for img_path, xml_path in zip(demo_tree["plate_images"], demo_tree["plate_annotations"], strict=True):
        root = ET.parse(xml_path).getroot()
        assert root.tag == "annotation"
        assert root.findtext("filename") == img_path.name
        width, height = int(root.findtext("size/width")), int(root.findtext("size/height"))
        image = _decode(img_path)
        assert image.shape == (height, width)
        objects = root.findall("object")
        assert 2 <= len(objects) <= 4
        for obj in objects:
            assert obj.findtext("name") in DEFECT_CLASSES
            box = [int(obj.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")]
            assert 0 < box[0] < box[2] < width and 0 < box[1] < box[3] < height


def test_voc_boxes_are_one_based_inclusive_versions_of_make_plate_images(demo_tree):
    plates = make_plate_images(random_state=0)
    for (_, expected), xml_path in zip(plates, demo_tree["plate_annotations"], strict=True):
        root = ET.parse(xml_path).getroot()
        boxes = []
        for o in root.findall("object"):
            xmin, ymin, xmax, ymax = (int(o.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax"))
            boxes.append((o.findtext("name"), xmin - 1, ymin - 1, xmax, ymax))  # VOC -> pixel edges
        assert boxes == expected


def test_small_plates_still_get_a_box():
    for image, boxes in make_plate_images(n_plates=6, height=160, width=160, random_state=0):
        assert image.shape == (160, 160)
        assert 1 <= len(boxes) <= 4
        for _, x0, y0, x1, y1 in boxes:
            assert 8 <= x0 < x1 <= 152 and 8 <= y0 < y1 <= 152


def test_batch_is_unlabeled_balanced_and_new(demo_tree):
    names = [p.name for p in demo_tree["batch"]]
    assert names[0] == "batch_001.png"
    assert set(demo_tree["batch_truth"]) == set(names)
    assert sorted(demo_tree["batch_truth"].values()) == sorted(list(DEFECT_CLASSES) * 4)
    assert not any(kind in name for name in names for kind in DEFECT_CLASSES)  # no label in the name
    training = {hashlib.sha256(p.read_bytes()).hexdigest() for p in demo_tree["defects"]}
    assert not training & {hashlib.sha256(p.read_bytes()).hexdigest() for p in demo_tree["batch"]}


def test_write_demo_files_is_byte_deterministic(tmp_path):
    kwargs = {"n_per_class": 2, "n_per_grade": 1, "n_plates": 1, "n_batch": 3}
    a = write_demo_files(tmp_path / "a", random_state=4, **kwargs)
    write_demo_files(tmp_path / "b", random_state=4, **kwargs)
    write_demo_files(tmp_path / "c", random_state=5, **kwargs)
    digest_a = _digest_tree(tmp_path / "a")
    assert digest_a == _digest_tree(tmp_path / "b")
    digest_c = _digest_tree(tmp_path / "c")
    assert digest_a.keys() == digest_c.keys()
    assert digest_a != digest_c
    assert len(a["defects"]) == 13 and len(a["batch"]) == 3


def test_write_demo_files_overwrites_its_own_files_and_keeps_others(tmp_path):
    kwargs = {"n_per_class": 1, "n_per_grade": 1, "n_plates": 1, "n_batch": 1}
    write_demo_files(tmp_path, random_state=0, **kwargs)
    keep = tmp_path / "defects" / "notes.txt"
    keep.write_text("mine", encoding="utf-8")
    before = _digest_tree(tmp_path)
    write_demo_files(str(tmp_path), random_state=0, **kwargs)
    assert _digest_tree(tmp_path) == before
    assert keep.read_text(encoding="utf-8") == "mine"


def test_write_demo_files_rejects_a_file_as_root(tmp_path):
    target = tmp_path / "not_a_dir"
    target.write_text("x", encoding="utf-8")
    expected = r"'root' parameter of write_demo_files must be a folder.*existing file"
    with pytest.raises(InputError, match=expected):
        write_demo_files(target)
    with pytest.raises(InputError, match=r"'root' .*\(str or Path\)\. Got int"):
        write_demo_files(42)
    with pytest.raises(InputError, match=r"'n_batch' parameter of write_demo_files"):
        write_demo_files(tmp_path / "new", n_batch=0)
