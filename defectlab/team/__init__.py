"""Running a labeling team: accounts and roles, assignments with blind overlap, gold items and
qualification, agreement, QC review, throughput / pay reports and the activity log.

Every rule is enforced here, in the library (the UI and the CLI only call these functions): each function
that changes something takes the acting user (``by=``, or ``reviewer=`` / ``user=`` where the person acts
on their own work) and checks the store's permissions (:func:`defectlab.store.require`).

Modules (one concept each; read their docstrings):

- :mod:`~defectlab.team.accounts` — single-user vs team mode, accounts, scrypt passwords, login, idle logout;
- :mod:`~defectlab.team.assignments` — batches for annotators with overlap and gold, each person's queue,
  blind labels;
- :mod:`~defectlab.team.gold` — gold items, gold accuracy, the qualification set;
- :mod:`~defectlab.team.visibility` — what a person may see of an item's labels (blind overlap);
- :mod:`~defectlab.team.sessions` — server-side sessions bound to a workspace, signed refresh tokens;
- :mod:`~defectlab.team.actor` — the acting account of the command line;
- :mod:`~defectlab.team.agreement` — Cohen / Fleiss kappa, Krippendorff's alpha, consensus,
  disagreement queue;
- :mod:`~defectlab.team.qc` — the reviewer's random sample, accept / reject, approval rates;
- :mod:`~defectlab.team.throughput` — per person and day, CSV for piece-rate pay;
- :mod:`~defectlab.team.audit_view` — the merged activity log and restore of deleted work.
"""

from .accounts import (
    LOCAL_ADMIN,
    SESSION_IDLE_SECONDS,
    AuthenticationError,
    authenticate,
    change_password,
    check_password_policy,
    create_user,
    disable_user,
    enable_user,
    get_user,
    hash_password,
    is_team_mode,
    list_users,
    needs_rehash,
    recover_account,
    reset_password,
    session_expired,
    set_display_name,
    set_role,
    unlock_user,
    verify_password,
)
from .actor import authenticate_actor
from .agreement import (
    FleissKappa,
    agreement_summary,
    annotator_votes,
    cohen_kappa,
    consensus,
    disagreement_queue,
    fleiss_kappa,
    krippendorff_alpha,
    pairwise_agreement,
)
from .assignments import (
    assigned_items,
    assignment_progress,
    close_assignment,
    create_assignment,
    list_assignments,
    next_items,
    queue_counts,
    reopen_assignment,
    visible_label,
    visible_labels,
)
from .audit_view import activity, activity_actions, deleted_items, deleted_projects
from .gold import (
    gold_accuracy,
    gold_items,
    qualification_rule,
    qualification_status,
    reset_qualification,
    set_gold,
    set_qualification_rule,
    unset_gold,
    waive_qualification,
)
from .qc import approval_rates, qc_decide, qc_decisions, qc_pending, qc_sample
from .sessions import (
    SESSION_MAX_SECONDS,
    SessionEnded,
    check_session,
    end_session,
    list_sessions,
    resume_session,
    revoke_sessions,
    session_token,
    start_session,
)
from .throughput import THROUGHPUT_COLUMNS, throughput, throughput_csv
from .visibility import ItemView, item_views, may_see_model

__all__ = [
    # accounts
    "LOCAL_ADMIN",
    "SESSION_IDLE_SECONDS",
    "SESSION_MAX_SECONDS",
    # throughput
    "THROUGHPUT_COLUMNS",
    "AuthenticationError",
    # agreement
    "FleissKappa",
    "ItemView",
    "SessionEnded",
    # audit
    "activity",
    "activity_actions",
    "agreement_summary",
    "annotator_votes",
    "approval_rates",
    "assigned_items",
    "assignment_progress",
    "authenticate",
    "authenticate_actor",
    "change_password",
    "check_password_policy",
    "check_session",
    "close_assignment",
    "cohen_kappa",
    "consensus",
    # assignments
    "create_assignment",
    "create_user",
    "deleted_items",
    "deleted_projects",
    "disable_user",
    "disagreement_queue",
    "enable_user",
    "end_session",
    "fleiss_kappa",
    "get_user",
    "gold_accuracy",
    "gold_items",
    "hash_password",
    "is_team_mode",
    "item_views",
    "krippendorff_alpha",
    "list_assignments",
    "list_sessions",
    "list_users",
    "may_see_model",
    "needs_rehash",
    "next_items",
    "pairwise_agreement",
    "qc_decide",
    "qc_decisions",
    "qc_pending",
    # qc
    "qc_sample",
    "qualification_rule",
    "qualification_status",
    "queue_counts",
    "recover_account",
    "reopen_assignment",
    "reset_password",
    "reset_qualification",
    "resume_session",
    "revoke_sessions",
    "session_expired",
    "session_token",
    "set_display_name",
    # gold
    "set_gold",
    "set_qualification_rule",
    "set_role",
    "start_session",
    "throughput",
    "throughput_csv",
    "unlock_user",
    "unset_gold",
    "verify_password",
    "visible_label",
    "visible_labels",
    "waive_qualification",
]
