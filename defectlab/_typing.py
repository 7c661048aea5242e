"""Type aliases for the hints of the public API (private module).

The aliases are strings at run time (nothing is imported for them); mypy reads them. Modules that use
them start with ``from __future__ import annotations`` so no hint is evaluated when the library runs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import datetime

    import numpy as np

    from defectlab.store.projects import Project
    from defectlab.store.workspace import Workspace

__all__ = ["ArrayLike", "ItemIds", "JSONDict", "PathLike", "ProjectRef", "RandomState", "TimeLike", "WorkspaceLike"]

#: A file or folder path.
PathLike: TypeAlias = "str | os.PathLike[str]"
#: An open :class:`~defectlab.store.Workspace` or the folder of an existing one.
WorkspaceLike: TypeAlias = "Workspace | str | os.PathLike[str]"
#: A project by name, id or :class:`~defectlab.store.Project`.
ProjectRef: TypeAlias = "str | int | Project"
#: ``random_state`` as scikit-learn's ``check_random_state`` takes it.
RandomState: TypeAlias = "int | np.random.Generator | np.random.RandomState | None"
#: Item ids (any sequence or iterable of integers, NumPy integers too).
ItemIds: TypeAlias = "Sequence[int] | np.ndarray"
#: A moment: a datetime, an ISO-8601 string or POSIX seconds.
TimeLike: TypeAlias = "datetime.datetime | str | float"
#: An array or (nested) list that ``np.asarray`` turns into one. ``Any`` for the type checker: every
#: function validates and converts it first (:mod:`defectlab._validation`); the docstring gives the shape.
ArrayLike: TypeAlias = Any
#: A JSON-ready record (what the CLI prints with ``--json``).
JSONDict: TypeAlias = "dict[str, Any]"

