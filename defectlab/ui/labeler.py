"""The in-browser labeling surface of the Label, Review and Predict pages.

A Streamlit ``st.components.v2`` component (HTML-free; ``components/labeler/labeler.js`` and
``labeler.css``, shipped as package data, no npm step, no network) holds a window of the queue in the
browser: the next :data:`WINDOW` items with their images (data URLs, sent once per browser tab and
decoded ahead of time). A key shows the next item at once; the decision goes to the server
asynchronously as the component's ``sync`` state, an *outbox* of operations with ids made in the
browser. Each run of the fragment here

1. stores every operation of the outbox it has not answered yet with
   :func:`defectlab.labelops.apply_op` (which writes through the store's own functions with
   ``expected_version`` and records the operation id in the same transaction: exactly once);
2. sends back the answers (saved / conflict with who changed the item / refused), the window of
   items from the browser's position on, and images the browser does not have yet.

The browser keeps unanswered operations in ``localStorage`` and sends them again until answered
(also to a restarted server), and shows how many are not saved yet. See docs/ARCHITECTURE.md.

The old rerun-per-key path stays: a toggle on each page (``label_surface``), the environment
variable ``DEFECTLAB_LABEL_SURFACE=classic`` or the URL parameter ``?surface=classic``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

import streamlit as st

from defectlab.errors import DefectlabError, InputError
from defectlab.labelops import MAX_OPS, apply_op, label_states, parse_op
from defectlab.messages import Message, msg
from defectlab.store import UNUSABLE, get_item
from defectlab.store.visibility import item_views
from defectlab.ui import common
from defectlab.ui.common import t

__all__ = [
    "PAGE",
    "SURFACES",
    "WINDOW",
    "label_surface",
    "predict_surface",
    "review_surface",
    "surface_toggle",
    "use_browser",
]

ASSETS = Path(__file__).resolve().parent / "components" / "labeler"
SURFACES = ("browser", "classic")
WINDOW = 20  # items ahead of the current one, with their images, held by the browser
PAGE = 24  # tiles per grid page (the browser holds this page and the next)
_MAX_IMAGE_SIDE = 1600
_MAX_ORIGINAL_BYTES = 2_000_000
_MIME = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg"}


# -- which surface ---------------------------------------------------------------------------------
def use_browser():
    """Whether this session labels in the browser surface (the default) or on the classic pages."""
    ss = st.session_state
    wanted = st.query_params.get("surface")
    if wanted in SURFACES and ss.get("_label_surface_param") != wanted:
        ss["_label_surface_param"] = wanted  # a link with ?surface=... chooses once, the toggle after
        ss["label_surface"] = wanted
    if ss.get("label_surface") not in SURFACES:
        env = os.environ.get("DEFECTLAB_LABEL_SURFACE", "browser")
        ss["label_surface"] = env if env in SURFACES else "browser"
    return ss["label_surface"] == "browser"


def surface_toggle(where=None):
    """A toggle between the in-browser surface and the classic pages (kept for the whole session)."""
    use_browser()
    ss = st.session_state
    ss["label_surface_on"] = ss["label_surface"] == "browser"

    def _changed():
        ss["label_surface"] = "browser" if ss["label_surface_on"] else "classic"

    (where or st).toggle(t("labeler.toggle"), key="label_surface_on", on_change=_changed,
                         help=t("labeler.toggle_help"))


# -- the component ---------------------------------------------------------------------------------
@functools.cache
def _component():
    js = (ASSETS / "labeler.js").read_text(encoding="utf-8")
    css = (ASSETS / "labeler.css").read_text(encoding="utf-8")
    return st.components.v2.component("defectlab_labeler", js=js, css=css)


def _noop():
    """The component's state changes rerun the fragment; nothing else to do."""


@dataclass
class _Surface:
    """What one surface shows and how its operations are turned into store writes."""

    key: str
    mode: str  # label / review / predict
    view: str  # single / grid
    ids: list  # item ids in queue order (the positions the browser moves through)
    ref: object  # the queue object: a new one starts a new epoch in the browser
    project: object
    keys: list
    nav_keys: list
    op_kind: str
    resolve: object  # raw op dict -> LabelOp (raises InputError)
    lines: object = None  # item id -> list of info lines
    on_saved: object = None  # (op, result) -> None
    labels_in_grid: bool = True
    extra: dict = field(default_factory=dict)


