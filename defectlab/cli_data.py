"""``defectlab items``, ``item-history`` and the project / class editing commands (registered by
:func:`defectlab.cli.build_parser`). Each parses, calls one library function and prints."""

import argparse

from .i18n import t

__all__ = ["register"]


def _cli():
    from . import cli

    return cli


def cmd_items(args):
    from .store.browse import query_items

    cli = _cli()
    ws = cli._workspace(args)
    within = None
    if args.min_margin is not None or args.max_margin is not None:
        from .learn.margins import margin_item_ids

        within = margin_item_ids(ws, args.project, args.min_margin or 0.0,
                                 1.0 if args.max_margin is None else args.max_margin)
    filters = {"label": args.label, "unlabeled": args.unlabeled, "source": args.source, "annotator": args.annotator,
               "since": args.since, "until": args.until, "batch": args.batch, "queue": args.queue,
               "min_confidence": args.min_confidence, "max_confidence": args.max_confidence,
               "deleted": args.deleted, "within_ids": within}
    res = query_items(ws, args.project, filters, sort=args.sort, limit=args.limit,
                      offset=args.offset, user=args.user)
    payload = {"total": res["total"], "items": [
        {"item_id": r["item_id"], "source": r["source"], "label": r["label"], "label_source": r["label_source"],
         "agreed": r["agreed"], "batch_id": r["batch_id"], "confidence": r["confidence"],
         "predicted": r["predicted"]} for r in res["items"]]}

    def human(d):
        lines = [t("cli.items_total", total=d["total"], shown=len(d["items"]))]
        lines += [f"{r['item_id']:>7}  {r['label'] or '-':<20} {r['source']}" for r in d["items"]]
        return "\n".join(lines)

    cli._emit(args, payload, human)


def cmd_item_history(args):
    from .store.browse import item_history

    cli = _cli()
    events = item_history(cli._workspace(args), args.item_id, user=args.user)

    def human(d):
        if not d["events"]:
            return t("cli.no_history")
        return "\n".join(f"{e['at'][:19]}  {e['user']:<12} {e['source']:<7} {e['label'] or t('cli.undo')}"
                         + (f"  ({e['comment']})" if e.get("comment") else "") for e in d["events"])

    cli._emit(args, {"events": events}, human)


def cmd_move_items(args):
    from .store.transfer import move_items

    cli = _cli()
    res = move_items(cli._workspace(args), args.item_ids, args.to_project, user=args.user, copy=args.copy,
                     add_classes=args.add_classes, from_project=args.project)
    payload = {"project": res["project"], "n": res["n"], "labeled": res["labeled"],
               "ids": {str(k): v for k, v in res["ids"].items()}, "skipped": res["skipped"],
               "added_classes": res["added_classes"]}

    def human(d):
        lines = [t("cli.moved_copy" if args.copy else "cli.moved", n=d["n"], project=d["project"],
                   labeled=d["labeled"])]
        lines += [t("cli.moved_skipped", item_id=s["item_id"], existing_id=s["existing_id"]) for s in d["skipped"]]
        if d["added_classes"]:
            lines.append(t("cli.moved_classes", classes=", ".join(d["added_classes"])))
        return "\n".join(lines)

    cli._emit(args, payload, human)


def _project_payload(p):
    return {"project": p.name, "classes": list(p.classes)}


def _emit_project(args, p):
    _cli()._emit(args, _project_payload(p),
                 lambda d: t("cli.project_classes", project=d["project"], classes=", ".join(d["classes"])))


def cmd_project_edit(args):
    from . import store

    ws = _cli()._workspace(args)
    action = args.project_command
    if action == "rename":
        p = store.rename_project(ws, args.name, args.new, user=args.user)
    elif action == "rename-class":
        p = store.rename_class(ws, args.name, args.old, args.new, user=args.user)
    elif action == "add-class":
        p = store.add_class(ws, args.name, args.cls, user=args.user)
    elif action == "remove-class":
        p = store.remove_class(ws, args.name, args.cls, user=args.user)
    elif action == "reorder-classes":
        p = store.reorder_classes(ws, args.name, args.classes, user=args.user)
    elif action == "merge-classes":
        p = store.merge_classes(ws, args.name, args.classes, args.into, user=args.user)
    elif action == "delete":
        p = store.get_project(ws, args.name)
        store.delete_project(ws, args.name, user=args.user)
    else:
        p = store.restore_project(ws, args.name, user=args.user)
    _emit_project(args, p)


