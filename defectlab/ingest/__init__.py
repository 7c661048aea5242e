"""Importers: class-folder trees, flat folders (labels from file names), Pascal VOC / YOLO / COCO boxes →
one crop per box, CSV ``path,label``, any of these inside a ``.zip``.

The pure planning and parsing (:mod:`.scan`, :mod:`.boxes`, :mod:`.archive`) never touch the workspace;
:mod:`.importer` decodes, hashes and stores.
"""

from .importer import MIN_PROCESS_IMAGES, ImportReport, add_crops, add_plate, import_source
from .server import import_server_folder

__all__ = ["MIN_PROCESS_IMAGES", "ImportReport", "add_crops", "add_plate", "import_server_folder", "import_source"]