def _text():
    keys = ["progress", "done", "loading", "unsaved", "all_saved", "conflicts", "pending_item", "saved_item",
            "error", "brightness", "contrast", "invert", "fit", "one_to_one", "reset", "plate_context",
            "help_title", "help_close", "grid_page", "grid_help", "none_selected"]
    out = {k: t(f"labeler.{k}") for k in keys}
    out["help_view"] = [
        [t("labeler.help.wheel_key"), t("labeler.help.wheel")], ["+ / −", t("labeler.help.zoom")],
        ["F", t("labeler.fit")], ["X", t("labeler.one_to_one")], ["[ / ]", t("labeler.brightness")],
        ["; / '", t("labeler.contrast")], ["I", t("labeler.invert")], ["C", t("labeler.plate_context")],
        ["R", t("labeler.reset")], ["?", t("labeler.help_title")],
    ]
    out["help_grid"] = [
        [t("labeler.help.click_key"), t("labeler.help.click")], [t("labeler.help.shift_key"), t("labeler.help.shift")],
        ["A / N", t("labeler.help.all_none")], ["← / →", t("labeler.help.pages")],
        ["[ / ]", t("labeler.brightness")], ["; / '", t("labeler.contrast")], ["R", t("labeler.reset")],
    ]
    return out


def _data_url(item, grid):
    """The item's image for the browser: the original PNG/JPEG bytes when small enough (pixel-exact),
    else a JPEG of at most 1600 px; a 160 px thumbnail in the grid."""
    if grid:
        data, mime = common.thumb(item, 160), "image/jpeg"
    else:
        ext = str(item["blob"]).rsplit(".", 1)[-1].lower()
        data, mime = None, _MIME.get(ext)
        if mime and max(int(item["width"]), int(item["height"])) <= _MAX_IMAGE_SIDE:
            ws = common.workspace()
            if ws.blob_size(item["blob"]) <= _MAX_ORIGINAL_BYTES:
                data = ws.read_blob(item["blob"])
        if data is None:
            data, mime = common.image_bytes(item, max_side=_MAX_IMAGE_SIDE), "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _ctx(surface):
    """Per-surface server state: the epoch of the queue, what the browser tab has, answers given."""
    ss = st.session_state
    ctx = ss.get(f"{surface.key}__ctx")
    if ctx is None or ctx["ref"] is not surface.ref:
        ctx = {"ref": surface.ref, "epoch": uuid.uuid4().hex[:12], "cid": None, "sent": set(), "plates": set(),
               "results": (ctx or {}).get("results", {}), "items": {}}
        ss[f"{surface.key}__ctx"] = ctx
    return ctx


def _sync_state(key):
    state = st.session_state.get(key)
    try:
        sync = state.get("sync") if state is not None else None
    except AttributeError:
        sync = None
    return sync if isinstance(sync, dict) else {}


def _answer(result):
    """The browser's copy of an :class:`~defectlab.labelops.OpResult`, with a message in the session's language."""
    out = result.to_dict()
    if result.status == "conflict":
        out["text"] = t("labeler.conflict", id=result.item_id, user=result.by or "?",
                        label=common.label_text(result.now_label))
    elif result.status == "error":
        out["text"] = t("labeler.refused", id=result.item_id, reason=common.reason_text(result.message))
    return out


def _apply(surface, ctx, ops):
    """Store the outbox's operations not answered yet; return the answers to every one of them."""
    from defectlab.labelops import applied_ops

    ws, me = common.workspace(), common.user()
    answers = []
    ops = [raw for raw in ops[:MAX_OPS] if isinstance(raw, dict) and isinstance(raw.get("op"), str)
           and len(raw["op"]) <= 64]
    # stored by an earlier server or session whose answer was lost: answered from the record, even when
    # the item has left this session's queue meanwhile
    stored = applied_ops(ws, [raw["op"] for raw in ops if raw["op"] not in ctx["results"]])
    for raw in ops:
        op_id = raw["op"]
        if op_id not in ctx["results"]:
            try:
                op = parse_op(raw) if op_id in stored else surface.resolve(raw)
            except InputError as exc:
                from defectlab.labelops import OpResult

                item = raw.get("item") if isinstance(raw.get("item"), int) else -1
                first = exc.args[0] if exc.args else None
                result = OpResult(op_id, item, "error", message=first if isinstance(first, Message) else str(exc))
            else:
                result = apply_op(ws, op, me)
                if result.status == "saved" and surface.on_saved is not None:
                    surface.on_saved(op, result)
            ctx["results"][op_id] = _answer(result)
        answers.append(ctx["results"][op_id])
    return answers