_PROJECT_ACTIONS = [
    ("rename", "rename a project", "defectlab project rename Plates 'Plates line 2'", [("new", {})]),
    ("rename-class", "rename a class (every annotation keeps its meaning; recorded in history)",
     "defectlab project rename-class Plates scrach scratch", [("old", {}), ("new", {})]),
    ("add-class", "add a class at the end", "defectlab project add-class Plates pits", [("cls", {"metavar": "CLASS"})]),
    ("remove-class", "remove a class nothing was labeled with (merge a class with labels instead)",
     "defectlab project remove-class Plates pitts", [("cls", {"metavar": "CLASS"})]),
    ("reorder-classes", "put the classes in a new order (number keys; grade order of an ordinal project)",
     "defectlab project reorder-classes Scrap heavy,medium,light", [("classes", {"help": "comma-separated"})]),
    ("merge-classes", "merge classes into one (existing or new); votes for them count for it",
     "defectlab project merge-classes Plates pit dent --into hole", [("classes", {"nargs": "+"})]),
    ("delete", "soft-delete a project (restorable)", "defectlab project delete Plates", []),
    ("restore", "restore a soft-deleted project", "defectlab project restore Plates", []),
]


def register(sub, psub, add, common):
    """Add the commands to the parser of :mod:`defectlab.cli`."""
    for name, help_, example, extra in _PROJECT_ACTIONS:
        p = psub.add_parser(name, help=help_, description=help_, epilog=f"example:\n  {example}",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        common(p)
        p.add_argument("name", metavar="NAME")
        for arg, kw in extra:
            p.add_argument(arg, **kw)
        if name == "merge-classes":
            p.add_argument("--into", required=True, help="the class they become")
        p.set_defaults(func=cmd_project_edit)

    it = add("items", cmd_items, "find items: filter by label, annotator, source, date, batch, queue, confidence",
             "defectlab items NEU --label scratches --annotator anna --since 2026-11-23 --json")
    it.add_argument("project")
    it.add_argument("--label", default=None, help="current label (a class, or __unusable__)")
    it.add_argument("--unlabeled", action="store_true", help="items without a label")
    it.add_argument("--source", default=None, help="glob on the source path, e.g. 'line2/*.jpg'")
    it.add_argument("--annotator", default=None, help="items this person labeled")
    it.add_argument("--since", default=None, help="labeled on or after this date (2026-11-23)")
    it.add_argument("--until", default=None, help="labeled on or before this date")
    it.add_argument("--batch", type=_cli()._whole_number, default=None, help="import / predict batch id")
    it.add_argument("--queue", default=None,
                    choices=["disagreement", "conflict", "sent_to_review"], help="items waiting in a queue")
    it.add_argument("--min-confidence", type=float, default=None, help="newest run's confidence at least")
    it.add_argument("--max-confidence", type=float, default=None, help="newest run's confidence at most")
    it.add_argument("--min-margin", type=float, default=None,
                    help="newest run's margin (top probability minus the runner-up) at least")
    it.add_argument("--max-margin", type=float, default=None, help="newest run's margin at most (0.2: near ties)")
    it.add_argument("--deleted", action="store_true", help="soft-deleted items instead of live ones")
    it.add_argument("--sort", default="id", choices=["id", "-id", "newest_label", "confidence", "-confidence",
                                                      "source"])
    it.add_argument("--limit", type=_cli()._whole_number, default=100)
    it.add_argument("--offset", type=_cli()._whole_number, default=0)

    mv = add("move-items", cmd_move_items, "move items (a plate with its crops) to another project with their "
             "labels; the originals are soft-deleted (--copy keeps them)",
             "defectlab move-items Plates Scrap 12 13 14 --add-classes --json")
    mv.add_argument("project", help="the project the items are in")
    mv.add_argument("to_project", metavar="TO_PROJECT")
    mv.add_argument("item_ids", type=_cli()._whole_number, nargs="+", metavar="ITEM_ID")
    mv.add_argument("--copy", action="store_true", help="keep the originals")
    mv.add_argument("--add-classes", action="store_true", help="add the labels TO_PROJECT lacks as classes")

    ih = add("item-history", cmd_item_history, "every annotation of one item (who, what, when), oldest first",
             "defectlab item-history NEU 1234 --json")
    ih.add_argument("project")
    ih.add_argument("item_id", type=_cli()._whole_number)
