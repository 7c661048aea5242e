"""The ``defectlab`` command: a thin layer over the library.

Each command parses its arguments, calls one library function and prints either a human summary or, with
``--json``, exactly one JSON object on stdout (logs and progress go to stderr). Exit codes: 0 success,
1 a user error (one line on stderr), 2 wrong usage.
"""

import argparse
import errno
import getpass
import json
import os
import sqlite3
import sys
import time

from . import __version__
from .errors import DefectlabError, StorageError
from .i18n import normalize_language, set_language, t

__all__ = ["build_parser", "main"]

EPILOG = """examples:
  defectlab demo --workspace workspace
  defectlab project create Plates --classes crazing,inclusion,scratches
  defectlab import Plates ./camera_export --layout voc --json
  defectlab train Plates --folds 5 --json
  defectlab runs compare Plates RUN_A RUN_B
  defectlab label-issues Plates --json
  defectlab predict Plates ./todays_batch --out predictions.csv
  defectlab locate Plates ./full_plates --json
  defectlab export Plates --format csv ./plates_export
"""


class _Progress:
    """A one-line progress bar on stderr (only when stderr is a terminal)."""

    def __init__(self, label, enabled=None):
        self.label = label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._last = 0.0

    def __call__(self, done, total, message=""):
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        frac = 0 if not total else done / total
        bar = "#" * int(frac * 30)
        sys.stderr.write(f"\r{self.label} [{bar:<30}] {done}/{total} {message[:40]:<40}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _workspace(args, create=True):
    from .store import open_workspace

    return open_workspace(args.workspace, create=create)


def _emit(args, payload, human):
    if args.json:
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, default=str) + "\n")
    else:
        sys.stdout.write(human(payload) + "\n")


# -- commands ------------------------------------------------------------------------------------

def cmd_demo(args):
    from .demo import build_demo_workspace

    ws = _workspace(args)
    names = build_demo_workspace(ws, progress=_Progress("demo"), user=args.user)
    _emit(args, {"projects": names, "workspace": str(ws.root)},
          lambda p: t("cli.demo_created", path=p["workspace"], projects=", ".join(p["projects"])))


def cmd_project_create(args):
    from .store import create_project

    p = create_project(_workspace(args), args.name, args.classes, ordinal=args.ordinal, user=args.user)
    _emit(args, {"project": p.name, "classes": list(p.classes), "ordinal": p.ordinal},
          lambda d: t("cli.project_created", project=d["project"], classes=", ".join(d["classes"])))


def cmd_project_list(args):
    from .store import list_projects, project_summary

    ws = _workspace(args)
    rows = [project_summary(ws, p) for p in list_projects(ws)]
    payload = {"projects": rows}

    def human(d):
        if not d["projects"]:
            return t("cli.no_projects")
        return "\n".join(
            f"{r['name']:<24} {r['n_labeled']:>6}/{r['n_items']:<6} labeled  classes: {', '.join(r['classes'])}"
            + ("  [ordinal]" if r["ordinal"] else "")
            for r in d["projects"]
        )

    _emit(args, payload, human)


def _whole_number(text):
    """An argparse type: an integer from 0 up to SQLite's largest (a count, an offset or an id)."""
    from .store.items import sql_int

    value = sql_int(text)
    if value is None:
        raise argparse.ArgumentTypeError(t("cli.not_whole_number", value=str(text)[:40]))
    return value


def _compute_options(p):
    """``--jobs`` and ``--scheduler`` for the commands that compute features."""
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="local workers for features (processes from 2,048 images) and model fits "
                        "(default: the available cores, at most 8); import: worker processes reading "
                        "the files from 20,000 images (default 2)")
    p.add_argument("--scheduler", default=os.environ.get("DEFECTLAB_SCHEDULER") or None, metavar="ADDRESS",
                   help="Dask scheduler (tcp://host:8786; default $DEFECTLAB_SCHEDULER): features and "
                        "predictions run on its workers, which must see the workspace at the same path")