def _positions(surface, sync, ctx):
    """The window of queue positions to describe, and the browser's position."""
    total = len(surface.ids)
    pos = sync.get("pos") if sync.get("epoch") == ctx["epoch"] else 0
    pos = min(max(pos, 0), total) if isinstance(pos, int) else 0
    if surface.view == "grid":
        start = pos // PAGE * PAGE
        return range(start, min(start + 2 * PAGE, total)), pos
    return range(max(pos - 2, 0), min(pos + WINDOW, total)), pos


def _describe(surface, ctx, item_id, hidden=frozenset()):
    """Static facts of an item (cached per epoch): caption, size, plate and box. ``hidden``: items whose source
    path the person may not see (blind items of a blind labeler: a class folder names the answer)."""
    known = ctx["items"].get(item_id)
    if known is not None:
        return known
    item = get_item(common.workspace(), item_id)
    if item_id in hidden:
        caption = t("label.item_caption_blind", id=item_id, w=item["width"], h=item["height"])
    else:
        caption = t("label.item_caption", id=item_id, source=item["source"], w=item["width"], h=item["height"])
    if item.get("parent_id"):
        caption += " · " + t("label.from_plate", plate=item["parent_id"], box=item.get("box"))
    plate = int(item["parent_id"]) if item.get("parent_id") and item.get("box") else None
    desc = {"id": item_id, "w": int(item["width"]), "h": int(item["height"]), "caption": caption,
            "plate": plate, "box": item.get("box"), "_item": item}
    ctx["items"][item_id] = desc
    return desc


def _skip_images(ctx, sync):
    """Item ids whose image this browser tab already holds (a new tab, ``cid``, starts from nothing)."""
    if sync.get("cid") and sync.get("cid") != ctx["cid"]:
        ctx["cid"], ctx["sent"], ctx["plates"] = sync["cid"], set(), set()
    have = {i for i in (sync.get("have") or []) if isinstance(i, int)}
    need = {i for i in (sync.get("need") or []) if isinstance(i, int)}
    return (ctx["sent"] | have) - need


def _payload(surface, ctx, desc, state, skip, shown=None):
    """One window item for the browser: facts, version, lines, and the image unless it has it. ``shown``: the
    label its viewer may see (their own vote on an assigned or gold item when they label blind)."""
    grid = surface.view == "grid"
    out = {k: v for k, v in desc.items() if not k.startswith("_")}
    out["version"] = state.version if state else 0
    if grid and surface.labels_in_grid and shown is not None:
        out["label_text"] = common.label_text(shown)
    if desc["id"] not in skip:
        try:
            out["img"] = _data_url(desc["_item"], grid)
            ctx["sent"].add(desc["id"])
        except DefectlabError:
            out["img"] = None
    return out


def _window(surface, ctx, sync):
    """Items of the window (with images the browser lacks) and the plates they were cut from."""
    positions, pos = _positions(surface, sync, ctx)
    skip = _skip_images(ctx, sync)
    ids = [surface.ids[p] for p in positions]
    ws, me = common.workspace(), common.user()
    versions = label_states(ws, ids)
    views = item_views(ws, surface.project, me, item_ids=ids) if ids else {}
    shown = {i: v.label for i, v in views.items()} if surface.view == "grid" and surface.labels_in_grid else {}
    hidden = {i for i, v in views.items() if v.own}
    lines = surface.lines(ids) if surface.lines is not None else {}
    items, plates = [], {}
    for p, item_id in zip(positions, ids, strict=True):
        try:
            desc = _describe(surface, ctx, item_id, hidden)
        except DefectlabError:
            continue
        items.append({**_payload(surface, ctx, desc, versions.get(item_id), skip, shown.get(item_id)), "pos": p,
                      **lines.get(item_id, {})})
        plate_id = desc["plate"]
        if surface.view != "grid" and plate_id is not None and plate_id not in ctx["plates"]:
            plate = _plate(plate_id)
            if plate is not None:
                plates[plate_id] = plate
                ctx["plates"].add(plate_id)
    return items, plates, pos


def _plate(plate_id):
    try:
        plate = get_item(common.workspace(), plate_id)
        data = common.image_bytes(plate, max_side=_MAX_IMAGE_SIDE)
    except DefectlabError:
        return None
    return {"img": "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii"),
            "w": int(plate["width"]), "h": int(plate["height"])}


def _storage_key(surface):
    raw = f"{common.workspace().root.resolve()}|{surface.project.id}|{common.user()}|{surface.mode}|{surface.view}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:20]


