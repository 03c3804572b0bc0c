"""The SQLite cache: one file in WAL mode, named migrations, run records.

Everything leadsync knows lives here (records, watermarks, scores, history, the pushed
ledger, outbox and inbox) so that a crash at any point leaves a state the next run resumes.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import sqlite_utils

from cache import contact_events
from cache.schema import MIGRATIONS
from foundation.errors import CacheError, ConfigError, NoCache


def utcnow() -> str:
    """Now as the ISO-8601 UTC text the cache stores everywhere (millisecond precision)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Cache:
    """An open cache. `db` is the sqlite-utils Database; `conn` its sqlite3 connection."""

    db: sqlite_utils.Database
    path: str
    # One writer: threads of a run share the connection, one transaction at a time.
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit (BEGIN IMMEDIATE): committed on success, rolled back on any exception.

        Write with `conn.execute*` inside it, not sqlite-utils' insert/upsert: those commit on
        their own and would split the unit (rows and their watermark must land together).
        """
        conn = self.conn
        with self.lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every read inside sees the cache as of the first one, whatever
        other processes commit meanwhile (WAL), and takes no lock that would stop them."""
        conn = self.conn
        with self.lock:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("ROLLBACK")

    def close(self) -> None:
        with self.lock:  # never under a thread's open transaction (a stop leaves some running)
            self.conn.close()

    def start_run(self, command: str) -> int:
        """Record that `command` started; returns the run id."""
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO runs (command, started_at, outcome, pid) VALUES (?, ?, 'running', ?)",
                (command, utcnow(), os.getpid()))
            return cur.lastrowid

    def finish_run(self, run_id: int, outcome: str, *, api_calls: int = 0, records: int = 0,
                   details: dict | None = None) -> None:
        """Record how run `run_id` ended: outcome is 'ok', 'failed' or 'interrupted'."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET ended_at = ?, outcome = ?, api_calls = ?, records = ?, details = ? "
                "WHERE id = ?",
                (utcnow(), outcome, api_calls, records,
                 json.dumps(details, sort_keys=True) if details is not None else None, run_id))

    @contextmanager
    def run(self, command: str) -> Iterator["RunRecord"]:
        """Record a command in `runs`: 'ok' on success, 'interrupted' on Ctrl-C, else 'failed'."""
        record = RunRecord(self.start_run(command))
        outcome = "failed"
        try:
            yield record
            outcome = "ok"
        except KeyboardInterrupt:
            outcome = "interrupted"
            raise
        except Exception as exc:
            # Library errors carry one-line messages that never include the token.
            record.details["error"] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise
        finally:
            self.finish_run(record.id, outcome, api_calls=record.api_calls, records=record.records,
                            details=record.details)

    def migrations(self) -> list[str]:
        return [row[0] for row in self.conn.execute("SELECT name FROM _migrations ORDER BY name")]


@dataclass
class RunRecord:
    """What a running command reports about itself; saved when the run ends."""

    id: int
    api_calls: int = 0
    records: int = 0
    details: dict = field(default_factory=dict)


def require_cache(path: str | os.PathLike) -> str:
    """`path` if a cache file is there; NoCache otherwise (read-only commands create nothing)."""
    path = str(path)
    if path != ":memory:" and not Path(path).is_file():
        raise NoCache(f"no cache at {path}; run `leadsync pull` first (or pass --db)")
    return path


def check_folder(path: str) -> None:
    """ConfigError unless the folder that holds the cache `path` exists."""
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        what = "is not a folder" if parent.exists() else "does not exist"
        raise ConfigError(f"{path}: {parent} {what}; create the folder or pass another --db")


def is_damaged(exc: BaseException) -> bool:
    """True for SQLite's answer about a cache whose pages are corrupt ("database disk image
    is malformed"); a file that is no database at all is more likely a wrong --db."""
    text = str(exc)
    return isinstance(exc, sqlite3.DatabaseError) and "malformed" in text


def damaged(path: str, exc: BaseException) -> CacheError:
    """The one-line error for a corrupt cache file: keep it, rebuild into a new one."""
    return CacheError(f"the cache {path} is damaged ({exc}); keep it for inspection and "
                      f"rebuild into a new file: leadsync --db NEW.db pull --full")


def open_cache(path: str | os.PathLike) -> Cache:
    """Open (creating if needed) the cache at `path` and apply pending migrations."""
    path = str(path)
    if path != ":memory:":
        check_folder(path)
    # Autocommit mode: transactions are explicit (Cache.transaction), never implicit.
    try:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise CacheError(f"{path}: cannot open the cache ({exc}); check the path is writable") from None
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        db = sqlite_utils.Database(conn)
        migrate(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if is_damaged(exc):
            raise damaged(path, exc) from None
        raise CacheError(f"{path}: cannot open the cache ({exc}); check the path is writable "
                         f"and is a leadsync cache") from None
    return Cache(db=db, path=path)


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply every migration not yet recorded; returns the names applied now."""
    contact_events.register(conn)  # the contact_events triggers call these functions
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    applied = []
    done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    for name, sql in MIGRATIONS:
        if name in done:  # no write lock for a cache that is up to date: readers never wait
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Checked inside the write lock: two processes opening a new cache apply each step once.
            if conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                conn.execute("ROLLBACK")
                continue
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, utcnow()))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        applied.append(name)
    return applied


def _statements(sql: str) -> list[str]:
    """The statements of a migration; a trigger's body (BEGIN … END) stays whole."""
    statements, pending = [], ""
    for piece in sql.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                statements.append(pending.strip())
            pending = ""
    if pending.strip(" \n;"):
        statements.append(pending.strip())
    return statements
