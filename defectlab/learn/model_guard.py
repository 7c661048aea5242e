"""Parse a LightGBM text model in a way that cannot take the server down.

LightGBM's C++ loader trusts its input: a model file whose tree arrays point past their ends (a child
index, a feature index, a ``tree_sizes`` entry) can crash the process that loads or predicts with it,
and a checksum recomputed by whoever edited the file does not help. Two guards run before
``lightgbm.Booster(model_str=...)`` is ever called in the server's process:

1. :func:`validate_lightgbm_text` checks, in Python, every structural invariant the loader and the
   predictor rely on: header fields, ``tree_sizes`` against the real block lengths, array lengths per
   tree, feature indices within ``max_feature_idx``, child indices forming one tree whose leaves are
   each reached once, categorical boundaries, and that the model has the feature and class counts the
   run recorded.
2. :func:`check_in_child` loads the text once in a separate Python process and predicts two rows with
   it. A crash (signal, abort, non-zero exit) or a time-out there refuses the model with an
   :class:`~defectlab.errors.ArtifactError`; the verdict is cached by the text's sha256 (in memory, and
   in the workspace database through :class:`VerdictStore` when a workspace is known), so each model
   pays the child start (a few seconds: Python and LightGBM load) once; models written by training are
   recorded as good and never pay it.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys

from defectlab.errors import ArtifactError
from defectlab.messages import msg

__all__ = ["VerdictStore", "check_in_child", "guarded_booster", "remember_good", "validate_lightgbm_text"]

_MAX_LEAVES = 1 << 17
_MAX_TREES = 1_000_000
_CHILD_TIMEOUT = 120.0

#: What the child process runs: the model text on stdin, the number of features as argv[1].
CHILD_CODE = (
    "import sys, numpy as np, lightgbm as lgb\n"
    "b = lgb.Booster(model_str=sys.stdin.buffer.read().decode('utf-8'))\n"
    "b.predict(np.zeros((2, int(sys.argv[1]))))\n"
    "print('ok')\n"
)

_VERDICTS: dict[str, tuple[bool, str]] = {}


class _Bad(Exception):
    """Internal: the reason a model text is refused."""


def _ints(fields, key, n=None):
    raw = fields.get(key)
    if raw is None:
        raise _Bad(f"'{key}' is missing")
    try:
        vals = [int(v) for v in raw.split()] if raw.strip() else []
    except ValueError:
        raise _Bad(f"'{key}' holds a value that is not an integer") from None
    if n is not None and len(vals) != n:
        raise _Bad(f"'{key}' has {len(vals)} values, expected {n}")
    return vals


def _floats(fields, key, n):
    raw = fields.get(key)
    if raw is None:
        raise _Bad(f"'{key}' is missing")
    try:
        vals = [float(v) for v in raw.split()]
    except ValueError:
        raise _Bad(f"'{key}' holds a value that is not a number") from None
    if len(vals) != n:
        raise _Bad(f"'{key}' has {len(vals)} values, expected {n}")
    return vals


def _key_values(block):
    fields = {}
    for line in block.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value
    return fields


def _one_int(fields, key, lo, hi):
    (value,) = _ints(fields, key, 1)
    if not lo <= value <= hi:
        raise _Bad(f"'{key}' is {value}, outside {lo}..{hi}")
    return value


def _check_children(left, right, n_leaves):
    """Every internal node but the root, and every leaf, is the child of exactly one node."""
    seen_nodes, seen_leaves = [0] * (n_leaves - 1), [0] * n_leaves
    for child in left + right:
        if 0 < child <= n_leaves - 2:
            seen_nodes[child] += 1
        elif -n_leaves <= child <= -1:
            seen_leaves[~child] += 1
        else:
            raise _Bad(f"a child index {child} is outside the tree of {n_leaves} leaves")
    if any(c != 1 for c in seen_nodes[1:]) or any(c != 1 for c in seen_leaves):
        raise _Bad("the child indices do not form one tree")


def _check_categorical(fields, n_cat, decision, threshold):
    bounds = _ints(fields, "cat_boundaries", n_cat + 1)
    cats = _ints(fields, "cat_threshold")
    if bounds[0] != 0 or any(b > a for a, b in zip(bounds[1:], bounds[:-1], strict=True)) \
            or bounds[-1] != len(cats):
        raise _Bad("'cat_boundaries' do not match 'cat_threshold'")
    for d, t in zip(decision, threshold, strict=True):
        if d & 1 and not (t == int(t) and 0 <= int(t) < n_cat):
            raise _Bad("a categorical split points outside 'cat_boundaries'")


def _check_tree(block, max_feature):
    fields = _key_values(block)
    n_leaves = _one_int(fields, "num_leaves", 1, _MAX_LEAVES)
    n_cat = _one_int(fields, "num_cat", 0, _MAX_LEAVES)
    if fields.get("is_linear", "0").strip() not in ("0", ""):
        raise _Bad("linear trees are not produced by defectlab")
    _floats(fields, "leaf_value", n_leaves)
    if n_leaves == 1:
        return
    n = n_leaves - 1
    features = _ints(fields, "split_feature", n)
    if any(not 0 <= f <= max_feature for f in features):
        raise _Bad(f"a split uses a feature outside 0..{max_feature}")
    threshold = _floats(fields, "threshold", n)
    decision = _ints(fields, "decision_type", n)
    if any(not 0 <= d <= 255 for d in decision):
        raise _Bad("'decision_type' is out of range")
    _check_children(_ints(fields, "left_child", n), _ints(fields, "right_child", n), n_leaves)
    if n_cat:
        _check_categorical(fields, n_cat, decision, threshold)
    elif any(d & 1 for d in decision):
        raise _Bad("a categorical split in a tree without categories")


def _split_trees(text):
    """``(header, [tree block, ...])``; each block starts with ``Tree=`` as LightGBM sizes it."""
    end = text.find("end of trees")
    if end < 0:
        raise _Bad("'end of trees' is missing")
    first = text.find("Tree=")
    if first < 0 or first > end:
        raise _Bad("the model has no trees")
    body = text[first:end]
    starts = [m.start() for m in re.finditer(r"(?m)^Tree=", body)]
    blocks = [body[a:b] for a, b in zip(starts, [*starts[1:], len(body)], strict=True)]
    return text[:first], blocks


def _check_header(header, blocks, n_features, n_classes):
    fields = _key_values(header)
    if not header.startswith("tree\n") or fields.get("version", "").strip() not in ("v2", "v3", "v4"):
        raise _Bad("not a LightGBM text model (version v2-v4)")
    num_class = _one_int(fields, "num_class", 1, 100_000)
    per_iter = _one_int(fields, "num_tree_per_iteration", 1, 100_000)
    max_feature = _one_int(fields, "max_feature_idx", 0, 10_000_000)
    if len(blocks) > _MAX_TREES or len(blocks) % per_iter:
        raise _Bad(f"{len(blocks)} trees is not a whole number of iterations of {per_iter}")
    if n_features is not None and max_feature + 1 != n_features:
        raise _Bad(f"it reads {max_feature + 1} features, the run recorded {n_features}")
    if n_classes is not None and num_class != (1 if n_classes == 2 else n_classes):
        raise _Bad(f"it has num_class={num_class}, the run recorded {n_classes} classes")
    names = fields.get("feature_names")
    if names is not None and len(names.split()) != max_feature + 1:
        raise _Bad("'feature_names' does not match 'max_feature_idx'")
    return max_feature


def _check_tree_sizes(header, blocks):
    """LightGBM cuts the trees out of the text by ``tree_sizes``: each must be its block's length."""
    fields = _key_values(header)
    if "tree_sizes" in fields:
        sizes = _ints(fields, "tree_sizes", len(blocks))
        if sizes != [len(b.encode("utf-8")) for b in blocks]:
            raise _Bad("'tree_sizes' do not match the trees")


