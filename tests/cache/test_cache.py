import sqlite3

import pytest

from cache.database import open_cache
from cache.schema import MIGRATIONS
from foundation.errors import CacheError, ConfigError


def test_open_applies_every_migration_once_and_uses_wal(tmp_path):
    cache = open_cache(tmp_path / "c.db")
    assert cache.migrations() == sorted(name for name, _ in MIGRATIONS)
    assert cache.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    cache.close()
    again = open_cache(tmp_path / "c.db")
    assert again.conn.execute("SELECT count(*) FROM _migrations").fetchone()[0] == len(MIGRATIONS)
    again.close()


def test_transaction_rolls_back_everything_on_error(tmp_path):
    cache = open_cache(tmp_path / "c.db")
    with pytest.raises(RuntimeError):
        with cache.transaction() as conn:
            conn.execute("INSERT INTO contacts (id) VALUES ('1')")
            raise RuntimeError("boom")
    assert cache.conn.execute("SELECT count(*) FROM contacts").fetchone()[0] == 0
    cache.close()


def test_run_records_outcome_calls_and_error(tmp_path):
    cache = open_cache(tmp_path / "c.db")
    with cache.run("pull") as run:
        run.api_calls = 7
    with pytest.raises(CacheError):
        with cache.run("push"):
            raise CacheError("disk full")
    rows = cache.conn.execute("SELECT command, outcome, api_calls, details FROM runs ORDER BY id").fetchall()
    assert rows == [("pull", "ok", 7, "{}"), ("push", "failed", 0, '{"error": "disk full"}')]
    cache.close()


def test_unwritable_location_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match="missing does not exist; create the folder or pass another --db"):
        open_cache(tmp_path / "missing" / "c.db")


def test_a_file_that_is_not_sqlite_is_refused(tmp_path):
    path = tmp_path / "c.db"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(CacheError, match="cannot open the cache"):
        open_cache(path)
    assert path.read_bytes() == b"not a database" * 100


def test_a_failing_migration_leaves_nothing_half_applied(tmp_path, monkeypatch):
    from cache import database as cache_mod
    broken = MIGRATIONS + [("9999_broken", "CREATE TABLE half (x INTEGER); SELECT nonsense FROM nowhere")]
    monkeypatch.setattr(cache_mod, "MIGRATIONS", broken)
    conn = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
    with pytest.raises(sqlite3.OperationalError):
        cache_mod.migrate(conn)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "half" not in tables and "contacts" in tables
    monkeypatch.setattr(cache_mod, "MIGRATIONS", MIGRATIONS)
    assert cache_mod.migrate(conn) == []
    conn.close()


def cache_before(path, migration: str) -> sqlite3.Connection:
    """A cache as leadsync left it before `migration` existed."""
    from cache import contact_events
    conn = sqlite3.connect(path, isolation_level=None)
    contact_events.register(conn)  # functions the 0009 migration's statements call
    conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, sql in MIGRATIONS[:[n for n, _ in MIGRATIONS].index(migration)]:
        conn.executescript(sql)
        conn.execute("INSERT INTO _migrations VALUES (?, 'then')", (name,))
    return conn


def test_scores_move_to_a_clustered_table_with_every_row(tmp_path):
    from cache.database import migrate
    conn = cache_before(tmp_path / "old.db", "0010_scores_clustered")
    rows = [("7", "starter", "1", "2026-11-22T00:00:00.000Z", 20.0, 5.5, 25.5, "B2", "lead", 0,
             '[["VP","fit",20.0,1]]', "2026-11-22T01:00:00.000Z"),
            ("10", "starter", "1", "2026-11-22T00:00:00.000Z", -5.0, 0.0, 0.0, None, None, 1,
             "[]", "2026-11-22T01:00:00.000Z")]
    conn.executemany(f"INSERT INTO scores VALUES ({','.join('?' * 12)})", rows)
    assert migrate(conn) == names_from("0010_scores_clustered")
    # Later migrations add columns after these twelve (0012: followup, NULL here).
    assert [row[:12] for row in conn.execute("SELECT * FROM scores ORDER BY contact_id")] == \
        sorted(rows)
    # 0014_push_dirty marks every contact scored before it: the next push plans them all
    assert {r[0] for r in conn.execute("SELECT contact_id FROM push_dirty")} == {
        row[0] for row in rows}
    with pytest.raises(sqlite3.OperationalError, match="no such column: rowid"):
        conn.execute("SELECT rowid FROM scores")
    assert migrate(conn) == []


