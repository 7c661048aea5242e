"""``defectlab locate-plate``, ``locate-plates``, ``decide-box`` and ``undo-box``: the prediction review of located
boxes from the command line
(registered by :func:`defectlab.cli.build_parser`). Each parses, calls one library function
(:mod:`defectlab.learn.plate_review`, roles enforced there) and prints."""

from .i18n import t

__all__ = ["register"]


def _cli():
    from . import cli

    return cli


def cmd_locate_plate(args):
    from .learn.locate import LocateSettings
    from .learn.plate_review import locate_plate

    cli = _cli()
    settings = LocateSettings(threshold=args.threshold)
    result = locate_plate(cli._workspace(args), args.project, args.item_id, run_id=args.run, settings=settings,
                          user=args.user)
    payload = _plate_entry(result)

    def human(d):
        lines = [t("cli.plate_located", n=len(d["boxes"]), boxes=len(d["boxes"]), item_id=d["item_id"],
                   run_id=d["run_id"], result_id=d["result_id"])]
        for k, b in enumerate(d["boxes"]):
            line = f"  {k:>3}  {b['label']:<20} {b['score']:.2f} @ {b['x']},{b['y']} {b['w']}x{b['h']}"
            if str(k) in d["earlier"]:
                line += "  (" + t("cli.box_earlier", decision=t(f"plates.box_{d['earlier'][str(k)]['decision']}")) + ")"
            lines.append(line)
        return "\n".join(lines)

    cli._emit(args, payload, human)


def _plate_entry(result):
    """One plate of a ``locate-plate(s)`` JSON answer: the ``locate`` entry plus the recorded result's keys."""
    return {**result.to_dict(), "item_id": int(result.extra["item_id"]), "run_id": result.extra["run_id"],
            "result_id": int(result.extra["result_id"]),
            "earlier": {str(k): {"decision": v["decision"], "label": v["label"], "crop_id": v["crop_id"]}
                        for k, v in sorted(result.extra.get("earlier", {}).items())}}


def cmd_locate_plates(args):
    from .i18n import translate
    from .learn.locate import LocateSettings
    from .learn.plate_review import locate_plates_from
    from .messages import message_from_fields

    cli = _cli()
    out = locate_plates_from(cli._workspace(args), args.project, args.source, run_id=args.run,
                             settings=LocateSettings(threshold=args.threshold), user=args.user,
                             progress=cli._Progress("locate-plates"))
    payload = {"run_id": out["run_id"], "plates": [_plate_entry(r) for r in out["results"]],
               "rejected": out["rejected"], "repeated": out["repeated"]}

    def human(d):
        lines = [t("cli.plates_located", n=len(d["plates"]), boxes=sum(len(p["boxes"]) for p in d["plates"]),
                   run_id=d["run_id"])]
        for p in d["plates"][:50]:
            lines.append(f"  #{p['item_id']} {p['source']}: " + t("cli.plates_line", n=len(p["boxes"]),
                                                                 result_id=p["result_id"]))
        lines += ["  " + t("import.rejected_file", source=r["source"], reason=translate(message_from_fields(
            r["reason"], r.get("reason_key"), r.get("reason_args")))) for r in d["rejected"]]
        return "\n".join(lines)

    cli._emit(args, payload, human)


def cmd_decide_box(args):
    from .learn.plate_review import decide_box

    cli = _cli()
    out = decide_box(cli._workspace(args), args.project, args.result_id, args.box_index, args.decision,
                     label=args.label, user=args.user, place=args.place)
    payload = {"result_id": int(args.result_id), "box_index": int(args.box_index), **out}

    def human(d):
        words = t(f"plates.box_{d['decision']}")
        if d["crop_id"] is None:
            return t("cli.box_decided", box=d["box_index"], result_id=d["result_id"], decision=words)
        return t("cli.box_decided_crop", box=d["box_index"], result_id=d["result_id"], decision=words,
                 crop_id=d["crop_id"], label=d["label"])

    cli._emit(args, payload, human)


def cmd_undo_box(args):
    from .learn.plate_review import undo_box

    cli = _cli()
    out = undo_box(cli._workspace(args), args.project, args.result_id, args.box_index, user=args.user)
    payload = {"result_id": int(args.result_id), "box_index": int(args.box_index), **out}

    def human(d):
        now = t(f"plates.box_{d['decision']}") if d["decision"] else t("plates.box_open")
        if d["crop_id"] is None:
            return t("cli.box_undone", box=d["box_index"], result_id=d["result_id"], now=now)
        return t("cli.box_undone_crop", box=d["box_index"], result_id=d["result_id"], now=now, crop_id=d["crop_id"])

    cli._emit(args, payload, human)


def _search_options(p):
    """``--run`` and ``--threshold`` of the commands that search plates and record the results."""
    p.add_argument("--run", default=None, help="run id (default: newest approved run, else newest)")
    p.add_argument("--threshold", type=float, default=None,
                   help="lowest score of a box (default: the locator's calibrated thresholds)")


def register(add):
    """Add the four commands with ``add(name, func, help, example)`` (see :func:`defectlab.cli.build_parser`)."""
    lp = add("locate-plate", cmd_locate_plate,
             "locate defects on a stored plate and record the result for the prediction review",
             "defectlab locate-plate Plates 123 --json")
    lp.add_argument("project")
    lp.add_argument("item_id", type=_cli()._whole_number,
                    help="a stored image of the project (e.g. a plate uploaded on Predict)")
    _search_options(lp)
    lps = add("locate-plates", cmd_locate_plates,
              "store the full images of a folder (or one file) as plates, locate defects on each and record the "
              "results: the app's Predict page lists them under earlier searches, for the supervisors' review",
              "defectlab locate-plates Plates ./shift_2026-12-07 --json")
    lps.add_argument("project")
    lps.add_argument("source", help="an image file or a folder of them (searched recursively)")
    _search_options(lps)
    db = add("decide-box", cmd_decide_box,
             "accept, correct or dismiss one box of a recorded locate result (supervisors, leads, admins)",
             "defectlab decide-box Plates 7 0 correct --label scratches --json")
    db.add_argument("project")
    db.add_argument("result_id", type=_cli()._whole_number, help="the result_id printed by locate-plate")
    db.add_argument("box_index", type=_cli()._whole_number, help="position of the box in that result (0 = the first)")
    db.add_argument("decision", choices=["accept", "correct", "dismiss"])
    db.add_argument("--label", default=None, help="the right class (for correct)")
    db.add_argument("--place", type=int, nargs=4, metavar=("X", "Y", "W", "H"), default=None,
                    help="store the crop here instead of the model's box (image pixels; it must overlap the model's "
                         "box at IoU >= 0.3): a correction of the box's place")
    ub = add("undo-box", cmd_undo_box,
             "undo the latest decision on one box of a recorded locate result: its stored crop is soft-deleted and "
             "the box is open again (your own decisions; a lead or admin may undo anyone's)",
             "defectlab undo-box Plates 7 0 --json")
    ub.add_argument("project")
    ub.add_argument("result_id", type=_cli()._whole_number, help="the result_id printed by locate-plate")
    ub.add_argument("box_index", type=_cli()._whole_number, help="position of the box in that result (0 = the first)")
