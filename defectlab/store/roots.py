"""The data roots: the only folders of the server a browser user may reach by typing a path.

The Streamlit server is started on one workspace. People using it through a browser may open another
workspace (admins only) or import from a folder of the server, but only under the **data roots**:
``$DEFECTLAB_DATA_ROOTS`` (folders separated by ``os.pathsep``, ``:`` on Linux), by default the parent
folder of the starting workspace (like Label Studio's local-files document root). Paths are resolved
first (``~``, ``..``, symlinks), so ``roots/../etc`` or a symlink inside a root pointing elsewhere are
refused; the resolved path is the one used afterwards.

The command line is not confined: it runs with the file access of the person who starts it.

Examples
--------
>>> import tempfile, pathlib
>>> top = pathlib.Path(tempfile.mkdtemp()).resolve()
>>> roots = data_roots(top / "ws", env={})
>>> roots == [top]
True
>>> resolve_under_roots(top / "ws" / ".." / "other", roots) == top / "other"
True
>>> resolve_under_roots(top / ".." / "elsewhere", roots)
Traceback (most recent call last):
...
defectlab.errors.PermissionDenied: ...
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError, PermissionDenied
from ..messages import msg, os_reason
from .permissions import require
from .workspace import open_workspace

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from defectlab._typing import PathLike
    from defectlab.store import Workspace

__all__ = ["DATA_ROOTS_ENV", "data_roots", "open_workspace_as", "resolve_under_roots"]

DATA_ROOTS_ENV = "DEFECTLAB_DATA_ROOTS"


def _resolve(path):
    try:
        return Path(os.path.expanduser(str(path))).resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # NUL bytes, symlink loops, ...
        raise InputError(msg("error.roots.path_cannot_used",
                "The path {str_path} cannot be used: {exc}.",
                str_path=repr(str(path)), exc=os_reason(exc) if isinstance(exc, OSError) else exc)) from None


def data_roots(start_workspace: PathLike, env: Mapping[str, str] | None = None) -> list[Path]:
    """The allowed roots, resolved: ``$DEFECTLAB_DATA_ROOTS`` or the starting workspace's parent.

    Parameters
    ----------
    start_workspace : str or Path
        The workspace the server was started on.
    env : mapping, optional
        Default ``os.environ``.

    Returns
    -------
    list of Path
    """
    env = os.environ if env is None else env
    listed = [p for p in str(env.get(DATA_ROOTS_ENV) or "").split(os.pathsep) if p.strip()]
    if listed:
        return [_resolve(p.strip()) for p in listed]
    return [_resolve(start_workspace).parent]


def resolve_under_roots(path: PathLike, roots: Iterable[PathLike]) -> Path:
    """``path`` resolved, if it is one of ``roots`` or inside one; else PermissionDenied.

    Parameters
    ----------
    path : str or Path
    roots : list of Path
        From :func:`data_roots`.

    Returns
    -------
    Path
        The resolved path (use it, not the typed one).

    Raises
    ------
    PermissionDenied
        The path lies outside every root (after resolving ``..`` and symlinks).
    InputError
        An empty or unusable path.
    """
    if not str(path or "").strip():
        raise InputError(msg("error.roots.no_path_given_type", "No path given; type a folder on the server."))
    resolved = _resolve(str(path).strip())
    for root in roots:
        root = _resolve(root)
        if resolved == root or root in resolved.parents:
            return resolved
    raise PermissionDenied(msg(
        "roots.outside", "{path} is outside the folders this server may use ({roots}); ask the admin who "
        "runs the server to add it to DEFECTLAB_DATA_ROOTS.", path=str(resolved),
        roots=", ".join(str(r) for r in roots)))


def open_workspace_as(ws: Workspace, user: str, path: PathLike, roots: Iterable[PathLike]) -> Workspace:
    """Open another workspace for a browser session: admins only, under the data roots.

    Parameters
    ----------
    ws : Workspace
        The session's current workspace (its accounts decide whether ``user`` is an admin).
    user : str
        The signed-in account (``local`` in single-user mode).
    path : str or Path
        The workspace folder to open (created when absent).
    roots : list of Path
        From :func:`data_roots`.

    Returns
    -------
    Workspace
        The other workspace. The session's identity does not carry over: in a team-mode workspace the
        person signs in again with an account of that workspace.

    Raises
    ------
    PermissionDenied
        Not an admin, or the path is outside the roots.
    """
    with ws.read() as conn:
        require(conn, user, "open_workspace")
    return open_workspace(resolve_under_roots(path, roots))