def cmd_import(args):
    from .i18n import translate
    from .ingest import import_source
    from .messages import message_from_fields

    report = import_source(_workspace(args), args.project, args.source, layout=args.layout,
                           label_regex=args.label_regex, user=args.user, padding=args.padding,
                           progress=_Progress("import"), **({"n_jobs": args.jobs} if args.jobs else {}))
    payload = report.to_dict()
    if args.scheduler and report.item_ids:
        from .learn import warm_feature_cache

        # with a cluster, the new images' features are computed there now: the next train is warm
        payload["features_cached"] = warm_feature_cache(_workspace(args), report.item_ids,
                                                        scheduler=args.scheduler, n_jobs=args.jobs,
                                                        progress=_Progress("features"))

    def human(d):
        lines = [" ".join([t("import.n_imported", n=d["imported"]), t("import.n_duplicates", n=d["duplicates"]),
                           t("import.n_rejected", n=len(d["rejected"])),
                           t("import.n_conflicts", n=len(d["conflicts"]))])]
        lines += ["  " + t("import.rejected_file", source=r["source"],
                           reason=translate(message_from_fields(r["reason"], r.get("reason_key"),
                                                                 r.get("reason_args"))))
                  for r in d["rejected"][:50]]
        if len(d["rejected"]) > 50:
            lines.append("  " + t("cli.import_more", n=len(d["rejected"]) - 50))
        lines += ["  " + t("cli.import_conflict", sources=" / ".join(c["sources"]), labels=" / ".join(c["labels"]))
                  for c in d["conflicts"][:50]]
        return "\n".join(lines)

    _emit(args, payload, human)


def cmd_train(args):
    from .learn import DEFAULT_MODEL, train_project

    summary = train_project(_workspace(args), args.project, model=args.model or DEFAULT_MODEL,
                            preset=args.features, model_preset=args.preset, folds=args.folds,
                            seed=args.seed, user=args.user, note=args.note, progress=_Progress("train"),
                            n_jobs=args.jobs, scheduler=args.scheduler or "local")
    summary["queues"] = _compute_queues(args, summary["run_id"])

    def human(d):
        line = t("cli.train_done", run_id=d["run_id"], accuracy=d["accuracy"], n=d["n_items"],
                 seconds=d["seconds"]) + f" (balanced {d['balanced_accuracy']:.3f}, macro-F1 {d['macro_f1']:.3f}"
        if d.get("mae") is not None:
            line += f", MAE {d['mae']:.3f}, QWK {d['qwk']:.3f}"
        return line + ")"

    _emit(args, summary, human)


def _compute_queues(args, run_id):
    """A new run's review queues, computed once and stored with it: counts per queue."""
    from .i18n import translate
    from .quality import compute_run_queues

    out = compute_run_queues(_workspace(args), run_id, progress=_Progress("queues"))
    for kind, message in out["errors"].items():
        print(t("cli.queue_warning", kind=kind, error=translate(message)), file=sys.stderr)
    return out["counts"]


def cmd_runs(args):
    from .learn import compare, list_runs

    ws = _workspace(args)
    if args.what[0] == "compare":
        if len(args.what) != 4:
            raise _Usage("usage: defectlab runs compare PROJECT RUN_A RUN_B")
        _, project, a, b = args.what
        result = compare(ws, project, a, b)

        def human(d):
            lines = [f"{k}: {v:+.4f}" if isinstance(v, float) else f"{k}: {v}"
                     for k, v in (d.get("deltas") or {}).items()]
            lines.append(f"fixed {len(d['fixed'])} items, broken {len(d['broken'])} items")
            return "\n".join(lines)

        _emit(args, result, human)
        return
    if len(args.what) != 1:
        raise _Usage("usage: defectlab runs PROJECT  |  defectlab runs compare PROJECT RUN_A RUN_B")
    runs = list_runs(ws, args.what[0])

    def human(d):
        if not d["runs"]:
            return t("projects.no_run")
        return "\n".join(f"{r['run_id']}  {r['created_at'][:19]}  {r['model']:<12} n={r['n_items']:<6} "
                         f"acc={r.get('accuracy', float('nan')):.3f}" + ("  [approved]" if r["approved"] else "")
                         for r in d["runs"])

    _emit(args, {"runs": runs}, human)


