"""The files of a saved model as plain files: their checksums and the ``meta.json`` description.

What the workspace check (:func:`defectlab.store.maintenance.check_workspace`) needs to tell a damaged run
from a sound one, without loading any model library; :mod:`defectlab.learn.artifacts` writes and loads
models on top of it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ArtifactError
from ..messages import msg

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .._typing import PathLike

__all__ = ["FORMAT", "FORMAT_VERSION", "META", "check_recorded_files", "read_meta"]

#: ``meta.json``'s ``format``: a defectlab model description.
FORMAT = "defectlab.model"
#: The description's version this defectlab reads and writes.
FORMAT_VERSION = 1
#: The description's file name in a run's model folder.
META = "meta.json"


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def check_recorded_files(directory: PathLike, expected: Mapping[str, str]) -> None:
    """Check that every file recorded at training time is present and unchanged (``meta.json`` included).

    Parameters
    ----------
    directory : str or Path
        The run's model folder.
    expected : mapping of str to str
        File name to hex sha256, as recorded in the ``run_artifacts`` table.

    Raises
    ------
    ArtifactError
        A file is missing or its bytes differ from the recorded checksum.
    """
    for name, sha in sorted(expected.items()):
        path = Path(directory) / name
        try:
            data = path.read_bytes()
        except OSError:
            raise ArtifactError(msg("error.artifacts.model_file_recorded_run",
                    "The model file {path} recorded for this run is missing. It was not loaded; "
                    "restore the run from a backup or retrain.",
                    path=path)) from None
        if _sha256(data) != sha:
            raise ArtifactError(
                msg("error.artifacts.model_file_does_not_2",
                    "The model file {path} does not match the checksum recorded when the run was "
                    "trained (it was modified after training, e.g. its classes or trees were "
                    "edited). It was not loaded; restore the run from a backup or retrain.",
                    path=path)
            )


def read_meta(directory: PathLike) -> dict[str, Any]:
    """Read and sanity-check ``meta.json`` of a saved model (no model file is parsed).

    Parameters
    ----------
    directory : str or Path
        The run's model folder.

    Returns
    -------
    dict
        The description: ``format``, ``format_version``, ``kind``, ``classes``, ``files`` (name to
        sha256), ...

    Raises
    ------
    ArtifactError
        ``meta.json`` is missing, unreadable, not a defectlab model description, of another format
        version, or lists no files.
    """
    path = Path(directory) / META
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(
            msg("error.artifacts.no_model_missing_run",
                "No model in {directory}: {META} is missing (the run was never finished, or its "
                "files were moved). Retrain, or pick another run.",
                directory=directory, META=META)
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(msg("error.artifacts.model_description_unreadable_retrain",
                "The model description {path} is unreadable ({exc}). Retrain.",
                path=path, exc=exc)) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ArtifactError(msg("error.artifacts.not_defectlab_model_description",
                "{path} is not a defectlab model description. Retrain.",
                path=path))
    if meta.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            msg("error.artifacts.has_model_format_version",
                "{path} has model format version {meta_get_format_version}; this defectlab reads "
                "version {FORMAT_VERSION}. Retrain with this version.",
                path=path, meta_get_format_version=repr(meta.get('format_version')), FORMAT_VERSION=FORMAT_VERSION)
        )
    if not isinstance(meta.get("files"), dict) or not meta["files"]:
        raise ArtifactError(msg("error.artifacts.lists_no_model_files",
                "{path} lists no model files. Retrain.",
                path=path))
    return meta