def test_reasons_written_as_objects_become_arrays_in_scores_and_history(tmp_path):
    from cache.database import migrate
    conn = cache_before(tmp_path / "old.db", "0011_compact_reasons")
    old = ('[{"rule":"Title \\"VP\\" é","section":"fit","points":20.0,"occurrences":1},'
           '{"rule":"Meetings","section":"engagement","points":0.30000000000000004,"occurrences":3}]')
    new = '[["Title \\"VP\\" é","fit",20.0,1],["Meetings","engagement",0.30000000000000004,3]]'
    conn.executemany(f"INSERT INTO scores VALUES ({','.join('?' * 12)})", [
        ("7", "m", "1", "t", 20.3, 0.3, 20.6, None, None, 0, old, "t"),
        ("8", "m", "1", "t", 0.0, 0.0, 0.0, None, None, 0, "[]", "t")])
    conn.executemany("INSERT INTO score_history (contact_id, changed_at, as_of, model_name, "
                     "model_version, trigger, reasons) VALUES (?, 't', 't', 'm', '1', 'score', ?)",
                     [("7", old), ("7", new), ("8", "[]"), ("8", '[{"rule": broken')])
    assert migrate(conn) == names_from("0011_compact_reasons")
    assert conn.execute("SELECT reasons FROM scores ORDER BY contact_id").fetchall() == [
        (new,), ("[]",)]
    assert conn.execute("SELECT reasons FROM score_history ORDER BY id").fetchall() == [
        (new,), (new,), ("[]",), ('[{"rule": broken',)]


def names_from(first: str) -> list[str]:
    """The names of the migrations from `first` on (later ones are applied with it)."""
    names = [name for name, _ in MIGRATIONS]
    return names[names.index(first):]


def test_contacts_cached_before_the_audit_have_never_been_verified(tmp_path):
    from cache.database import migrate
    conn = cache_before(tmp_path / "old.db", "0016_association_audit")
    conn.executemany("INSERT INTO contacts (id, archived) VALUES (?, ?)", [("1", 0), ("2", 1)])
    assert migrate(conn) == names_from("0016_association_audit")
    assert conn.execute("SELECT id, links_verified_at FROM contacts ORDER BY id").fetchall() == [
        ("1", None), ("2", None)]
    plan = " ".join(r[3] for r in conn.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM contacts WHERE archived = 0 AND merged_into IS NULL "
        "ORDER BY links_verified_at, id LIMIT 10"))
    assert "USING INDEX contacts_links_verified" in plan and "TEMP B-TREE" not in plan
    assert conn.execute("SELECT count(*) FROM archive_sweep").fetchone() == (0,)


def test_scores_declare_the_contact_or_company_they_belong_to(tmp_path):
    cache = open_cache(tmp_path / "c.db")
    keys = {(table, row[2], row[3], row[4]) for table in
            ("scores", "company_scores", "company_score_history")
            for row in cache.conn.execute(f"PRAGMA foreign_key_list({table})")}
    assert keys == {("scores", "contacts", "contact_id", "id"),
                    ("company_scores", "companies", "company_id", "id"),
                    ("company_score_history", "companies", "company_id", "id")}
    # Declared for browsers (Datasette links a score to its contact), not enforced.
    assert cache.conn.execute("PRAGMA foreign_keys").fetchone() == (0,)
    cache.close()