def cmd_predict(args):
    from .learn import export_predictions_csv, predict_batch, resolve_run

    ws = _workspace(args)
    run_id = resolve_run(ws, args.project, args.run)
    result = predict_batch(ws, args.project, run_id, args.source, user=args.user, layout=args.layout,
                           progress=_Progress("predict"), n_jobs=args.jobs,
                           scheduler=args.scheduler or "local")
    if args.out:
        export_predictions_csv(ws, args.project, args.out, batch_id=result["batch_id"], user=args.user)
        result["csv"] = str(args.out)

    def human(d):
        preds = d["predictions"]
        n_review = sum(p["needs_review"] for p in preds)
        lines = [t("cli.predict_done", n=len(preds), needs_review=n_review) + f" (run {run_id})"
                 + (f" -> {d['csv']}" if d.get("csv") else "")]
        lines += [f"  {p['source']}: {p['label']} ({p['confidence']:.2f})"
                  + ("  NEEDS REVIEW" if p["needs_review"] else "") for p in preds[:50]]
        return "\n".join(lines)

    _emit(args, result, human)


def cmd_locate(args):
    from .learn.locate import LocateSettings, locate_source

    settings = LocateSettings(threshold=args.threshold, background=not args.no_background)
    result = locate_source(_workspace(args), args.project, args.source, run_id=args.run, settings=settings,
                           user=args.user, progress=_Progress("locate"))

    def human(d):
        lines = [t("cli.locate_done", n=len(d["plates"]), boxes=sum(len(p["boxes"]) for p in d["plates"]),
                   run_id=d["run_id"])]
        for p in d["plates"][:50]:
            lines.append(f"  {p['source']} ({p['width']}x{p['height']}): " + ", ".join(
                f"{b['label']} {b['score']:.2f} @ {b['x']},{b['y']} {b['w']}x{b['h']}" for b in p["boxes"][:10]))
        lines += ["  " + t("cli.locate_rejected", source=r["source"], reason=r["reason"]) for r in d["rejected"][:50]]
        n_tiled = sum(bool(p.get("tiled")) for p in d["plates"])
        if n_tiled:
            lines.append(t("cli.locate_tiled", n=n_tiled))
        if d.get("expected"):
            lines.append(t("plates.expected", **d["expected"]))
        if d.get("expected_errors"):
            lines.append(t("cli.locate_errors", errors=", ".join(
                f"{t(f'plates.errors.{k}')} {v}" for k, v in d["expected_errors"].items())))
        return "\n".join(lines)

    _emit(args, result, human)


def cmd_export(args):
    from .export import export_project

    result = export_project(_workspace(args), args.project, args.format, args.out, user=args.user,
                            labels=args.labels)
    _emit(args, result, lambda d: t("cli.exported", n=d["exported"], path=d["path"]))


def cmd_label_issues(args):
    from .learn import resolve_run
    from .quality import compute_run_queues, label_issues_for_run, read_run_queue

    ws = _workspace(args)
    run_id = resolve_run(ws, args.project, args.run)
    stored = read_run_queue(ws, run_id, "issues")
    if stored is None:  # an older run: compute its queues once, store them, then read
        compute_run_queues(ws, run_id, progress=_Progress("queues"), kinds=["issues"])
        stored = read_run_queue(ws, run_id, "issues")
    issues = stored["rows"] if stored is not None else label_issues_for_run(ws, args.project, run_id)
    if args.limit:
        issues = issues[: args.limit]

    def human(d):
        if not d["issues"]:
            return t("review.no_issues")
        return "\n".join(f"{i['score']:.3f}  item {i['item_id']:<6} {i['source']}: given {i['given']}, "
                         f"suggested {i['suggested']}" for i in d["issues"])

    _emit(args, {"run_id": run_id, "issues": issues}, human)


def _operator():
    try:
        return getpass.getuser()
    except Exception:  # no user name in the environment (a bare container)
        return "unknown"


def _new_password(name):
    """The new password from DEFECTLAB_NEW_PASSWORD, else asked twice on a terminal."""
    pw = os.environ.get("DEFECTLAB_NEW_PASSWORD")
    if pw is None and sys.stdin.isatty():
        pw = getpass.getpass(f"New password for {name}: ", stream=sys.stderr)
        if getpass.getpass("Again: ", stream=sys.stderr) != pw:
            raise _Usage("the two passwords differ; nothing was changed")
    if pw is None:
        raise _Usage("set DEFECTLAB_NEW_PASSWORD or run in a terminal to be asked; nothing was changed")
    return pw