def validate_lightgbm_text(text: str, n_features: int | None = None, n_classes: int | None = None) -> None:
    """Refuse a LightGBM text model that could crash LightGBM's loader or predictor.

    Parameters
    ----------
    text : str
        The content of a ``model.txt`` (``Booster.model_to_string``).
    n_features, n_classes : int, optional
        What the run recorded; the model must read that many features and give that many classes.

    Raises
    ------
    ArtifactError
        The reason, e.g. ``a split uses a feature outside 0..1023``.
    """
    try:
        header, blocks = _split_trees(text)
        max_feature = _check_header(header, blocks, n_features, n_classes)
        for k, block in enumerate(blocks):
            try:
                _check_tree(block, max_feature)
            except _Bad as exc:
                raise _Bad(f"tree {k}: {exc}") from None
        _check_tree_sizes(header, blocks)
    except _Bad as exc:
        raise ArtifactError(msg("error.model_guard.lightgbm_model_malformed_was",
                "The LightGBM model is malformed and was not loaded ({exc}). Retrain.",
                exc=exc)) from None


class VerdictStore:
    """Verdicts of :func:`check_in_child` kept in the workspace database (table ``model_checks``)."""

    def __init__(self, ws):
        self.ws = ws

    def get(self, sha: str):
        """``(ok, detail)`` recorded for ``sha``, or None."""
        with self.ws.read() as conn:
            row = conn.execute("SELECT ok, detail FROM model_checks WHERE sha256 = ?", (sha,)).fetchone()
        return None if row is None else (bool(row[0]), str(row[1]))

    def put(self, sha: str, ok: bool, detail: str) -> None:
        """Record a verdict (the first one wins)."""
        from defectlab.store import utcnow

        with self.ws.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO model_checks (sha256, ok, detail, checked_at) VALUES (?, ?, ?, ?)",
                         (sha, int(ok), detail, utcnow()))


