"""defectlab.quality.confusion: the items behind each confusion-matrix cell, most confident first."""

import numpy as np
import pytest

from defectlab.errors import InputError
from defectlab.quality import confusion_counts, confusion_items

CLASSES = ["crazing", "patches", "scratches"]
LABELS = ["crazing", "crazing", "crazing", "patches", "patches", "scratches", "scratches"]
PROBS = np.array([
    [0.8, 0.1, 0.1],    # 0 crazing -> crazing
    [0.2, 0.7, 0.1],    # 1 crazing -> patches (0.7)
    [0.1, 0.9, 0.0],    # 2 crazing -> patches (0.9)
    [0.1, 0.3, 0.6],    # 3 patches -> scratches (0.6)
    [0.0, 1.0, 0.0],    # 4 patches -> patches
    [0.5, 0.0, 0.5],    # 5 scratches -> crazing (tie: first class wins, as argmax)
    [0.0, 0.1, 0.9],    # 6 scratches -> scratches
])


def test_counts_exact():
    cm = confusion_counts(LABELS, PROBS, CLASSES)
    assert cm.values.tolist() == [[1, 2, 0], [0, 1, 1], [1, 0, 1]]
    assert cm.index.tolist() == CLASSES and cm.columns.tolist() == CLASSES
    assert cm.index.name == "given" and cm.columns.name == "predicted"


def test_items_of_every_off_diagonal_cell():
    df = confusion_items(LABELS, PROBS, CLASSES)
    assert df["index"].tolist() == [2, 1, 3, 5]
    assert df["predicted"].tolist() == ["patches", "patches", "scratches", "crazing"]
    assert df["confidence"].tolist() == pytest.approx([0.9, 0.7, 0.6, 0.5])
    assert df["p_given"].tolist() == pytest.approx([0.1, 0.2, 0.3, 0.5])
    assert not df["correct"].any()


def test_one_cell_and_sizes_match_counts():
    df = confusion_items(LABELS, PROBS, CLASSES, given="crazing", predicted="patches")
    assert df["index"].tolist() == [2, 1]
    cm = confusion_counts(LABELS, PROBS, CLASSES)
    full = confusion_items(LABELS, PROBS, CLASSES, include_correct=True)
    assert len(full) == 7 and full["correct"].sum() == np.trace(cm.values)
    for g in CLASSES:
        for p in CLASSES:
            cell = confusion_items(LABELS, PROBS, CLASSES, given=g, predicted=p, include_correct=True)
            assert len(cell) == cm.loc[g, p]


def test_diagonal_cell_needs_include_correct():
    assert confusion_items(LABELS, PROBS, CLASSES, given="patches", predicted="patches").empty
    df = confusion_items(LABELS, PROBS, CLASSES, given="patches", predicted="patches",
                         include_correct=True)
    assert df["index"].tolist() == [4] and df["correct"].tolist() == [True]


@pytest.mark.parametrize("kwargs, match", [
    (dict(given="rust"), "'given'.*holds 'rust'"),
    (dict(predicted="rust"), "'predicted'.*holds 'rust'"),
    (dict(labels=LABELS[:3]), "has 3 labels"),
    (dict(classes=CLASSES[:2]), "has 2 names but pred_probs has 3 columns"),
])
def test_invalid(kwargs, match):
    args = dict(labels=LABELS, pred_probs=PROBS, classes=CLASSES)
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        confusion_items(**args)