def _mount(surface):
    """The surface in a fragment (a key reruns only the surface, not the page around it), plus a
    sentinel outside it: a browser that reconnects to a restarted server asks the new session for a
    fragment it has never heard of, and that request is dropped; when its sends stay unanswered, the
    browser pokes the sentinel, whose full-page rerun reaches the new session with the outbox."""
    _fragment(surface)
    _component()(key=f"{surface.key}-sentinel", data={"sentinel": True}, default={"ping": None},
                 on_ping_change=_noop, height=1)


@st.fragment
def _fragment(surface):
    ctx = _ctx(surface)
    sync = _sync_state(surface.key)
    ops = sync.get("ops") if isinstance(sync.get("ops"), list) else []
    acks = _apply(surface, ctx, ops)
    items, plates, _ = _window(surface, ctx, sync)
    data = {
        "mode": surface.mode, "view": surface.view, "epoch": ctx["epoch"], "start_pos": 0,
        "total": len(surface.ids), "window": WINDOW, "page_size": PAGE, "op_kind": surface.op_kind,
        "keys": surface.keys, "nav_keys": surface.nav_keys, "text": _text(), "items": items, "plates": plates,
        "acks": acks, "storage_key": _storage_key(surface), "seq": sync.get("seq"),
        "user_key": hashlib.sha256(common.user().encode("utf-8")).hexdigest()[:16],
    }
    _component()(key=surface.key, data=data, default={"sync": None}, on_sync_change=_noop)


# -- the three surfaces ----------------------------------------------------------------------------
def _class_keys(project, **extra):
    return [{"key": str(k), "label": cls, "text": common.cls_name(cls), **extra}
            for k, cls in enumerate(list(project.classes)[:9], start=1)]


def _allowed(op, ids):
    if op.item_id not in ids:
        raise InputError(msg("labeler.error.not_in_queue", "Item {id} is not in this queue; nothing was saved.",
                             id=op.item_id))
    return op


def label_surface(project, queue, view="single", lines=None):
    """The Label page in the browser: ``queue`` (item ids) one at a time, or a page of tiles.

    Parameters
    ----------
    project : Project
    queue : list of int
        The session's queue (its identity marks an epoch: a rebuilt queue starts again at its top).
    view : {"single", "grid"}
    lines : callable, optional
        ``lines(item_ids) -> {item_id: {"lines": [...], "suggested_key": "3"}}``: what to show beside
        each item (current label, the model's suggestion, an inspector's note).
    """
    allowed = set(queue)

    def resolve(raw):
        op = _allowed(parse_op(raw), allowed)
        if op.kind == "undo":
            return op
        if op.kind != "label":
            raise InputError(msg("labeler.error.only_labels",
                                 "Operation {op}: the Label page only labels (got {kind}).",
                                 op=op.op_id, kind=repr(op.kind)))
        return replace(op, source="human", action=None)

    keys = [*_class_keys(project), {"key": "0", "label": UNUSABLE, "text": t("label.unusable")}]
    nav = [["S / →", t("label.skip")], ["B / ←", t("label.back")], ["Z", t("label.undo")]]
    if view == "grid":
        nav = []
    surface = _Surface(key=f"labeler_label_{view}", mode="label", view=view, ids=list(queue), ref=queue,
                       project=project, keys=keys, nav_keys=nav, op_kind="label", resolve=resolve, lines=lines)
    _mount(surface)


def review_surface(project, issues, run_id):
    """The likely-label-error queue in the browser: A accept, K keep, U unusable, 1-9 another class."""
    rows = {int(r["item_id"]): r for r in issues}
    ids = [int(r["item_id"]) for r in issues]
    targets = {"accept": lambda r, op: r["suggested"], "keep": lambda r, op: r["given"],
               "unusable": lambda r, op: UNUSABLE, "other": lambda r, op: op.label}

    def resolve(raw):
        op = _allowed(parse_op(raw), rows)
        if op.action not in targets:
            raise InputError(msg("labeler.error.review_action", "Operation {op}: unknown review action {action}.",
                                 op=op.op_id, action=repr(op.action)))
        return replace(op, kind="review", source="review", label=targets[op.action](rows[op.item_id], op),
                       run_id=run_id, seconds=None)

    def on_saved(op, result):
        st.session_state.setdefault("rev_done", {})[op.item_id] = (op.action, op.label)

    def lines(item_ids):
        from defectlab.ui import reviewing

        out = {}
        for i in item_ids:
            r = rows[i]
            score = float(r.get("score") or 0.0)
            text = [t("review.issue_line", given=common.cls_name(r["given"]),
                      suggested=common.cls_name(r["suggested"]), score=score).replace("**", "")]
            if r.get("reason_parts"):
                text.append(reviewing.reason_text(r["reason_parts"]))
            out[i] = {"lines": text, "suggested_key": "A"}
        return out

    keys = [{"key": "A", "action": "accept", "text": t("labeler.key.accept"), "primary": True},
            {"key": "K", "action": "keep", "text": t("labeler.key.keep")},
            {"key": "U", "action": "unusable", "text": t("label.unusable")},
            *_class_keys(project, action="other")]
    nav = [["S / →", t("label.skip")], ["B / ←", t("label.back")]]
    _mount(_Surface(key="labeler_review", mode="review", view="single", ids=ids, ref=issues, project=project,
                    keys=keys, nav_keys=nav, op_kind="review", resolve=resolve, lines=lines, on_saved=on_saved))