def cmd_user_recover(args):
    """``user unlock`` / ``user reset-password``: recovery for whoever can write the workspace files."""
    from .team import recover_account

    pw = _new_password(args.name) if args.user_command == "reset-password" else None
    account = recover_account(_workspace(args, create=False), args.name, _operator(), new_password=pw)
    _emit(args, {"user": account["username"], "unlocked": True, "password_reset": pw is not None},
          lambda d: t("cli.user_recovered", user=d["user"]))


# the permission (any one of) each command needs in team mode, checked before it runs; the library
# checks again where it writes. Commands not listed need an enabled account.
_NEEDS = {
    "cmd_demo": ("create_project",),
    "cmd_project_create": ("create_project",),
    "cmd_import": ("import",),
    "cmd_train": ("train",),
    "cmd_predict": ("predict",),
    "cmd_export": ("export",),
    "cmd_runs": ("train", "view_team", "predict"),  # runs hold other people's labels (as the Runs page)
    "cmd_label_issues": ("review",),
}


def _actor(args):
    """The acting account: ``local`` in single-user mode; in team mode the authenticated --user."""
    from .team import authenticate_actor

    ws = _workspace(args)
    password = os.environ.get("DEFECTLAB_PASSWORD")
    ask = None
    if password is None and sys.stdin.isatty():
        def ask(name):
            return getpass.getpass(f"Password for {name}: ", stream=sys.stderr)
    return authenticate_actor(ws, args.user or os.environ.get("DEFECTLAB_USER"), password, ask=ask,
                              source=f"cli:{_operator()}", actions=_NEEDS.get(args.func.__name__, ()))
def cmd_check(args):
    from .errors import StorageError
    from .store import default_workspace_path
    from .store.maintenance import check_damaged_database, check_workspace

    try:
        ws = _workspace(args, create=False)
    except StorageError as exc:  # a damaged database: report what SQLite finds, in the same shape
        sys.stderr.write(f"defectlab: error: {exc}\n")
        root = args.workspace if args.workspace is not None else default_workspace_path()
        report = check_damaged_database(os.path.join(root, "defectlab.sqlite"))
    else:
        report = check_workspace(ws, repair=args.repair, user=args.user)

    def human(d):
        lines = [t("cli.check_ok") if d["ok"] else t("cli.check_problems")]
        lines.append(t("cli.check_summary", integrity=d["integrity"], fk=len(d["foreign_keys"]),
                       blobs=d["blobs"]["checked"], missing=d["blobs"]["n_missing"],
                       mismatched=d["blobs"]["n_mismatched"], runs=d["runs"]["checked"], bad=d["runs"]["n_bad"]))
        lines += [f"  {b['blob']} (item {b['item_id']}): {t('cli.check_missing')}" for b in d["blobs"]["missing"]]
        lines += [f"  {b['blob']} (item {b['item_id']}): {t('cli.check_mismatched')}"
                  for b in d["blobs"]["mismatched"]]
        lines += [f"  run {r['run_id']}: {r['reason']}" for r in d["runs"]["bad"]]
        lines += [f"  {p}: {t('cli.check_leftover')}" for p in d["leftovers"]]
        lines += [f"  {p}: {t('cli.check_damaged_cache')}" for p in d["caches"]["damaged"]]
        lines += [f"  {p}: {t('cli.check_removed')}" for p in d["repaired"]]
        return "\n".join(lines)

    _emit(args, report, human)
    if not report["ok"]:
        raise _Failed()


def cmd_backup(args):
    from .store.maintenance import backup_workspace

    result = backup_workspace(_workspace(args, create=False), args.out, user=args.user)
    _emit(args, result, lambda d: t("cli.backup_done", path=d["path"], blobs=d["blobs"], runs=d["run_files"],
                                    integrity=d["integrity"]))


class _Failed(Exception):
    """The command printed its result, which is a failure (exit code 1, nothing more to say)."""


class _Usage(Exception):
    """Wrong usage found after parsing (exit code 2)."""


# -- parser --------------------------------------------------------------------------------------

