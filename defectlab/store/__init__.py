"""The workspace store: SQLite (WAL, foreign keys, recorded migrations) + content-addressed blobs.

Typical use::

    from defectlab.store import open_workspace, create_project, annotate, current_labels
    ws = open_workspace("workspace")
"""

from .audit import escape_controls, list_audit, log_action
from .items import (
    add_item,
    create_batch,
    delete_items,
    find_item,
    finish_batch,
    get_item,
    item_ids,
    items_frame,
    load_images,
    load_item_image,
    restore_items,
)
from .labels import (
    SOURCES,
    LabelState,
    annotate,
    annotate_many,
    current_label,
    current_labels,
    derive_label,
    item_version,
    label_history,
    retract,
    undo_last,
)
from .permissions import ACTIONS, ROLES, can, require, role_of
from .projects import (
    UNUSABLE,
    Project,
    create_project,
    delete_project,
    get_project,
    list_projects,
    parse_classes,
    project_summary,
    restore_project,
    update_project,
)
from .roots import DATA_ROOTS_ENV, data_roots, open_workspace_as, resolve_under_roots
from .workspace import Workspace, as_workspace, default_workspace_path, open_workspace, utcnow

__all__ = [
    "ACTIONS",
    "DATA_ROOTS_ENV",
    "ROLES",
    "SOURCES",
    "UNUSABLE",
    "LabelState",
    "Project",
    "Workspace",
    "add_item",
    "annotate",
    "annotate_many",
    "as_workspace",
    "can",
    "create_batch",
    "create_project",
    "current_label",
    "current_labels",
    "data_roots",
    "default_workspace_path",
    "delete_items",
    "delete_project",
    "derive_label",
    "escape_controls",
    "find_item",
    "finish_batch",
    "get_item",
    "get_project",
    "item_ids",
    "item_version",
    "items_frame",
    "label_history",
    "list_audit",
    "list_projects",
    "load_images",
    "load_item_image",
    "log_action",
    "open_workspace",
    "open_workspace_as",
    "parse_classes",
    "project_summary",
    "require",
    "resolve_under_roots",
    "restore_items",
    "restore_project",
    "retract",
    "role_of",
    "undo_last",
    "update_project",
    "utcnow",
]