def predict_surface(project, queue, run_id):
    """Predict's uncertain items in the browser: Enter confirms the model, 1-9 correct it."""
    rows = {int(r["item_id"]): r for r in queue}
    ids = [int(r["item_id"]) for r in queue]
    may_review = common.permissions()("review")

    def resolve(raw):
        op = _allowed(parse_op(raw), rows)
        row = rows[op.item_id]
        if op.action == "confirm":
            label = row["label"]
        elif op.action == "correct" and op.label is not None:
            label = op.label
        else:
            raise InputError(msg("labeler.error.decision", "Operation {op}: unknown decision {action}.",
                                 op=op.op_id, action=repr(op.action)))
        corrected = label != row["label"]
        source = ("review" if may_review else "human") if corrected else "model"
        comment = f"corrected from {row['label']}" if corrected else "confirmed"
        return replace(op, kind="predict", label=label, source=source, comment=comment, run_id=run_id)

    def lines(item_ids):
        out = {}
        for i in item_ids:
            r = rows[i]
            cls = r["label"]
            key = str(project.classes.index(cls) + 1) if cls in project.classes else None
            out[i] = {"lines": [t("predict.model_says", label=common.cls_name(cls),
                                  confidence=float(r["confidence"])).replace("**", "")],
                      "suggested_key": key}
        return out

    keys = [{"key": "Enter", "action": "confirm", "text": t("labeler.key.confirm"), "primary": True},
            *_class_keys(project, action="correct")]
    nav = [["S / →", t("label.skip")], ["B / ←", t("label.back")]]
    _mount(_Surface(key="labeler_predict", mode="predict", view="single", ids=ids, ref=queue, project=project,
                    keys=keys, nav_keys=nav, op_kind="predict", resolve=resolve, lines=lines))


def label_page(ws, project, queue, view, order, team, me, run):
    """The Label page's browser surface with what the classic page shows beside each item: the current
    label (the person's own in team mode), an inspector's note, and the model's suggestion."""
    from defectlab.ui import labeling, suggest

    notes = st.session_state.get("lbl_notes") or {} if order == labeling.TEAM_ORDER else {}
    classes = list(project.classes)

    def lines(item_ids):
        out = {}
        states = {} if team else label_states(ws, item_ids)
        for k, i in enumerate(item_ids):
            text, key = [], None
            note = notes.get(i)
            if note and note.get("reason") == "rejected":
                text.append(t("label.rejected_note", comment=note.get("comment") or ""))
            elif note and note.get("reason") == "qualification":
                text.append(t("label.qualification_note"))
            state = states.get(i)
            if state is not None and state.label is not None:
                text.append(t("label.current_label", label=common.label_text(state.label), user=state.user or "",
                              source=state.source or ""))
            hint = _hint(ws, project, run, i, item_ids[k + 1:], suggest)
            if hint is not None:
                text.append(t("label.suggestion", label=common.cls_name(hint["label"]),
                              confidence=hint["confidence"]).replace("**", ""))
                key = str(classes.index(hint["label"]) + 1) if hint["label"] in classes[:9] else None
            out[i] = {"lines": text, "suggested_key": key}
        return out

    label_surface(project, queue, view=view, lines=None if view == "grid" else lines)
    if st.button(t("labeler.reload"), key="lbl_reload_browser", icon=":material/refresh:"):
        labeling.reset_queue()
        st.rerun()
    _label_book(project)


def _label_book(project):
    """The rule and example images of a class under the surface (the classic page shows them beside)."""
    from defectlab.ui import labelbook

    st.divider()
    cls = st.selectbox(t("label.book_for"), list(project.classes), key="lbl_book_browser",
                       format_func=common.cls_name)
    labelbook.show_entry(project, cls)


def _hint(ws, project, run, item_id, upcoming, suggest):
    if run is None:
        return None
    try:
        return suggest.for_item(ws, project, run, {"id": item_id}, upcoming=upcoming)
    except DefectlabError:
        return None
