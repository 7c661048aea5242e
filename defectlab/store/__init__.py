"""The workspace store: SQLite (WAL, foreign keys, recorded migrations) + content-addressed blobs.

Typical use::

    from defectlab.store import open_workspace, create_project, annotate, current_labels
    ws = open_workspace("workspace")
"""

from .audit import list_audit, log_action
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
from .summary import label_counts
from .workspace import Workspace, default_workspace_path, open_workspace, utcnow

__all__ = [
    "ACTIONS",
    "ROLES",
    "SOURCES",
    "UNUSABLE",
    "LabelState",
    "Project",
    "Workspace",
    "add_item",
    "annotate",
    "annotate_many",
    "can",
    "create_batch",
    "create_project",
    "current_label",
    "current_labels",
    "default_workspace_path",
    "delete_items",
    "delete_project",
    "derive_label",
    "find_item",
    "finish_batch",
    "get_item",
    "get_project",
    "item_ids",
    "item_version",
    "items_frame",
    "label_counts",
    "label_history",
    "list_audit",
    "list_projects",
    "load_images",
    "load_item_image",
    "log_action",
    "open_workspace",
    "parse_classes",
    "project_summary",
    "require",
    "restore_items",
    "restore_project",
    "retract",
    "role_of",
    "undo_last",
    "update_project",
    "utcnow",
]
