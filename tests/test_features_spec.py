"""FeatureSpec: JSON round trip, stable hash, presets, validation."""

import json

import pytest

from defectlab.errors import InputError
from defectlab.features import (
    FAMILIES,
    FAMILY_TITLES,
    FEATURES_VERSION,
    PRESETS,
    FeatureSpec,
    GLCMParams,
    LBPParams,
    feature_names,
    get_spec,
    spec_hash,
)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_json_round_trip_and_hash(name):
    spec = PRESETS[name]
    again = FeatureSpec.from_json(spec.to_json())
    assert again == spec
    assert again.hash == spec.hash == spec_hash(name)
    assert len(spec.hash) == 64 and int(spec.hash, 16) >= 0
    # plain JSON types only
    assert json.loads(spec.to_json())["families"]


def test_presets_are_named_distinct_and_compact():
    assert {"fast", "default", "rich"} <= set(PRESETS)
    hashes = {s.hash for s in PRESETS.values()}
    assert len(hashes) == len(PRESETS)
    for name, spec in PRESETS.items():
        assert spec.name == name
        n = len(feature_names(spec))
        assert 100 <= n <= 500, (name, n)  # hundreds of columns, not thousands
    assert get_spec() is PRESETS["default"]


def test_default_spec_hash_is_pinned():
    # Changing the default spec (or FEATURES_VERSION) changes cached features and trained models:
    # update this value deliberately, together with FEATURES_VERSION when outputs change.
    assert PRESETS["default"].hash == DEFAULT_HASH


def test_hash_ignores_name_but_not_parameters_or_version():
    base = FeatureSpec()
    assert base.replace(name="other").hash == base.hash
    assert base.replace(size=(64, 64)).hash != base.hash
    assert base.replace(glcm=GLCMParams(levels=16)).hash != base.hash
    assert base.replace(glcm=None).hash != base.hash
    assert base.replace(version=FEATURES_VERSION + 1).hash != base.hash


def test_default_spec_keeps_every_family_and_multiscale():
    spec = PRESETS["default"]
    assert spec.families == FAMILIES
    assert max(s for _, _, s in spec.lbp.settings) >= 4  # pyramid levels for large structures


def test_family_titles_cover_every_name():
    for spec in PRESETS.values():
        fams = {n.split(".")[0] for n in feature_names(spec)}
        assert fams <= set(FAMILY_TITLES)
    assert set(FAMILY_TITLES) == set(FAMILIES)


def test_get_spec_accepts_names_dicts_json_and_specs():
    spec = PRESETS["fast"]
    assert get_spec("fast") is spec
    assert get_spec(spec) is spec
    assert get_spec(spec.to_dict()) == spec
    assert get_spec(spec.to_json()) == spec


@pytest.mark.parametrize(
    "bad, match",
    [
        ("nope", "unknown feature preset"),
        (3, "must be None, a preset name"),
        ('{"size": [64, 64], "colour": 1}', "unknown keys"),
        ('{"families": {"lbp": {"radius": 1}}}', "unknown parameters"),
        ('{"families": {"sift": {}}}', "must map family names"),
        ("{not json", "not valid JSON"),
    ],
)
def test_get_spec_errors(bad, match):
    with pytest.raises(InputError, match=match):
        get_spec(bad)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: FeatureSpec(size=(8, 8)), "'size'"),
        (lambda: FeatureSpec(size=(64,)), "'size'"),
        (lambda: FeatureSpec(resize="pad"), "'resize'"),
        (lambda: FeatureSpec(depth="clip"), "'depth'"),
        (lambda: LBPParams(settings=((8, 1, 3),)), "lbp.settings"),
        (lambda: LBPParams(settings=((8, 1, 1), (8, 1, 1))), "distinct"),
        (lambda: GLCMParams(levels=10), "glcm.levels"),
        (lambda: GLCMParams(props=("contrast", "entropy")), "glcm.props"),
        (lambda: FeatureSpec(intensity=None, lbp=None, glcm=None, hog=None, gabor=None, fft=None,
                             color=None, residual=None), "at least one family"),
        (lambda: FeatureSpec(size=(32, 32), lbp=LBPParams(settings=((8, 1, 8),))),
         "fewer than 8 pixels"),
        (lambda: FeatureSpec(lbp="yes"), "must be a LBPParams"),
    ],
)
def test_invalid_specs(make, match):
    with pytest.raises(InputError, match=match):
        make()


def test_spec_is_frozen_and_hashable():
    spec = FeatureSpec()
    with pytest.raises(AttributeError):
        spec.size = (10, 10)
    assert {spec: 1}[FeatureSpec()] == 1


DEFAULT_HASH = "013a583935c42a1a19671051db2dfd5b8393e826d7178c1dab1079fb767e4674"
