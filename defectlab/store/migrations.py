"""Named, transactional, recorded schema migrations (after sqlite-utils' ``migrations``).

Each migration is a ``(name, sql)`` pair applied once, in order, inside one transaction together with the
row that records it in ``_migrations``. Never edit a released migration: append a new one.
"""

__all__ = ["MIGRATIONS", "applied_migrations", "apply_migrations"]

MIGRATIONS = [
    (
        "0001_initial",
        """
        CREATE TABLE projects (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            classes TEXT NOT NULL,              -- JSON list, in order (order is the grade order when ordinal)
            ordinal INTEGER NOT NULL DEFAULT 0,
            descriptions TEXT NOT NULL DEFAULT '{}',  -- JSON {class: {"description", "criteria"}}: the label book text
            settings TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            deleted_at TEXT,
            deleted_by TEXT
        );
        CREATE TABLE batches (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            kind TEXT NOT NULL CHECK (kind IN ('import', 'predict', 'crop')),
            source TEXT NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            summary TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE items (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            role TEXT NOT NULL DEFAULT 'sample' CHECK (role IN ('sample', 'plate')),
            sha256 TEXT NOT NULL,
            blob TEXT NOT NULL,                 -- path under blobs/, relative to the workspace
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            channels INTEGER NOT NULL,
            source TEXT NOT NULL,               -- original path relative to the imported SOURCE (crops: path#box)
            batch_id INTEGER REFERENCES batches(id),
            parent_id INTEGER REFERENCES items(id),  -- crops: the full plate image they were cut from
            box TEXT,                           -- crops: JSON [x0, y0, x1, y1] in the parent's pixels
            box_index INTEGER,
            meta TEXT NOT NULL DEFAULT '{}',    -- free metadata: coil, line, camera, ...
            created_at TEXT NOT NULL,
            deleted_at TEXT,
            deleted_by TEXT
        );
        CREATE UNIQUE INDEX items_project_role_sha ON items(project_id, role, sha256);
        CREATE INDEX items_parent ON items(parent_id);
        CREATE INDEX items_batch ON items(batch_id);
        CREATE TABLE annotations (
            id INTEGER PRIMARY KEY,
            item_id INTEGER NOT NULL REFERENCES items(id),
            label TEXT,                         -- NULL only on an undo row (retracts IS NOT NULL)
            user TEXT NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('human', 'review', 'model', 'import')),
            created_at TEXT NOT NULL,
            seconds REAL,
            comment TEXT,
            retracts INTEGER REFERENCES annotations(id),
            run_id TEXT,
            CHECK ((label IS NULL) = (retracts IS NOT NULL))
        );
        CREATE INDEX annotations_item ON annotations(item_id, id);
        CREATE INDEX annotations_user_time ON annotations(user, created_at);
        CREATE TRIGGER annotations_no_update BEFORE UPDATE ON annotations
            BEGIN SELECT RAISE(ABORT, 'annotations are append-only'); END;
        CREATE TRIGGER annotations_no_delete BEFORE DELETE ON annotations
            BEGIN SELECT RAISE(ABORT, 'annotations are append-only'); END;
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            username TEXT NOT NULL UNIQUE,
            display_name TEXT NOT NULL DEFAULT '',
            role TEXT NOT NULL CHECK (role IN ('admin', 'lead', 'annotator', 'reviewer', 'supervisor')),
            password_hash TEXT,                 -- NULL for the single-user local admin
            created_at TEXT NOT NULL,
            disabled_at TEXT
        );
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'done',
            model TEXT NOT NULL,
            params TEXT NOT NULL DEFAULT '{}',
            feature_spec TEXT NOT NULL DEFAULT '{}',
            spec_hash TEXT NOT NULL DEFAULT '',
            seed INTEGER NOT NULL DEFAULT 0,
            n_items INTEGER NOT NULL DEFAULT 0,
            n_classes INTEGER NOT NULL DEFAULT 0,
            metrics TEXT NOT NULL DEFAULT '{}',
            timings TEXT NOT NULL DEFAULT '{}',
            versions TEXT NOT NULL DEFAULT '{}',
            threshold REAL,
            path TEXT NOT NULL DEFAULT '',      -- runs/<id> relative to the workspace
            note TEXT NOT NULL DEFAULT '',
            approved INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE run_items (
            run_id TEXT NOT NULL REFERENCES runs(id),
            item_id INTEGER NOT NULL REFERENCES items(id),
            label TEXT NOT NULL,                -- the label the run trained on (a snapshot)
            fold INTEGER,
            pred_label TEXT,                    -- out-of-fold prediction
            confidence REAL,
            PRIMARY KEY (run_id, item_id)
        );
        CREATE TABLE predictions (
            id INTEGER PRIMARY KEY,
            batch_id INTEGER NOT NULL REFERENCES batches(id),
            run_id TEXT NOT NULL REFERENCES runs(id),
            item_id INTEGER NOT NULL REFERENCES items(id),
            label TEXT NOT NULL,
            confidence REAL NOT NULL,
            probs TEXT NOT NULL DEFAULT '{}',
            needs_review INTEGER NOT NULL,
            explanation TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL
        );
        CREATE INDEX predictions_batch ON predictions(batch_id);
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            user TEXT NOT NULL,
            action TEXT NOT NULL,
            project_id INTEGER,
            target TEXT,
            details TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX audit_at ON audit(at);
        """,
    ),
    (
        "0002_import_conflicts",
        """
        CREATE TABLE import_conflicts (
            id INTEGER PRIMARY KEY,
            item_id INTEGER NOT NULL REFERENCES items(id),
            batch_id INTEGER REFERENCES batches(id),
            sources TEXT NOT NULL,              -- JSON list: the files holding the same content
            labels TEXT NOT NULL,               -- JSON list: the labels they were given
            created_at TEXT NOT NULL,
            resolved_at TEXT,
            resolved_by TEXT
        );
        CREATE INDEX import_conflicts_item ON import_conflicts(item_id);
        """,
    ),
    (
        "0003_team",
        """
        ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE assignments (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            name TEXT NOT NULL DEFAULT '',
            params TEXT NOT NULL DEFAULT '{}',  -- JSON: overlap, overlap_k, gold_rate, random_state
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            closed_at TEXT,                     -- a closed assignment no longer feeds anybody's queue
            closed_by TEXT
        );
        CREATE TABLE assignment_items (
            assignment_id INTEGER NOT NULL REFERENCES assignments(id),
            item_id INTEGER NOT NULL REFERENCES items(id),
            user TEXT NOT NULL,
            position INTEGER NOT NULL,          -- the stable queue order inside the assignment
            kind TEXT NOT NULL CHECK (kind IN ('work', 'gold')),  -- gold: mixed in, never shown as such
            PRIMARY KEY (assignment_id, user, item_id)
        );
        CREATE INDEX assignment_items_user ON assignment_items(user, assignment_id, position);
        CREATE INDEX assignment_items_item ON assignment_items(item_id);
        CREATE TABLE gold_items (
            item_id INTEGER PRIMARY KEY REFERENCES items(id),
            project_id INTEGER NOT NULL REFERENCES projects(id),
            label TEXT NOT NULL,                -- the known answer
            qualification INTEGER NOT NULL DEFAULT 0,  -- part of the project's qualification set
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            removed_at TEXT,
            removed_by TEXT
        );
        CREATE INDEX gold_items_project ON gold_items(project_id);
        CREATE TABLE qualification_rules (
            project_id INTEGER PRIMARY KEY REFERENCES projects(id),
            n_items INTEGER,                    -- NULL: every qualification item of the project
            threshold REAL NOT NULL,
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL
        );
        CREATE TABLE qualification_events (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            user TEXT NOT NULL,
            event TEXT NOT NULL CHECK (event IN ('passed', 'failed', 'waived', 'reset')),
            n_answered INTEGER NOT NULL DEFAULT 0,
            n_correct INTEGER NOT NULL DEFAULT 0,
            at TEXT NOT NULL,
            by TEXT NOT NULL
        );
        CREATE INDEX qualification_events_user ON qualification_events(project_id, user, id);
        CREATE TABLE qc_queue (
            annotation_id INTEGER PRIMARY KEY REFERENCES annotations(id),
            project_id INTEGER NOT NULL REFERENCES projects(id),
            reviewer TEXT NOT NULL,
            reason TEXT NOT NULL CHECK (reason IN ('sample', 'fix')),  -- fix: a relabel after a rejection
            created_at TEXT NOT NULL
        );
        CREATE INDEX qc_queue_reviewer ON qc_queue(project_id, reviewer);
        CREATE TABLE qc_decisions (
            id INTEGER PRIMARY KEY,
            annotation_id INTEGER NOT NULL REFERENCES annotations(id),
            project_id INTEGER NOT NULL REFERENCES projects(id),
            item_id INTEGER NOT NULL REFERENCES items(id),
            annotator TEXT NOT NULL,
            reviewer TEXT NOT NULL,
            accept INTEGER NOT NULL CHECK (accept IN (0, 1)),
            comment TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        );
        CREATE INDEX qc_decisions_annotation ON qc_decisions(annotation_id, id);
        CREATE INDEX qc_decisions_annotator ON qc_decisions(project_id, annotator);
        CREATE TRIGGER qc_decisions_no_update BEFORE UPDATE ON qc_decisions
            BEGIN SELECT RAISE(ABORT, 'QC decisions are append-only'); END;
        CREATE TRIGGER qc_decisions_no_delete BEFORE DELETE ON qc_decisions
            BEGIN SELECT RAISE(ABORT, 'QC decisions are append-only'); END;
        """,
    ),
    (
        "0004_trust-auth_sessions",
        """
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,                -- random 128-bit id; the browser holds it HMAC-signed
            user TEXT NOT NULL,
            workspace TEXT NOT NULL,            -- the resolved workspace folder the session is bound to
            created_at TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            expires_at TEXT NOT NULL,           -- absolute end, whatever the activity
            revoked_at TEXT,
            revoked_reason TEXT,                -- sign_out, disabled, password_reset, password_changed...
            source TEXT NOT NULL DEFAULT ''     -- ui:<ip> or cli:<os user>
        );
        CREATE INDEX sessions_user ON sessions(user, revoked_at);
        CREATE TABLE login_attempts (
            id INTEGER PRIMARY KEY,
            username TEXT NOT NULL,             -- the matched account, else the NFKC name typed
            source TEXT NOT NULL,               -- where the attempt came from (lockout is per account and source)
            at TEXT NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('pending', 'ok', 'failed', 'reset'))
        );
        CREATE INDEX login_attempts_user ON login_attempts(username, source, id);
        """,
    ),
    (
        "0004_data-mgmt_classes_and_browser",
        """
        CREATE TABLE class_events (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            kind TEXT NOT NULL CHECK (kind IN ('rename', 'merge')),
            old TEXT NOT NULL,                  -- the class name annotations up to upto_annotation carry
            new TEXT NOT NULL,                  -- what those annotations mean from now on
            upto_annotation INTEGER NOT NULL,   -- annotations with id <= this (written before) are mapped
            at TEXT NOT NULL,
            by TEXT NOT NULL
        );
        CREATE INDEX class_events_project ON class_events(project_id, id);
        CREATE TRIGGER class_events_no_update BEFORE UPDATE ON class_events
            BEGIN SELECT RAISE(ABORT, 'class events are append-only'); END;
        CREATE TRIGGER class_events_no_delete BEFORE DELETE ON class_events
            BEGIN SELECT RAISE(ABORT, 'class events are append-only'); END;
        CREATE TABLE item_labels (
            item_id INTEGER PRIMARY KEY REFERENCES items(id),
            project_id INTEGER NOT NULL REFERENCES projects(id),
            label TEXT,                         -- a cache of the derived current label (None: unlabeled)
            source TEXT,
            user TEXT,
            version INTEGER NOT NULL,           -- the newest annotation id it was derived from
            n_votes INTEGER NOT NULL DEFAULT 0,
            agreed INTEGER NOT NULL DEFAULT 1,
            reviewed INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX item_labels_project_label ON item_labels(project_id, label);
        CREATE TABLE item_label_marks (
            project_id INTEGER PRIMARY KEY REFERENCES projects(id),
            upto_annotation INTEGER NOT NULL,   -- item_labels is fresh for annotations with id <= this
            upto_class_event INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE review_requests (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            item_id INTEGER NOT NULL REFERENCES items(id),
            by TEXT NOT NULL,
            at TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX review_requests_project ON review_requests(project_id, item_id);
        CREATE INDEX items_project_role_created ON items(project_id, role, created_at);
        CREATE INDEX items_project_source ON items(project_id, source);
        CREATE INDEX annotations_user_item ON annotations(user, item_id);
        CREATE INDEX run_items_item ON run_items(item_id);
        CREATE INDEX predictions_item ON predictions(item_id);
        """,
    ),
    (
        "0004_browser-label_label_ops",
        """
        -- Labels sent by the in-browser surface carry a client-made id: a label resent after a lost
        -- acknowledgement (a dropped connection, a server restart) is stored once, not twice.
        CREATE TABLE label_ops (
            op_id TEXT PRIMARY KEY,
            user TEXT NOT NULL,
            item_id INTEGER NOT NULL REFERENCES items(id),
            annotation_id INTEGER NOT NULL REFERENCES annotations(id),
            created_at TEXT NOT NULL
        );
        """,
    ),
    (
        "0004_trust-input_artifact_hashes",
        """
        -- sha256 of every file of a run's model directory (meta.json included), recorded at training
        CREATE TABLE run_artifacts (
            run_id TEXT NOT NULL REFERENCES runs(id),
            name TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            PRIMARY KEY (run_id, name)
        );
        -- verdicts of loading a LightGBM text model in a child process, by the model text's sha256
        CREATE TABLE model_checks (
            sha256 TEXT PRIMARY KEY,
            ok INTEGER NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            checked_at TEXT NOT NULL
        );
        """,
    ),
    (
        "0004_scale-review_run_queues",
        """
        CREATE TABLE run_queues (
            run_id TEXT NOT NULL REFERENCES runs(id),
            kind TEXT NOT NULL,                 -- issues | conflicts | duplicates | outliers
            computed_at TEXT NOT NULL,
            label_version INTEGER NOT NULL,     -- newest annotation id of the project when computed
            n_rows INTEGER NOT NULL,
            seconds REAL,
            PRIMARY KEY (run_id, kind)
        );
        CREATE TABLE run_queue_rows (
            run_id TEXT NOT NULL REFERENCES runs(id),
            kind TEXT NOT NULL,
            rank INTEGER NOT NULL,              -- 0 = first in the queue
            item_ids TEXT NOT NULL,             -- JSON list of the row's items
            versions TEXT NOT NULL,             -- JSON list: each item's version when computed
            score REAL,
            body TEXT NOT NULL,                 -- JSON: the queue row (reason, reason_parts, labels...)
            PRIMARY KEY (run_id, kind, rank)
        );
        CREATE INDEX run_items_cell ON run_items(run_id, label, pred_label);
        CREATE INDEX IF NOT EXISTS annotations_retracts ON annotations(retracts)
            WHERE retracts IS NOT NULL;
        """,
    ),
    (
        "0005_plates-flow_locate_reviews",
        """
        -- A run's boxes on a full image, recorded when a person searches it on the Predict page, and each
        -- person's decision on a box (accepted / corrected: a crop of the plate; dismissed: a false
        -- positive, a "background" crop when the project has that class). Decisions are append-only.
        CREATE TABLE locate_results (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            plate_id INTEGER NOT NULL REFERENCES items(id),
            run_id TEXT NOT NULL REFERENCES runs(id),
            user TEXT NOT NULL,
            created_at TEXT NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            boxes TEXT NOT NULL                 -- JSON list of {x, y, w, h, label, score} (image pixels)
        );
        CREATE INDEX locate_results_plate ON locate_results(plate_id, id);
        CREATE TABLE locate_decisions (
            id INTEGER PRIMARY KEY,
            result_id INTEGER NOT NULL REFERENCES locate_results(id),
            box_index INTEGER NOT NULL,
            decision TEXT NOT NULL CHECK (decision IN ('accepted', 'corrected', 'dismissed')),
            label TEXT,                         -- the crop's label; NULL for a dismissal stored as a record only
            crop_id INTEGER REFERENCES items(id),
            user TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX locate_decisions_result ON locate_decisions(result_id, box_index, id);
        CREATE TRIGGER locate_decisions_no_update BEFORE UPDATE ON locate_decisions
        BEGIN SELECT RAISE(ABORT, 'locate_decisions is append-only'); END;
        CREATE TRIGGER locate_decisions_no_delete BEFORE DELETE ON locate_decisions
        BEGIN SELECT RAISE(ABORT, 'locate_decisions is append-only'); END;
        """,
    ),
    (
        "0005_scale-quality_summary_indexes",
        """
        -- the project-summary cache key in a few index look-ups at 100,000 items: the newest item of a
        -- project and role (rowid order inside the index), and its deleted items (a small partial index)
        CREATE INDEX IF NOT EXISTS items_project_role ON items(project_id, role);
        CREATE INDEX IF NOT EXISTS items_deleted ON items(project_id, role) WHERE deleted_at IS NOT NULL;
        """,
    ),
    (
        "0006_locate-decision-place-and-undo",
        """
        -- a supervisor may move the model's box before storing it (the crop's place, JSON [x, y, w, h] in image
        -- pixels; NULL: the model's box) and undo a decision (its crop soft-deleted, the box open again); both
        -- tables stay append-only: an undo is a row of its own
        ALTER TABLE locate_decisions ADD COLUMN place TEXT;
        CREATE TABLE locate_undos (
            decision_id INTEGER PRIMARY KEY REFERENCES locate_decisions(id),
            user TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TRIGGER locate_undos_no_update BEFORE UPDATE ON locate_undos
        BEGIN SELECT RAISE(ABORT, 'locate_undos is append-only'); END;
        CREATE TRIGGER locate_undos_no_delete BEFORE DELETE ON locate_undos
        BEGIN SELECT RAISE(ABORT, 'locate_undos is append-only'); END;
        """,
    ),
]


def applied_migrations(conn):
    """Names of the migrations recorded in the database, in the order applied."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    return [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]


def apply_migrations(conn, now):
    """Apply every migration not yet recorded, each in its own transaction.

    Parameters
    ----------
    conn : sqlite3.Connection
        An autocommit connection (``isolation_level=None``).
    now : str
        The timestamp to record.

    Returns
    -------
    list of str
        The names applied by this call.
    """
    done = set(applied_migrations(conn))
    applied = []
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have applied it while we waited for the write lock.
            if conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                conn.execute("COMMIT")
                continue
            for statement in _split_sql(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, now))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


def _split_sql(sql):
    """Split a migration script into statements, keeping trigger bodies whole."""
    statements, current, depth = [], [], 0
    for line in sql.splitlines():
        stripped = line.split("--", 1)[0].strip()
        if not stripped:
            continue
        current.append(stripped)
        upper = stripped.upper()
        if upper.startswith("CREATE TRIGGER"):
            depth += 1
        if depth and upper.endswith("END;"):
            depth -= 1
        if not depth and stripped.endswith(";"):
            statements.append(" ".join(current))
            current = []
    if current:
        statements.append(" ".join(current))
    return statements
