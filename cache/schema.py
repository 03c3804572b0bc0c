"""The cache's tables, as named migrations applied in order and recorded in `_migrations`.

A migration is never edited once released: a change to the schema is a new named step.
docs/cache.md documents every table. One module over the usual size on purpose: the list is
the schema's history, and its order is the order every cache replays it in.
"""
from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    ("0001_records", """
        CREATE TABLE IF NOT EXISTS contacts (
            id TEXT PRIMARY KEY,
            email TEXT,
            properties TEXT NOT NULL DEFAULT '{}',
            created_at TEXT,
            updated_at TEXT,
            archived INTEGER NOT NULL DEFAULT 0,
            merged_into TEXT,
            pulled_at TEXT
        );
        CREATE INDEX IF NOT EXISTS contacts_email ON contacts(email);
        CREATE TABLE IF NOT EXISTS companies (
            id TEXT PRIMARY KEY,
            domain TEXT,
            properties TEXT NOT NULL DEFAULT '{}',
            created_at TEXT,
            updated_at TEXT,
            archived INTEGER NOT NULL DEFAULT 0,
            merged_into TEXT,
            pulled_at TEXT
        );
        CREATE TABLE IF NOT EXISTS engagements (
            type TEXT NOT NULL,
            id TEXT NOT NULL,
            occurred_at TEXT,
            properties TEXT NOT NULL DEFAULT '{}',
            created_at TEXT,
            updated_at TEXT,
            archived INTEGER NOT NULL DEFAULT 0,
            pulled_at TEXT,
            PRIMARY KEY (type, id)
        );
        CREATE TABLE IF NOT EXISTS associations (
            from_type TEXT NOT NULL,
            from_id TEXT NOT NULL,
            to_type TEXT NOT NULL,
            to_id TEXT NOT NULL,
            type_id INTEGER NOT NULL,
            PRIMARY KEY (from_type, from_id, to_type, to_id, type_id)
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS associations_to ON associations(to_type, to_id);
        CREATE TABLE IF NOT EXISTS property_catalog (
            object_type TEXT NOT NULL,
            name TEXT NOT NULL,
            type TEXT,
            field_type TEXT,
            label TEXT,
            options TEXT,
            read_only INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (object_type, name)
        );
    """),
    ("0002_sync_state", """
        CREATE TABLE IF NOT EXISTS sync_state (
            stream TEXT PRIMARY KEY,
            watermark TEXT,
            cursor TEXT,
            phase TEXT,
            updated_at TEXT
        );
        CREATE TABLE IF NOT EXISTS runs (
            id INTEGER PRIMARY KEY,
            command TEXT NOT NULL,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            outcome TEXT NOT NULL DEFAULT 'running',
            api_calls INTEGER NOT NULL DEFAULT 0,
            records INTEGER NOT NULL DEFAULT 0,
            details TEXT,
            pid INTEGER
        );
    """),
    ("0003_scores", """
        CREATE TABLE IF NOT EXISTS scores (
            contact_id TEXT PRIMARY KEY,
            model_name TEXT NOT NULL,
            model_version TEXT NOT NULL,
            as_of TEXT NOT NULL,
            fit REAL NOT NULL,
            engagement REAL NOT NULL,
            total REAL NOT NULL,
            grade TEXT,
            stage TEXT,
            inactive INTEGER NOT NULL DEFAULT 0,
            reasons TEXT NOT NULL DEFAULT '[]',
            scored_at TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS score_history (
            id INTEGER PRIMARY KEY,
            contact_id TEXT NOT NULL,
            changed_at TEXT NOT NULL,
            as_of TEXT NOT NULL,
            model_name TEXT NOT NULL,
            model_version TEXT NOT NULL,
            trigger TEXT NOT NULL,
            old_total REAL,
            new_total REAL,
            old_grade TEXT,
            new_grade TEXT,
            old_stage TEXT,
            new_stage TEXT,
            reasons TEXT NOT NULL DEFAULT '[]',
            run_id INTEGER,
            pushed_at TEXT
        );
        CREATE INDEX IF NOT EXISTS score_history_contact ON score_history(contact_id, id);
        CREATE INDEX IF NOT EXISTS score_history_changed ON score_history(changed_at);
    """),
    ("0004_write_back", """
        CREATE TABLE IF NOT EXISTS pushed (
            contact_id TEXT NOT NULL,
            property TEXT NOT NULL,
            value TEXT,
            pushed_at TEXT NOT NULL,
            run_id INTEGER,
            PRIMARY KEY (contact_id, property)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS outbox (
            id INTEGER PRIMARY KEY,
            contact_id TEXT NOT NULL,
            properties TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            retriable INTEGER,
            batch TEXT,
            run_id INTEGER,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS outbox_status ON outbox(status, id);
    """),
    ("0005_inbox", """
        CREATE TABLE IF NOT EXISTS inbox (
            id INTEGER PRIMARY KEY,
            event_key TEXT NOT NULL UNIQUE,
            event_id INTEGER,
            subscription_type TEXT NOT NULL,
            object_id TEXT,
            occurred_at INTEGER,
            payload TEXT NOT NULL,
            received_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            error TEXT,
            processed_at TEXT
        );
        CREATE INDEX IF NOT EXISTS inbox_status ON inbox(status, next_attempt_at, id);
    """),
    ("0006_association_queue", """
        CREATE TABLE IF NOT EXISTS association_queue (
            object_type TEXT NOT NULL,
            id TEXT NOT NULL,
            PRIMARY KEY (object_type, id)
        ) WITHOUT ROWID;
    """),
    ("0007_outbox_history_upto", """
        ALTER TABLE outbox ADD COLUMN history_upto INTEGER;
    """),
    ("0008_backtests", """
        CREATE TABLE IF NOT EXISTS backtests (
            id INTEGER PRIMARY KEY,
            ran_at TEXT NOT NULL,
            as_of TEXT NOT NULL,
            horizon_days INTEGER NOT NULL,
            models TEXT NOT NULL,
            result TEXT NOT NULL,
            run_id INTEGER
        );
    """),
    # Derived from engagements + associations and kept in step by triggers (see
    # cache/contact_events.py, whose functions they call). Trigger inserts avoid
    # duplicates themselves: an outer statement's conflict policy overrides OR IGNORE in them.
    ("0009_contact_events", """
        CREATE TABLE IF NOT EXISTS contact_events (
            contact_id TEXT NOT NULL,
            occurred_at REAL NOT NULL,
            kind TEXT NOT NULL,
            engagement_id TEXT NOT NULL,
            properties TEXT NOT NULL,
            PRIMARY KEY (contact_id, occurred_at, kind, engagement_id)
        ) WITHOUT ROWID;
        INSERT OR IGNORE INTO contact_events
        SELECT a.from_id, leadsync_seconds(e.occurred_at), e.type, e.id,
               leadsync_scored_properties(e.properties)
        FROM associations a CROSS JOIN engagements e ON e.type = a.to_type AND e.id = a.to_id
        WHERE a.from_type = 'contacts'
          AND a.to_type IN ('calls', 'emails', 'meetings', 'notes', 'tasks')
          AND e.archived = 0
          AND leadsync_seconds(e.occurred_at) IS NOT NULL;
        CREATE TRIGGER IF NOT EXISTS contact_events_association_added
        AFTER INSERT ON associations
        WHEN NEW.from_type = 'contacts'
          AND NEW.to_type IN ('calls', 'emails', 'meetings', 'notes', 'tasks')
        BEGIN
            INSERT INTO contact_events
            SELECT DISTINCT NEW.from_id, leadsync_seconds(e.occurred_at), e.type, e.id,
                   leadsync_scored_properties(e.properties)
            FROM engagements e
            WHERE e.type = NEW.to_type AND e.id = NEW.to_id AND e.archived = 0
              AND leadsync_seconds(e.occurred_at) IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM contact_events c WHERE c.contact_id = NEW.from_id
                  AND c.kind = NEW.to_type AND c.engagement_id = NEW.to_id);
        END;
        CREATE TRIGGER IF NOT EXISTS contact_events_association_removed
        AFTER DELETE ON associations
        WHEN OLD.from_type = 'contacts'
          AND OLD.to_type IN ('calls', 'emails', 'meetings', 'notes', 'tasks') AND NOT EXISTS (
            SELECT 1 FROM associations a WHERE a.from_type = 'contacts'
              AND a.from_id = OLD.from_id AND a.to_type = OLD.to_type AND a.to_id = OLD.to_id)
        BEGIN
            DELETE FROM contact_events WHERE contact_id = OLD.from_id AND kind = OLD.to_type
              AND engagement_id = OLD.to_id;
        END;
        CREATE TRIGGER IF NOT EXISTS contact_events_association_changed
        AFTER UPDATE ON associations
        BEGIN
            DELETE FROM contact_events WHERE OLD.from_type = 'contacts'
              AND contact_id = OLD.from_id AND kind = OLD.to_type
              AND engagement_id = OLD.to_id AND NOT EXISTS (
                SELECT 1 FROM associations a WHERE a.from_type = 'contacts'
                  AND a.from_id = OLD.from_id AND a.to_type = OLD.to_type
                  AND a.to_id = OLD.to_id);
            INSERT INTO contact_events
            SELECT DISTINCT NEW.from_id, leadsync_seconds(e.occurred_at), e.type, e.id,
                   leadsync_scored_properties(e.properties)
            FROM engagements e
            WHERE NEW.from_type = 'contacts' AND e.type = NEW.to_type AND e.id = NEW.to_id
              AND e.archived = 0 AND leadsync_seconds(e.occurred_at) IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM contact_events c WHERE c.contact_id = NEW.from_id
                  AND c.kind = NEW.to_type AND c.engagement_id = NEW.to_id);
        END;
        CREATE TRIGGER IF NOT EXISTS contact_events_engagement_added
        AFTER INSERT ON engagements
        WHEN NEW.archived = 0 AND leadsync_seconds(NEW.occurred_at) IS NOT NULL
        BEGIN
            INSERT INTO contact_events
            SELECT DISTINCT a.from_id, leadsync_seconds(NEW.occurred_at), NEW.type, NEW.id,
                   leadsync_scored_properties(NEW.properties)
            FROM associations a
            WHERE a.to_type = NEW.type AND a.to_id = NEW.id AND a.from_type = 'contacts';
        END;
        CREATE TRIGGER IF NOT EXISTS contact_events_engagement_changed
        AFTER UPDATE ON engagements
        WHEN OLD.occurred_at IS NOT NEW.occurred_at OR OLD.properties IS NOT NEW.properties
          OR OLD.archived IS NOT NEW.archived OR OLD.type IS NOT NEW.type OR OLD.id IS NOT NEW.id
        BEGIN
            DELETE FROM contact_events WHERE kind = OLD.type AND engagement_id = OLD.id
              AND contact_id IN (SELECT a.from_id FROM associations a WHERE a.to_type = OLD.type
                                 AND a.to_id = OLD.id AND a.from_type = 'contacts');
            INSERT INTO contact_events
            SELECT DISTINCT a.from_id, leadsync_seconds(NEW.occurred_at), NEW.type, NEW.id,
                   leadsync_scored_properties(NEW.properties)
            FROM associations a
            WHERE a.to_type = NEW.type AND a.to_id = NEW.id AND a.from_type = 'contacts'
              AND NEW.archived = 0 AND leadsync_seconds(NEW.occurred_at) IS NOT NULL;
        END;
        CREATE TRIGGER IF NOT EXISTS contact_events_engagement_removed
        AFTER DELETE ON engagements
        BEGIN
            DELETE FROM contact_events WHERE kind = OLD.type AND engagement_id = OLD.id
              AND contact_id IN (SELECT a.from_id FROM associations a WHERE a.to_type = OLD.type
                                 AND a.to_id = OLD.id AND a.from_type = 'contacts');
        END;
    """),
    # scores clustered by contact: a rescore reads and upserts them in contact order, and a
    # WITHOUT ROWID table is one B-tree where a rowid table needs a second for its text key.
    ("0010_scores_clustered", """
        CREATE TABLE scores_clustered (
            contact_id TEXT PRIMARY KEY,
            model_name TEXT NOT NULL,
            model_version TEXT NOT NULL,
            as_of TEXT NOT NULL,
            fit REAL NOT NULL,
            engagement REAL NOT NULL,
            total REAL NOT NULL,
            grade TEXT,
            stage TEXT,
            inactive INTEGER NOT NULL DEFAULT 0,
            reasons TEXT NOT NULL DEFAULT '[]',
            scored_at TEXT NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO scores_clustered
        SELECT contact_id, model_name, model_version, as_of, fit, engagement, total, grade, stage,
               inactive, reasons, scored_at
        FROM scores;
        DROP TABLE scores;
        ALTER TABLE scores_clustered RENAME TO scores;
    """),
    # Reasons as arrays, [rule, section, points, occurrences] (scoring/reasons.py): a rescore
    # writes them twice per changed contact, and the object keys doubled their size. Text that
    # is not JSON (a hand edit) is left as it is rather than stopping the cache from opening.
    ("0011_compact_reasons", """
        UPDATE scores SET reasons = (
            SELECT json_group_array(json_array(r.value ->> 'rule', r.value ->> 'section',
                                               r.value -> 'points', r.value -> 'occurrences'))
            FROM json_each(scores.reasons) r)
        WHERE reasons LIKE '[{%' AND json_valid(reasons);
        UPDATE score_history SET reasons = (
            SELECT json_group_array(json_array(r.value ->> 'rule', r.value ->> 'section',
                                               r.value -> 'points', r.value -> 'occurrences'))
            FROM json_each(score_history.reasons) r)
        WHERE reasons LIKE '[{%' AND json_valid(reasons);
    """),
    # HubSpot owners (names, teams) and each contact's handoff-SLA state (scoring/sla.py):
    # `followup` is the JSON of the FollowUp the rescore computed, NULL without an SLA.
    ("0012_owners_sla", """
        CREATE TABLE IF NOT EXISTS owners (
            id TEXT PRIMARY KEY,
            email TEXT,
            first_name TEXT,
            last_name TEXT,
            user_id TEXT,
            teams TEXT NOT NULL DEFAULT '[]',
            archived INTEGER NOT NULL DEFAULT 0,
            created_at TEXT,
            updated_at TEXT,
            pulled_at TEXT
        );
        ALTER TABLE scores ADD COLUMN followup TEXT;
    """),
    # Views for people browsing the cache (`leadsync browse`, Datasette, a BI tool): one row
    # per live contact with its score, and score changes with emails and reasons in words.
    # Ids as integers so they sort 1, 2, 10; stored tables keep HubSpot's text ids.
    ("0013_browse_views", """
        CREATE VIEW IF NOT EXISTS contacts_view AS
        SELECT CAST(c.id AS INTEGER) AS contact_id,
               c.email,
               NULLIF(TRIM(COALESCE(json_extract(c.properties, '$.firstname'), '') || ' ' ||
                           COALESCE(json_extract(c.properties, '$.lastname'), '')), '') AS name,
               json_extract(c.properties, '$.jobtitle') AS job_title,
               COALESCE((SELECT json_extract(co.properties, '$.name')
                         FROM associations a JOIN companies co ON co.id = a.to_id
                         WHERE a.from_type = 'contacts' AND a.from_id = c.id
                           AND a.to_type = 'companies' AND a.type_id = 1 LIMIT 1),
                        json_extract(c.properties, '$.company')) AS company,
               json_extract(c.properties, '$.hs_analytics_source') AS source,
               json_extract(c.properties, '$.lifecyclestage') AS stage,
               s.stage AS scored_stage,
               s.total AS score,
               s.fit,
               s.engagement,
               s.grade,
               CASE s.inactive WHEN 1 THEN 'yes' WHEN 0 THEN 'no' END AS inactive,
               s.model_name || ' ' || s.model_version AS model,
               s.scored_at,
               substr(COALESCE(c.created_at, json_extract(c.properties, '$.createdate')), 1, 10)
                   AS created
        FROM contacts c LEFT JOIN scores s ON s.contact_id = c.id
        WHERE c.archived = 0 AND c.merged_into IS NULL;
        CREATE VIEW IF NOT EXISTS score_changes_view AS
        SELECT h.id AS change_id,
               CAST(h.contact_id AS INTEGER) AS contact_id,
               c.email,
               h.changed_at,
               h.as_of,
               h.old_total,
               h.new_total,
               ROUND(COALESCE(h.new_total, 0) - COALESCE(h.old_total, 0), 1) AS change,
               h.old_grade,
               h.new_grade,
               h.old_stage,
               h.new_stage,
               (SELECT group_concat(words, '; ') FROM (
                    SELECT json_extract(r.value, '$[0]') || ' ' ||
                           CASE WHEN json_extract(r.value, '$[2]') >= 0 THEN '+' ELSE '' END ||
                           CASE WHEN json_extract(r.value, '$[2]')
                                     = CAST(json_extract(r.value, '$[2]') AS INTEGER)
                                THEN CAST(CAST(json_extract(r.value, '$[2]') AS INTEGER) AS TEXT)
                                ELSE printf('%.1f', json_extract(r.value, '$[2]')) END AS words
                    FROM json_each(CASE WHEN json_valid(h.reasons) THEN h.reasons ELSE '[]' END) r
                    WHERE json_extract(r.value, '$[3]') != 0
                    ORDER BY abs(json_extract(r.value, '$[2]')) DESC, r.key)) AS reasons,
               h.model_name || ' ' || h.model_version AS model,
               h.trigger,
               h.pushed_at
        FROM score_history h LEFT JOIN contacts c ON c.id = h.contact_id;
    """),
    # Contacts whose write-back plan may have changed since their last push (cache/push_dirty.py
    # says why nothing is missed). Triggers mark a contact when anything its plan reads changes:
    # its score, its score history (the scored_at written), its pulled row, its ledger rows.
    # A re-mark deletes and re-inserts, so it gets a new `seq` (AUTOINCREMENT never reuses one,
    # whatever conflict clause the outer statement has): a push clears only the mark it planned
    # from. Every scored contact starts marked: the first push plans them all.
    ("0014_push_dirty", """
        CREATE TABLE IF NOT EXISTS push_dirty (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            contact_id TEXT NOT NULL UNIQUE
        );
        CREATE TABLE IF NOT EXISTS push_plan_state (
            key TEXT PRIMARY KEY,
            value TEXT
        );
        INSERT OR REPLACE INTO push_dirty (contact_id) SELECT contact_id FROM scores;
        CREATE TRIGGER IF NOT EXISTS push_dirty_score_added AFTER INSERT ON scores
        BEGIN
            DELETE FROM push_dirty WHERE contact_id = NEW.contact_id;
            INSERT INTO push_dirty (contact_id) VALUES (NEW.contact_id);
        END;
        CREATE TRIGGER IF NOT EXISTS push_dirty_score_changed AFTER UPDATE ON scores
        BEGIN
            DELETE FROM push_dirty WHERE contact_id = NEW.contact_id;
            INSERT INTO push_dirty (contact_id) VALUES (NEW.contact_id);
        END;
        CREATE TRIGGER IF NOT EXISTS push_dirty_history_added AFTER INSERT ON score_history
        BEGIN
            DELETE FROM push_dirty WHERE contact_id = NEW.contact_id;
            INSERT INTO push_dirty (contact_id) VALUES (NEW.contact_id);
        END;
        CREATE TRIGGER IF NOT EXISTS push_dirty_history_moved
        AFTER UPDATE OF contact_id, changed_at ON score_history
        BEGIN
            DELETE FROM push_dirty WHERE contact_id = NEW.contact_id;
            INSERT INTO push_dirty (contact_id) VALUES (NEW.contact_id);
        END;
        CREATE TRIGGER IF NOT EXISTS push_dirty_contact_added AFTER INSERT ON contacts
        WHEN EXISTS (SELECT 1 FROM scores WHERE contact_id = NEW.id)
        BEGIN
            DELETE FROM push_dirty WHERE contact_id = NEW.id;
            INSERT INTO push_dirty (contact_id) VALUES (NEW.id);
        END;
        CREATE TRIGGER IF NOT EXISTS push_dirty_contact_changed AFTER UPDATE ON contacts
        WHEN EXISTS (SELECT 1 FROM scores WHERE contact_id = NEW.id)
        BEGIN
            DELETE FROM push_dirty WHERE contact_id = NEW.id;
            INSERT INTO push_dirty (contact_id) VALUES (NEW.id);
        END;
        CREATE TRIGGER IF NOT EXISTS push_dirty_ledger_removed AFTER DELETE ON pushed
        WHEN EXISTS (SELECT 1 FROM scores WHERE contact_id = OLD.contact_id)
        BEGIN
            DELETE FROM push_dirty WHERE contact_id = OLD.contact_id;
            INSERT INTO push_dirty (contact_id) VALUES (OLD.contact_id);
        END;
    """),
    # Claiming the oldest due events walked every due row and sorted them inside the write
    # transaction: with a backlog of 80,000 events that held the write lock for hundreds of
    # milliseconds, and the receiver's inserts waited behind it. This index yields them in
    # claim order, so a claim reads about as many rows as it takes.
    ("0015_inbox_due", """
        CREATE INDEX IF NOT EXISTS inbox_due ON inbox(occurred_at, id)
        WHERE status IN ('pending', 'failed');
    """),
    # The rolling association audit (connector/associations.py): when each contact's links to
    # every pulled type were last read, so each incremental pull re-reads the oldest first.
    # NULL (never read, or cached before this step) sorts first.
    ("0016_association_audit", """
        ALTER TABLE contacts ADD COLUMN links_verified_at TEXT;
        CREATE INDEX IF NOT EXISTS contacts_links_verified ON contacts(links_verified_at, id)
            WHERE archived = 0 AND merged_into IS NULL;
    """),
    # The rolling archived sweep (connector/pull.py): where each stream's `archived=true`
    # listing stands, so incremental pulls read a few pages each instead of all of them.
    ("0017_archive_sweep", """
        CREATE TABLE IF NOT EXISTS archive_sweep (
            stream TEXT PRIMARY KEY,
            after TEXT,
            cycle_started TEXT,
            pages INTEGER NOT NULL DEFAULT 0,
            last_pages INTEGER,
            last_completed TEXT,
            updated_at TEXT
        );
    """),
    # Company scores (scoring/company.py): the current score per company, its history, and
    # the write-back to company properties: a ledger and an outbox of their own
    # (connector/company_push.py), keyed by company id, since ids repeat across object types.
    ("0018_company_scores", """
        CREATE TABLE IF NOT EXISTS company_scores (
            company_id TEXT PRIMARY KEY REFERENCES companies(id),
            model_name TEXT NOT NULL,
            model_version TEXT NOT NULL,
            as_of TEXT NOT NULL,
            fit REAL NOT NULL,
            engagement REAL NOT NULL,
            total REAL NOT NULL,
            grade TEXT,
            reasons TEXT NOT NULL DEFAULT '[]',
            contacts INTEGER NOT NULL DEFAULT 0,
            scored_at TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS company_score_history (
            id INTEGER PRIMARY KEY,
            company_id TEXT NOT NULL REFERENCES companies(id),
            changed_at TEXT NOT NULL,
            as_of TEXT NOT NULL,
            model_name TEXT NOT NULL,
            model_version TEXT NOT NULL,
            trigger TEXT NOT NULL,
            old_total REAL,
            new_total REAL,
            old_grade TEXT,
            new_grade TEXT,
            reasons TEXT NOT NULL DEFAULT '[]',
            run_id INTEGER,
            pushed_at TEXT
        );
        CREATE INDEX IF NOT EXISTS company_score_history_company
            ON company_score_history(company_id, id);
        CREATE TABLE IF NOT EXISTS company_pushed (
            company_id TEXT NOT NULL,
            property TEXT NOT NULL,
            value TEXT,
            pushed_at TEXT NOT NULL,
            run_id INTEGER,
            PRIMARY KEY (company_id, property)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS company_outbox (
            id INTEGER PRIMARY KEY,
            company_id TEXT NOT NULL,
            properties TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            batch TEXT,
            run_id INTEGER,
            error TEXT,
            retriable INTEGER,
            history_upto INTEGER,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS company_outbox_open ON company_outbox(status)
            WHERE status IN ('pending', 'sent', 'failed');
    """),
    # Several models (scoring/models.py): a score per (contact, model). `model` is the config's
    # name for the model ([[models]] name; "default" without [[models]]), so the rows scored
    # before stay the default model's. History rows say which model moved. The table is
    # rebuilt without renaming one: the views above name `scores`, and SQLite refuses a
    # rename while a view names a table that is gone. Dropping the table dropped the push_dirty
    # triggers on it (0014): they are created again (and a removed score marks its contact).
    # The browse views (0013) gain `scored_by`, the config's model name: contacts_view has a
    # row per contact and model (a contact no model scores: one row, scored_by NULL).
    # `scores.contact_id` (like `company_scores.company_id` in 0018) declares the record it
    # belongs to, so Datasette and other browsers link a score to its contact. Declared, not
    # enforced: SQLite checks foreign keys only with PRAGMA foreign_keys, which leadsync leaves off.
    ("0019_scores_per_model", """
        CREATE TABLE scores_before_models AS SELECT * FROM scores;
        DROP TABLE scores;
        CREATE TABLE scores (
            contact_id TEXT NOT NULL REFERENCES contacts(id),
            model_name TEXT NOT NULL,
            model_version TEXT NOT NULL,
            as_of TEXT NOT NULL,
            fit REAL NOT NULL,
            engagement REAL NOT NULL,
            total REAL NOT NULL,
            grade TEXT,
            stage TEXT,
            inactive INTEGER NOT NULL DEFAULT 0,
            reasons TEXT NOT NULL DEFAULT '[]',
            scored_at TEXT NOT NULL,
            followup TEXT,
            model TEXT NOT NULL DEFAULT 'default',
            PRIMARY KEY (contact_id, model)
        ) WITHOUT ROWID;
        INSERT INTO scores
        SELECT contact_id, model_name, model_version, as_of, fit, engagement, total, grade, stage,
               inactive, reasons, scored_at, followup, 'default'
        FROM scores_before_models;
        DROP TABLE scores_before_models;
        ALTER TABLE score_history ADD COLUMN model TEXT NOT NULL DEFAULT 'default';
        CREATE TRIGGER IF NOT EXISTS push_dirty_score_added AFTER INSERT ON scores
        BEGIN
            DELETE FROM push_dirty WHERE contact_id = NEW.contact_id;
            INSERT INTO push_dirty (contact_id) VALUES (NEW.contact_id);
        END;
        CREATE TRIGGER IF NOT EXISTS push_dirty_score_changed AFTER UPDATE ON scores
        BEGIN
            DELETE FROM push_dirty WHERE contact_id = NEW.contact_id;
            INSERT INTO push_dirty (contact_id) VALUES (NEW.contact_id);
        END;
        CREATE TRIGGER IF NOT EXISTS push_dirty_score_removed AFTER DELETE ON scores
        BEGIN
            DELETE FROM push_dirty WHERE contact_id = OLD.contact_id;
            INSERT INTO push_dirty (contact_id) VALUES (OLD.contact_id);
        END;
        DROP VIEW IF EXISTS contacts_view;
        CREATE VIEW contacts_view AS
        SELECT CAST(c.id AS INTEGER) AS contact_id,
               c.email,
               NULLIF(TRIM(COALESCE(json_extract(c.properties, '$.firstname'), '') || ' ' ||
                           COALESCE(json_extract(c.properties, '$.lastname'), '')), '') AS name,
               json_extract(c.properties, '$.jobtitle') AS job_title,
               COALESCE((SELECT json_extract(co.properties, '$.name')
                         FROM associations a JOIN companies co ON co.id = a.to_id
                         WHERE a.from_type = 'contacts' AND a.from_id = c.id
                           AND a.to_type = 'companies' AND a.type_id = 1 LIMIT 1),
                        json_extract(c.properties, '$.company')) AS company,
               json_extract(c.properties, '$.hs_analytics_source') AS source,
               json_extract(c.properties, '$.lifecyclestage') AS stage,
               s.stage AS scored_stage,
               s.total AS score,
               s.fit,
               s.engagement,
               s.grade,
               CASE s.inactive WHEN 1 THEN 'yes' WHEN 0 THEN 'no' END AS inactive,
               s.model_name || ' ' || s.model_version AS model,
               s.model AS scored_by,
               s.scored_at,
               substr(COALESCE(c.created_at, json_extract(c.properties, '$.createdate')), 1, 10)
                   AS created
        FROM contacts c LEFT JOIN scores s ON s.contact_id = c.id
        WHERE c.archived = 0 AND c.merged_into IS NULL;
        DROP VIEW IF EXISTS score_changes_view;
        CREATE VIEW score_changes_view AS
        SELECT h.id AS change_id,
               CAST(h.contact_id AS INTEGER) AS contact_id,
               c.email,
               h.changed_at,
               h.as_of,
               h.old_total,
               h.new_total,
               ROUND(COALESCE(h.new_total, 0) - COALESCE(h.old_total, 0), 1) AS change,
               h.old_grade,
               h.new_grade,
               h.old_stage,
               h.new_stage,
               (SELECT group_concat(words, '; ') FROM (
                    SELECT json_extract(r.value, '$[0]') || ' ' ||
                           CASE WHEN json_extract(r.value, '$[2]') >= 0 THEN '+' ELSE '' END ||
                           CASE WHEN json_extract(r.value, '$[2]')
                                     = CAST(json_extract(r.value, '$[2]') AS INTEGER)
                                THEN CAST(CAST(json_extract(r.value, '$[2]') AS INTEGER) AS TEXT)
                                ELSE printf('%.1f', json_extract(r.value, '$[2]')) END AS words
                    FROM json_each(CASE WHEN json_valid(h.reasons) THEN h.reasons ELSE '[]' END) r
                    WHERE json_extract(r.value, '$[3]') != 0
                    ORDER BY abs(json_extract(r.value, '$[2]')) DESC, r.key)) AS reasons,
               h.model_name || ' ' || h.model_version AS model,
               h.model AS scored_by,
               h.trigger,
               h.pushed_at
        FROM score_history h LEFT JOIN contacts c ON c.id = h.contact_id;
    """),
    # A rescore writes a contact's score row and history row for every model it is in: each
    # fired a trigger deleting and re-inserting the contact's push_dirty mark, six times per
    # contact with three models (a third of a full rescore's time). The rescore now sets
    # `defer_marks` inside its chunk transaction, writes, marks each contact it touched once,
    # and clears the flag before committing; no other connection ever sees the flag, so every
    # other writer still marks row by row.
    ("0020_deferred_marks", """
        DROP TRIGGER IF EXISTS push_dirty_score_added;
        DROP TRIGGER IF EXISTS push_dirty_score_changed;
        DROP TRIGGER IF EXISTS push_dirty_score_removed;
        DROP TRIGGER IF EXISTS push_dirty_history_added;
        DROP TRIGGER IF EXISTS push_dirty_history_moved;
        CREATE TRIGGER push_dirty_score_added AFTER INSERT ON scores
        WHEN NOT EXISTS (SELECT 1 FROM push_plan_state WHERE key = 'defer_marks')
        BEGIN
            DELETE FROM push_dirty WHERE contact_id = NEW.contact_id;
            INSERT INTO push_dirty (contact_id) VALUES (NEW.contact_id);
        END;
        CREATE TRIGGER push_dirty_score_changed AFTER UPDATE ON scores
        WHEN NOT EXISTS (SELECT 1 FROM push_plan_state WHERE key = 'defer_marks')
        BEGIN
            DELETE FROM push_dirty WHERE contact_id = NEW.contact_id;
            INSERT INTO push_dirty (contact_id) VALUES (NEW.contact_id);
        END;
        CREATE TRIGGER push_dirty_score_removed AFTER DELETE ON scores
        WHEN NOT EXISTS (SELECT 1 FROM push_plan_state WHERE key = 'defer_marks')
        BEGIN
            DELETE FROM push_dirty WHERE contact_id = OLD.contact_id;
            INSERT INTO push_dirty (contact_id) VALUES (OLD.contact_id);
        END;
        CREATE TRIGGER push_dirty_history_added AFTER INSERT ON score_history
        WHEN NOT EXISTS (SELECT 1 FROM push_plan_state WHERE key = 'defer_marks')
        BEGIN
            DELETE FROM push_dirty WHERE contact_id = NEW.contact_id;
            INSERT INTO push_dirty (contact_id) VALUES (NEW.contact_id);
        END;
        CREATE TRIGGER push_dirty_history_moved
        AFTER UPDATE OF contact_id, changed_at ON score_history
        WHEN NOT EXISTS (SELECT 1 FROM push_plan_state WHERE key = 'defer_marks')
        BEGIN
            DELETE FROM push_dirty WHERE contact_id = NEW.contact_id;
            INSERT INTO push_dirty (contact_id) VALUES (NEW.contact_id);
        END;
    """),
    # Which models' history rows a contact's write stamps `pushed_at` (connector/outbox.py):
    # a JSON list of model names, on the row that carries `history_upto`. Shadow models whose
    # values are not written keep `pushed_at` empty. NULL (rows filed before): every model's.
    ("0021_outbox_history_models", """
        ALTER TABLE outbox ADD COLUMN history_models TEXT;
    """),
]
