"""Class renames and merges as append-only events, applied when labels are read.

Annotations are append-only (triggers forbid UPDATE), so a class rename cannot rewrite them. Instead a
``class_events`` row records ``old -> new`` together with the newest annotation id at that moment
(``upto_annotation``): every annotation written up to then that says ``old`` *means* ``new`` from now on.
A later class that happens to reuse the old name is not affected (its annotations have larger ids).
A merge of ``A`` and ``B`` into ``C`` is two such events of kind ``merge``: each person's vote for ``A``
or ``B`` becomes a vote for ``C``, so a disagreement between ``A`` and ``B`` becomes an agreement.

Run snapshots (``run_items``, predictions) carry no annotation id: they are mapped by time (events after
the run was trained), so a run trained before a rename shows and compares under the new names.
"""

__all__ = ["class_events", "label_mapper", "map_by_time", "map_label"]


def class_events(conn, project_id):
    """The project's class events, oldest first, as dicts (``id, kind, old, new, upto_annotation, at, by``)."""
    return [dict(r) for r in conn.execute(
        "SELECT id, kind, old, new, upto_annotation, at, by FROM class_events WHERE project_id = ? ORDER BY id",
        (int(project_id),))]


def map_label(events, label, annotation_id):
    """The label an annotation means today.

    Parameters
    ----------
    events : list of dict
        :func:`class_events` of the project.
    label : str or None
        The label as written.
    annotation_id : int
        The annotation's id.

    Returns
    -------
    str or None

    Examples
    --------
    >>> ev = [{"old": "scrach", "new": "scratch", "upto_annotation": 5}]
    >>> map_label(ev, "scrach", 3), map_label(ev, "scrach", 9)
    ('scratch', 'scrach')
    """
    if label is None:
        return None
    for ev in events:
        if label == ev["old"] and annotation_id <= ev["upto_annotation"]:
            label = ev["new"]
    return label


def map_by_time(events, label, since):
    """The name today of a label recorded at time ``since`` (ISO text), for run snapshots."""
    if label is None:
        return None
    for ev in events:
        if label == ev["old"] and ev["at"] > since:
            label = ev["new"]
    return label


def label_mapper(conn, project_id):
    """A function ``(label, annotation_id) -> label today`` for one project (identity when no event)."""
    events = class_events(conn, project_id)
    if not events:
        return lambda label, _annotation_id: label
    return lambda label, annotation_id: map_label(events, label, annotation_id)