def _common(p):
    p.add_argument("--workspace", default=argparse.SUPPRESS,
                   help="workspace folder (default: $DEFECTLAB_WORKSPACE, else ./workspace)")
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                   help="print exactly one JSON object on stdout")
    p.add_argument("--user", default=argparse.SUPPRESS,
                   help="team mode: your account (default $DEFECTLAB_USER); its password comes from "
                        "$DEFECTLAB_PASSWORD or a prompt")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="defectlab", description="Label steel defects, train CPU models, review label errors.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"defectlab {__version__}")
    parser.add_argument("--workspace", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", default=False, help=argparse.SUPPRESS)
    parser.add_argument("--user", default=None, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name, func, help, example, **kw):
        p = sub.add_parser(name, help=help, description=help, epilog=f"example:\n  {example}",
                           formatter_class=argparse.RawDescriptionHelpFormatter, **kw)
        _common(p)
        p.set_defaults(func=func)
        return p

    add("demo", cmd_demo, "create the demo workspace with its projects if absent",
        "defectlab demo --workspace workspace")

    proj = sub.add_parser("project", help="create, list, rename, edit classes, delete or restore projects")
    psub = proj.add_subparsers(dest="project_command", metavar="ACTION", required=True)
    pc = psub.add_parser("create", help="create a project", description="create a project",
                         epilog="example:\n  defectlab project create Scrap --classes heavy,medium,light --ordinal",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(pc)
    pc.add_argument("name")
    pc.add_argument("--classes", required=True, help="comma-separated class names, in order")
    pc.add_argument("--ordinal", action="store_true", help="the classes are grades on an ordered scale")
    pc.set_defaults(func=cmd_project_create)
    pl = psub.add_parser("list", help="list projects with item counts",
                         epilog="example:\n  defectlab project list --json",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(pl)
    pl.set_defaults(func=cmd_project_list)

    imp = add("import", cmd_import, "import images (folders, flat, VOC/YOLO/COCO boxes, CSV, zip)",
              "defectlab import NEU /data/NEU-DET --layout voc --json")
    imp.add_argument("project")
    imp.add_argument("source", help="a folder, a .zip, or one image file")
    imp.add_argument("--layout", default="auto",
                     choices=["auto", "folders", "flat", "voc", "yolo", "coco", "csv"])
    imp.add_argument("--label-regex", default=None,
                     help=r"label from the file name: first capture group, e.g. '^(.+)_\d+\.jpg$'")
    imp.add_argument("--padding", type=float, default=0.0,
                     help="box crops: padding around each box, as a fraction of its size (default 0)")

    tr = add("train", cmd_train, "cross-validate a model on the project's labels and record a run",
             "defectlab train NEU --folds 5 --json")
    tr.add_argument("project")
    tr.add_argument("--model", default=None,
                    help="ensemble (default), lightgbm, logreg, svm, random_forest, extra_trees")
    tr.add_argument("--preset", default="fast", choices=["fast", "accurate"], help="model preset")
    tr.add_argument("--features", default=None, help="feature preset (default: the default spec)")
    tr.add_argument("--folds", type=int, default=5)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--note", default="", help="a note stored with the run")

    for heavy in (imp, tr):
        _compute_options(heavy)

    ru = add("runs", cmd_runs, "list a project's runs, or compare two",
             "defectlab runs NEU  |  defectlab runs compare NEU RUN_A RUN_B")
    ru.add_argument("what", nargs="+", metavar="PROJECT | compare PROJECT RUN_A RUN_B")

    pr = add("predict", cmd_predict, "apply a run to new images; uncertain ones are flagged needs_review",
             "defectlab predict NEU ./todays_batch --out predictions.csv --json")
    pr.add_argument("project")
    pr.add_argument("source", help="a folder, a .zip or one image")
    pr.add_argument("--run", default=None, help="run id (default: newest approved run, else newest)")
    pr.add_argument("--out", default=None, help="also write the predictions to this CSV file")
    pr.add_argument("--layout", default="auto",
                    choices=["auto", "folders", "flat", "voc", "yolo", "coco", "csv"])
    _compute_options(pr)

    lo = add("locate", cmd_locate, "find defects on full images (plates): boxes with label and score",
             "defectlab locate NEU ./plates --run RUN_ID --json")
    lo.add_argument("project")
    lo.add_argument("source", help="one image or a folder of images")
    lo.add_argument("--run", default=None, help="run id (default: newest approved run, else newest)")
    lo.add_argument("--threshold", type=float, default=None,
                    help="lowest score of a box (default: the locator's calibrated threshold, else 0.5)")
    lo.add_argument("--no-background", action="store_true",
                    help="do not train the background class from the project's plates")

    ex = add("export", cmd_export, "export labeled items (class folders, CSV, COCO / YOLO / Pascal VOC boxes)",
             "defectlab export NEU --format yolo --labels reviewed ./neu_export")
    ex.add_argument("project")
    ex.add_argument("--format", required=True, choices=["imagefolder", "csv", "coco", "yolo", "voc"])
    ex.add_argument("--labels", default="all", choices=["all", "reviewed", "agreed"],
                    help="which labels: all (default), reviewed only, or agreed only")
    ex.add_argument("out")

    from .cli_data import register

    register(sub, psub, add, _common)

    from .cli_plates import register as register_plates

    register_plates(add)

    li = add("label-issues", cmd_label_issues, "rank likely label errors from a run's out-of-fold predictions",
             "defectlab label-issues NEU --run RUN_ID --json")
    li.add_argument("project")
    li.add_argument("--run", default=None, help="run id (default: newest approved run, else newest)")
    li.add_argument("--limit", type=_whole_number, default=0, help="show at most this many (0: all)")

    us = sub.add_parser("user", help="account recovery for whoever can write the workspace files (= admin)")
    usub = us.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    for name, text, example in (
        ("unlock", "lift a login lock-out of an account (all sources)", "defectlab user unlock local"),
        ("reset-password", "set a new password (from $DEFECTLAB_NEW_PASSWORD or a prompt); the person "
         "must change it at the next sign-in, and their open sessions end",
         "DEFECTLAB_NEW_PASSWORD='Temp-pass-123' defectlab user reset-password zhang.wei"),
    ):
        p = usub.add_parser(name, help=text, description=text + ". Needs no account: it needs write "
                            "access to the workspace files, which is admin access.",
                            epilog=f"example:\n  {example}", formatter_class=argparse.RawDescriptionHelpFormatter)
        _common(p)
        p.add_argument("name")
        p.set_defaults(func=cmd_user_recover, auth=False)
    ck = add("check", cmd_check, "check the workspace: database integrity, image files, runs, leftovers",
             "defectlab check --repair --json")
    ck.add_argument("--repair", action="store_true",
                    help="remove stale leftovers and damaged caches (never labels, images or models)")

    bk = add("backup", cmd_backup, "copy the database (SQLite backup API), images and runs to a new folder",
             "defectlab backup /mnt/backup/defectlab-2026-12-03 --json")
    bk.add_argument("out", help="a new or empty folder outside the workspace")
    return parser


def error_text(exc):
    """A library error in the current language when it carries a catalog key (a
    :class:`~defectlab.messages.Message`), else its English text."""
    from .i18n import catalog, get_language, translate

    first = exc.args[0] if exc.args else None
    key = getattr(first, "key", None)
    if get_language() == "en" or not key or key not in catalog("en"):
        return str(exc)  # English: the library's own line, as it always was
    # a word with its own key inside the sentence (a role, an action, a class, an OS error) is translated first
    return translate(first)


def _language_from_environment():
    """``DEFECTLAB_LANG``, else the system locale (``LC_ALL`` / ``LANG``): zh_CN.UTF-8 speaks Chinese."""
    env = os.environ
    return normalize_language(env.get("DEFECTLAB_LANG") or env.get("LC_ALL") or env.get("LANG") or "en")


def _one_line(exc):
    """The error in the session language (see :func:`error_text`), always on one line."""
    return " ".join(error_text(exc).split())


def main(argv=None):
    set_language(_language_from_environment())
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "auth", True):
            try:
                args.user = _actor(args)
            except StorageError:
                if args.func is not cmd_check:
                    raise
                args.user = None  # a database too damaged to open: check still reports what SQLite finds
        args.func(args)
    except _Usage as exc:
        parser.print_usage(sys.stderr)
        sys.stderr.write(f"defectlab: error: {exc}\n")
        return 2
    except _Failed:
        return 1
    except DefectlabError as exc:
        sys.stderr.write(f"defectlab: error: {_one_line(exc)}\n")
        return 1
    except sqlite3.Error as exc:  # a damaged database or a full disk met mid-command
        sys.stderr.write(f"defectlab: error: the workspace database failed ({exc}); run 'defectlab check'\n")
        return 1
    except OSError as exc:
        what = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        where = f" ({exc.filename})" if exc.filename else ""
        sys.stderr.write(f"defectlab: error: {what}{where}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("defectlab: interrupted\n")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
