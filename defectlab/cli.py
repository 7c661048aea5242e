"""The ``defectlab`` command: a thin layer over the library.

Each command parses its arguments, calls one library function and prints either a human summary or, with
``--json``, exactly one JSON object on stdout (logs and progress go to stderr). Exit codes: 0 success,
1 a user error (one line on stderr), 2 wrong usage.
"""

import argparse
import json
import sys
import time

from . import __version__
from .errors import DefectlabError

__all__ = ["main", "build_parser"]

EPILOG = """examples:
  defectlab demo --workspace workspace
  defectlab project create Plates --classes crazing,inclusion,scratches
  defectlab import Plates ./camera_export --layout voc --json
  defectlab train Plates --folds 5 --json
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
    names = build_demo_workspace(ws, progress=_Progress("demo"))
    _emit(args, {"projects": names, "workspace": str(ws.root)},
          lambda p: f"Demo workspace ready at {p['workspace']}: projects {', '.join(p['projects'])}")


def cmd_project_create(args):
    from .store import create_project

    p = create_project(_workspace(args), args.name, args.classes, ordinal=args.ordinal, user=args.user)
    _emit(args, {"project": p.name, "classes": list(p.classes), "ordinal": p.ordinal},
          lambda d: f"Created project {d['project']} with classes {', '.join(d['classes'])}"
          + (" (ordinal)" if d["ordinal"] else ""))


def cmd_project_list(args):
    from .store import list_projects, project_summary

    ws = _workspace(args)
    rows = [project_summary(ws, p) for p in list_projects(ws)]
    payload = {"projects": rows}

    def human(d):
        if not d["projects"]:
            return "No projects yet. Try: defectlab demo"
        return "\n".join(
            f"{r['name']:<24} {r['n_labeled']:>6}/{r['n_items']:<6} labeled  classes: {', '.join(r['classes'])}"
            + ("  [ordinal]" if r["ordinal"] else "")
            for r in d["projects"]
        )

    _emit(args, payload, human)


def cmd_import(args):
    from .ingest import import_source

    report = import_source(_workspace(args), args.project, args.source, layout=args.layout,
                           label_regex=args.label_regex, user=args.user, padding=args.padding,
                           progress=_Progress("import"))
    payload = report.to_dict()

    def human(d):
        lines = [f"imported {d['imported']}, duplicates {d['duplicates']}, rejected {len(d['rejected'])}, "
                 f"conflicts {len(d['conflicts'])} (layout: {d['layout']})"]
        lines += [f"  rejected {r['source']}: {r['reason']}" for r in d["rejected"][:50]]
        if len(d["rejected"]) > 50:
            lines.append(f"  ... and {len(d['rejected']) - 50} more (use --json for all)")
        lines += [f"  conflict: {' / '.join(c['sources'])} labeled {' vs '.join(c['labels'])}"
                  for c in d["conflicts"][:50]]
        return "\n".join(lines)

    _emit(args, payload, human)


# -- parser --------------------------------------------------------------------------------------

def _common(p):
    p.add_argument("--workspace", default=argparse.SUPPRESS,
                   help="workspace folder (default: $DEFECTLAB_WORKSPACE, else ./workspace)")
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                   help="print exactly one JSON object on stdout")
    p.add_argument("--user", default=argparse.SUPPRESS, help="acting user (default: local)")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="defectlab", description="Label steel defects, train CPU models, review label errors.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"defectlab {__version__}")
    parser.add_argument("--workspace", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", default=False, help=argparse.SUPPRESS)
    parser.add_argument("--user", default="local", help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name, func, help, example, **kw):
        p = sub.add_parser(name, help=help, description=help, epilog=f"example:\n  {example}",
                           formatter_class=argparse.RawDescriptionHelpFormatter, **kw)
        _common(p)
        p.set_defaults(func=func)
        return p

    add("demo", cmd_demo, "create the demo workspace with its projects if absent",
        "defectlab demo --workspace workspace")

    proj = sub.add_parser("project", help="create or list projects")
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
              "defectlab import NEU ../shared/datasets/neu-det --layout voc --json")
    imp.add_argument("project")
    imp.add_argument("source", help="a folder, a .zip, or one image file")
    imp.add_argument("--layout", default="auto",
                     choices=["auto", "folders", "flat", "voc", "yolo", "coco", "csv"])
    imp.add_argument("--label-regex", default=None,
                     help=r"label from the file name: first capture group, e.g. '^(.+)_\d+\.jpg$'")
    imp.add_argument("--padding", type=float, default=0.0,
                     help="box crops: padding around each box, as a fraction of its size (default 0)")

    for extra in _EXTRA_COMMANDS:
        extra(sub, add)
    return parser


_EXTRA_COMMANDS = []


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except DefectlabError as exc:
        sys.stderr.write(f"defectlab: error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("defectlab: interrupted\n")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
