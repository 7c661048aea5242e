"""The item ids of the Review page's computed queues, for the item browser's "in a queue" filter."""

__all__ = ["COMPUTED_QUEUES", "queue_item_ids"]

COMPUTED_QUEUES = ("label_issue", "duplicate", "outlier")


def queue_item_ids(ws, project, queue):
    """Ids of the items in a computed queue of the project's newest (approved) run.

    Parameters
    ----------
    ws : Workspace
    project : str, int or Project
    queue : {"label_issue", "duplicate", "outlier"}
        ``label_issue``: likely label errors (out-of-fold probabilities, without the slower
        neighbour vote and retraining round); ``duplicate``: near-identical pictures; ``outlier``:
        items far from everything else.

    Returns
    -------
    list of int
        Empty when the project has no run (label issues, outliers).
    """
    from ..errors import InputError, NotFoundError
    from ..messages import msg
    from .review import duplicates_queue, label_issues_for_run, outliers_queue

    if queue not in COMPUTED_QUEUES:
        raise InputError(msg("error.items.bad_queue", "Unknown queue {queue!r}; expected one of {queues}.",
                             queue=str(queue), queues=", ".join(COMPUTED_QUEUES)))
    try:
        if queue == "label_issue":
            return [int(r["item_id"]) for r in label_issues_for_run(ws, project, features=False, retrain=False)]
        if queue == "duplicate":
            return sorted({int(i) for g in duplicates_queue(ws, project) for i in g["item_ids"]})
        return [int(r["item_id"]) for r in outliers_queue(ws, project)]
    except NotFoundError:
        return []
