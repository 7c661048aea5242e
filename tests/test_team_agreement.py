import math

import numpy as np
import pytest

from defectlab.errors import InputError, PermissionDenied
from defectlab.store import UNUSABLE, annotate, create_project, retract
from defectlab.team.agreement import (
    agreement_summary,
    annotator_votes,
    cohen_kappa,
    consensus,
    disagreement_queue,
    fleiss_kappa,
    krippendorff_alpha,
    pairwise_agreement,
)

NAN = float("nan")

# Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories.
FLEISS_TABLE = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 observers, 12 units, missing data.
KRIPP = [[1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
         [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
         [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
         [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN]]


# -- Cohen -----------------------------------------------------------------------------------------
def test_cohen_kappa_hand_checked():
    # p_o = 3/4, p_e = 1/2 * 1/4 + 1/2 * 3/4 = 1/2  ->  kappa = 1/2
    assert cohen_kappa(["a", "a", "b", "b"], ["a", "b", "b", "b"]) == pytest.approx(0.5)
    assert cohen_kappa(["a", "b"], ["a", "b"]) == pytest.approx(1.0)


def test_cohen_kappa_ordinal_follows_the_grade_order():
    grades = ["light", "medium", "heavy"]  # not alphabetical
    a = ["light", "medium", "heavy", "heavy"]
    b = ["light", "heavy", "heavy", "medium"]
    # quadratic weights: observed sum (i-j)^2 = 2/4, expected 1.375  ->  1 - 0.5 / 1.375 = 7/11
    assert cohen_kappa(a, b, classes=grades, ordinal=True) == pytest.approx(7 / 11)
    # the alphabetical order (heavy, light, medium) would give another value: the order matters
    assert cohen_kappa(a, b, classes=sorted(grades), ordinal=True) != pytest.approx(7 / 11)


@pytest.mark.parametrize("a, b, kwargs, match", [
    (["a"], ["a", "b"], {}, "one label per item"),
    (["a"], ["b"], dict(ordinal=True), "needs classes"),
    (["a", "z"], ["a", "b"], dict(classes=["a", "b"]), r"\['z'\] are not among"),
])
def test_cohen_kappa_validates(a, b, kwargs, match):
    with pytest.raises(InputError, match=match):
        cohen_kappa(a, b, **kwargs)


def test_cohen_kappa_undefined_is_nan():
    assert math.isnan(cohen_kappa([], []))
    assert math.isnan(cohen_kappa(["a", "a"], ["a", "a"]))


# -- Fleiss ----------------------------------------------------------------------------------------
def test_fleiss_kappa_wikipedia_example():
    fk = fleiss_kappa(FLEISS_TABLE)
    assert round(fk.kappa, 3) == 0.210
    assert round(fk.observed, 3) == 0.378 and round(fk.expected, 3) == 0.213
    assert fk.per_category.shape == (5,) and fk.per_category.dtype == np.float64


def test_fleiss_per_category_hand_checked_and_consistent():
    # 3 items, 2 raters: [2,0], [0,2], [1,1]; p = (1/2, 1/2), P_i = 1, 1, 0 -> P = 2/3, Pe = 1/2
    fk = fleiss_kappa([[2, 0], [0, 2], [1, 1]])
    assert fk.kappa == pytest.approx(1 / 3)
    # per category: 1 - sum n_ij (n - n_ij) / (N n (n-1) p q) = 1 - 1 / (3*2*1*1/4) = 1/3
    np.testing.assert_allclose(fk.per_category, [1 / 3, 1 / 3])
    # identity: overall kappa = sum_j p_j q_j kappa_j / sum_j p_j q_j (constant raters per item)
    c = np.asarray(FLEISS_TABLE, dtype=float)
    p = c.sum(0) / c.sum()
    fk = fleiss_kappa(FLEISS_TABLE)
    assert (p * (1 - p) * fk.per_category).sum() / (p * (1 - p)).sum() == pytest.approx(fk.kappa)


def test_fleiss_perfect_and_single_category():
    assert fleiss_kappa([[3, 0], [0, 3]]).kappa == pytest.approx(1.0)
    fk = fleiss_kappa([[2, 0], [2, 0]])
    assert math.isnan(fk.kappa) and math.isnan(fk.per_category[0])


@pytest.mark.parametrize("counts, match", [
    ([[1, 0], [2, 0]], "at least two raters"),
    ([[2, -1, 1]], "non-negative whole"),
    ([[1.5, 0.5]], "non-negative whole"),
    ([2, 0], "shape"),
    ([[2]], "shape"),
])
def test_fleiss_validates(counts, match):
    with pytest.raises(InputError, match=match):
        fleiss_kappa(counts)


# -- Krippendorff ----------------------------------------------------------------------------------
@pytest.mark.parametrize("level, expected", [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_krippendorff_published_values(level, expected):
    assert round(krippendorff_alpha(KRIPP, level=level), 3) == expected


def test_krippendorff_wikipedia_example_and_text_grades():
    wiki = [[NAN, NAN, NAN, NAN, NAN, 3, 4, 1, 2, 1, 1, 3, 3, NAN, 3],
            [1, NAN, 2, 1, 3, 3, 4, 3, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
            [NAN, NAN, 2, 1, 3, 4, 4, NAN, 2, 1, 1, 3, 3, NAN, 4]]
    assert round(krippendorff_alpha(wiki), 3) == 0.691
    names = ["very low", "low", "mid", "high", "very high"]
    as_text = [[None if isinstance(v, float) else names[v - 1] for v in row] for row in KRIPP]
    assert round(krippendorff_alpha(as_text, "ordinal", categories=names), 3) == 0.815
    assert round(krippendorff_alpha(as_text, "nominal"), 3) == 0.743


def test_krippendorff_undefined_and_invalid():
    assert math.isnan(krippendorff_alpha([[1, 1], [1, 1]]))  # a single value throughout
    assert math.isnan(krippendorff_alpha([[1, None], [None, 2]]))  # nothing pairable
    with pytest.raises(InputError, match="Unknown level"):
        krippendorff_alpha(KRIPP, level="ratio")
    with pytest.raises(InputError, match="needs categories"):
        krippendorff_alpha([["a", "b"], ["a", "a"]], level="ordinal")
    with pytest.raises(InputError, match="not among categories"):
        krippendorff_alpha([["a", "b"], ["a", "c"]], categories=["a", "b"])
    with pytest.raises(InputError, match="equal length"):
        krippendorff_alpha([[1, 2], [1]])


# -- workspace -------------------------------------------------------------------------------------
@pytest.fixture
def team(ws, make_team):
    return make_team(ws, annotators=("u1", "u2", "u3"), reviewers=())


GRADES = ["light", "medium", "heavy"]
# item -> (u1, u2, u3) votes; None = did not label
VOTES = [("light", "light", "light"),
         ("light", "heavy", "medium"),   # spread 2
         ("medium", "medium", "heavy"),  # spread 1, majority 2/3
         ("heavy", "heavy", None),
         ("light", "medium", None),      # spread 1, a tie
         ("medium", None, None)]         # one vote: not overlapped


@pytest.fixture
def graded(team, add_items):
    p = create_project(team, "scrap", GRADES, ordinal=True, user="lead")
    items = add_items(team, p, len(VOTES))
    with team.transaction() as conn:
        for item, votes in zip(items, VOTES, strict=True):
            for user, label in zip(("u1", "u2", "u3"), votes, strict=True):
                if label is not None:
                    annotate(team, item, label, user=user, conn=conn)
    return p, items


def test_votes_and_pairs_match_the_pure_functions(graded, team):
    p, _items = graded
    votes = annotator_votes(team, p, by="lead")
    assert len(votes) == 14 and set(votes.columns) >= {"item_id", "user", "label", "annotation_id"}
    pairs = pairwise_agreement(team, p, by="lead").set_index(["user_a", "user_b"])
    u1 = [v[0] for v in VOTES[:5]]
    u2 = [v[1] for v in VOTES[:5]]
    assert pairs.loc[("u1", "u2"), "n_items"] == 5
    assert pairs.loc[("u1", "u2"), "percent_agreement"] == pytest.approx(3 / 5)
    assert pairs.loc[("u1", "u2"), "kappa"] == pytest.approx(cohen_kappa(u1, u2, GRADES, ordinal=True))
    assert pairs.loc[("u2", "u3"), "n_items"] == 3
    assert len(pairwise_agreement(team, p, min_items=4, by="lead")) == 1
    with pytest.raises(PermissionDenied):
        pairwise_agreement(team, p, by="u1")


def test_summary(graded, team):
    p, _ = graded
    s = agreement_summary(team, p, by="lead")
    assert (s["n_items"], s["n_annotators"], s["alpha_level"]) == (5, 3, "ordinal")
    assert s["unanimous"] == pytest.approx(2 / 5)
    # the same numbers from the pure functions
    counts = [[3, 0, 0], [1, 1, 1], [0, 2, 1], [0, 0, 2], [1, 1, 0]]
    assert s["fleiss_kappa"] == pytest.approx(fleiss_kappa(counts).kappa)
    assert s["fleiss_per_class"] == pytest.approx(dict(zip(GRADES, fleiss_kappa(counts).per_category, strict=True)))
    table = [[v[r] for v in VOTES[:5]] for r in range(3)]
    assert s["alpha"] == pytest.approx(krippendorff_alpha(table, "ordinal", categories=GRADES))
    assert len(s["pairs"]) == 3


def test_consensus_is_the_store_majority(graded, team):
    p, items = graded
    df = consensus(team, p, by="lead").set_index("item_id")
    assert list(df.index) == items[:5]
    assert df.loc[items[2], "label"] == "medium" and not df.loc[items[2], "agreed"]
    assert df.loc[items[0], "label"] == "light" and df.loc[items[0], "agreed"]
    assert df.loc[items[4], "label"] == "medium"  # a tie goes to the most recent vote (u2's)
    assert df.loc[items[1], "votes"] == {"u1": "light", "u2": "heavy", "u3": "medium"}
    annotate(team, items[2], "heavy", user="lead", source="review")
    df = consensus(team, p, by="lead").set_index("item_id")
    assert df.loc[items[2], "label"] == "medium" and df.loc[items[2], "current"] == "heavy"


def test_disagreement_queue_worst_first(graded, team):
    p, items = graded
    queue = disagreement_queue(team, p, by="lead")
    assert [d["item_id"] for d in queue] == [items[1], items[4], items[2]]
    worst = queue[0]
    assert (worst["spread"], worst["n_distinct"], worst["n_votes"], worst["majority"]) == (2, 3, 3, None)
    assert worst["labels"] == {"u1": "light", "u2": "heavy", "u3": "medium"}
    assert (queue[1]["majority_share"], queue[2]["majority_share"]) == (0.5, pytest.approx(2 / 3))
    assert queue[2]["majority"] == "medium"
    # a lead's review decision settles the item: it leaves the queue unless asked for
    annotate(team, items[1], "medium", user="lead", source="review")
    assert [d["item_id"] for d in disagreement_queue(team, p, by="lead")] == [items[4], items[2]]
    settled = disagreement_queue(team, p, by="lead", include_resolved=True)[0]
    assert (settled["item_id"], settled["resolved"], settled["current"]) == (items[1], True, "medium")


def test_undone_and_unusable_votes(graded, team):
    p, items = graded
    last = annotate(team, items[0], "heavy", user="u3")  # u3 changes their mind...
    # light, light, heavy: spread 2 like item 1, but a 2/3 majority, so right after it
    assert [d["item_id"] for d in disagreement_queue(team, p, by="lead")][:2] == [items[1], items[0]]
    retract(team, last, "u3")  # ...and undoes it: back to unanimous
    assert items[0] not in {d["item_id"] for d in disagreement_queue(team, p, by="lead")}
    annotate(team, items[3], UNUSABLE, user="u3")
    d = next(d for d in disagreement_queue(team, p, by="lead") if d["item_id"] == items[3])
    assert (d["n_distinct"], d["spread"]) == (2, 0)  # unusable is no grade: no grade distance
    s = agreement_summary(team, p, by="lead")
    assert UNUSABLE in s["fleiss_per_class"] and not math.isnan(s["alpha"])


def test_nominal_project_spread(team, add_items):
    p = create_project(team, "defects", ["crack", "scratch", "pit"], user="lead")
    a, b = add_items(team, p, 2)
    for user, label in (("u1", "crack"), ("u2", "scratch"), ("u3", "pit")):
        annotate(team, a, label, user=user)
    for user, label in (("u1", "crack"), ("u2", "crack"), ("u3", "pit")):
        annotate(team, b, label, user=user)
    queue = disagreement_queue(team, p, by="lead")
    assert [(d["item_id"], d["spread"]) for d in queue] == [(a, 2), (b, 1)]
    assert agreement_summary(team, p, by="lead")["alpha_level"] == "nominal"
