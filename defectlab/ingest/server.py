"""Import from a folder of the server, confined to the data roots (what the Import page offers).

A browser user types a path on the server; :func:`import_server_folder` checks the ``import``
permission, resolves the path (``..``, ``~``, symlinks) and refuses anything outside the data roots
(:mod:`defectlab.store.roots`) before a single file is read. The CLI imports with
:func:`~defectlab.ingest.import_source` directly: it runs with its caller's own file access.
"""

from ..store import require, resolve_under_roots
from .importer import import_source

__all__ = ["import_server_folder"]


def import_server_folder(ws, project, folder, roots, user="local", **kwargs):
    """:func:`~defectlab.ingest.import_source` of a server path that must lie under ``roots``.

    Parameters
    ----------
    ws : Workspace
    project : str or Project
    folder : str or Path
        A folder, ``.zip`` or image file on the server, as typed.
    roots : list of Path
        The allowed roots (:func:`defectlab.store.data_roots`).
    user : str
        Who imports (needs ``import``).
    **kwargs
        Passed on to :func:`~defectlab.ingest.import_source` (layout, label_regex, progress...).

    Returns
    -------
    ImportReport

    Raises
    ------
    PermissionDenied
        The user may not import, or the path is outside the roots.
    """
    with ws.read() as conn:
        require(conn, user, "import")
    return import_source(ws, project, resolve_under_roots(folder, roots), user=user, **kwargs)
