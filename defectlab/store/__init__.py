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
from .workspace import Workspace, default_workspace_path, open_workspace, utcnow

__all__ = [
    "Workspace", "open_workspace", "default_workspace_path", "utcnow",
    "Project", "UNUSABLE", "create_project", "get_project", "list_projects", "update_project",
    "delete_project", "restore_project", "project_summary", "parse_classes",
    "add_item", "find_item", "get_item", "items_frame", "item_ids", "load_item_image", "load_images",
    "delete_items", "restore_items", "create_batch", "finish_batch",
    "SOURCES", "LabelState", "annotate", "annotate_many", "retract", "undo_last", "derive_label",
    "current_labels", "current_label", "item_version", "label_history",
    "ROLES", "ACTIONS", "can", "require", "role_of",
    "log_action", "list_audit",
]
