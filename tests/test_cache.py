import sqlite3

import pytest

from connector.cache import open_cache
from connector.errors import CacheError
from connector.schema import MIGRATIONS


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
    with pytest.raises(CacheError, match="does not exist; create it or pass --db"):
        open_cache(tmp_path / "missing" / "c.db")


def test_a_file_that_is_not_sqlite_is_refused(tmp_path):
    path = tmp_path / "c.db"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(CacheError, match="cannot open the cache"):
        open_cache(path)
    assert path.read_bytes() == b"not a database" * 100


def test_a_failing_migration_leaves_nothing_half_applied(tmp_path, monkeypatch):
    from connector import cache as cache_mod
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