def _run_child(data: bytes, n_features: int):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONSTARTUP",)}
    env["OMP_NUM_THREADS"] = "1"
    try:
        proc = subprocess.run([sys.executable, "-c", CHILD_CODE, str(int(n_features))], input=data,
                              capture_output=True, timeout=_CHILD_TIMEOUT, env=env, check=False)
    except subprocess.TimeoutExpired:
        return False, f"loading it did not finish within {_CHILD_TIMEOUT:.0f} s"
    except OSError as exc:
        return False, f"the check could not start ({exc.strerror or exc})"
    if proc.returncode == 0 and proc.stdout.strip().endswith(b"ok"):
        return True, ""
    if proc.returncode < 0:
        return False, f"loading it crashed a test process (signal {-proc.returncode})"
    last = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
    return False, f"LightGBM refused it ({last[0][:200]})"


def remember_good(data: bytes) -> None:
    """Record (in this process) that a model text written by training here needs no child check."""
    _VERDICTS[hashlib.sha256(data).hexdigest()] = (True, "written by this process")


def check_in_child(data: bytes, n_features: int, store: VerdictStore | None = None) -> None:
    """Load and run a LightGBM text model once in a child process; refuse it if that fails.

    Parameters
    ----------
    data : bytes
        The model text, already validated by :func:`validate_lightgbm_text`.
    n_features : int
        Columns of the two zero rows predicted in the child.
    store : VerdictStore, optional
        Persistent verdict cache; an in-memory cache is always used.

    Raises
    ------
    ArtifactError
        The child crashed, timed out or LightGBM refused the text.
    """
    sha = hashlib.sha256(data).hexdigest()
    verdict = _VERDICTS.get(sha)
    if verdict is None and store is not None:
        verdict = store.get(sha)
    if verdict is None:
        verdict = _run_child(data, n_features)
        if store is not None:
            store.put(sha, *verdict)
    _VERDICTS[sha] = verdict
    ok, detail = verdict
    if not ok:
        raise ArtifactError(msg("error.model_guard.lightgbm_model_was_not",
                "The LightGBM model was not loaded: {detail}. Retrain.",
                detail=detail))


def guarded_booster(data: bytes, n_features: int | None, n_classes: int | None,
                    store: VerdictStore | None = None):
    """A ``lightgbm.Booster`` from model text that passed both guards (see the module docstring)."""
    import lightgbm as lgb

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ArtifactError(msg("error.model_guard.lightgbm_model_not_utf",
                "The LightGBM model is not UTF-8 text and was not loaded. Retrain.")) from None
    validate_lightgbm_text(text, n_features, n_classes)
    header_features = int(_key_values(text[:text.find("Tree=")]).get("max_feature_idx", "0")) + 1
    check_in_child(data, header_features if n_features is None else n_features, store)
    try:
        return lgb.Booster(model_str=text)
    except Exception as exc:
        raise ArtifactError(msg("error.model_guard.lightgbm_model_cannot_parsed",
                "The LightGBM model cannot be parsed ({str_exc_200}).",
                str_exc_200=str(exc)[:200])) from None
