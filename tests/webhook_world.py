"""A primed sandbox + cache (setup, pulled, scored, pushed), a receiver and a worker, for
webhook tests over real HTTP. Everything started here is stopped and closed by `close()`."""
from __future__ import annotations

import itertools
import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from writeback_world import BATCH_ROUTE, make_client

from cache import inbox
from flows.sync import run_setup, run_sync
from foundation.settings import Settings
from sandbox import Sandbox
from webhooks.receiver import Receiver, ReceiverConfig, Server, create_server
from webhooks.worker import Worker, WorkerConfig, open_worker

SECRET = "webhook-world-secret-5e6f"
_EVENT_IDS = itertools.count(1)
FAST = WorkerConfig(window=0.05, poll=0.02)
# Contacts whose demo request lifts them from lead to MQL (seed 11, 100 contacts).
CANDIDATES = """
    SELECT s.contact_id FROM scores s JOIN contacts c ON c.id = s.contact_id
    WHERE s.stage = 'lead' AND s.fit >= 12 AND s.total BETWEEN 30 AND 54.9 AND s.engagement <= 35
      AND s.reasons NOT LIKE '%Demo request%'
      AND json_extract(c.properties, '$.lifecyclestage') IN ('lead', 'subscriber')
    ORDER BY CAST(s.contact_id AS INTEGER)"""


@dataclass
class WebhookWorld:
    sb: Sandbox
    db_path: str
    settings: Settings
    server: Server | None = None
    app: Receiver | None = None
    worker: Worker | None = None
    _threads: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def primed(cls, db_path: str, *, contacts: int = 100, seed: int = 11) -> WebhookWorld:
        sb = Sandbox(contacts=contacts, seed=seed).start()
        settings = Settings(base_url=sb.base_url)
        client = make_client(sb)
        run_setup(db_path, settings, lambda: client)
        run_sync(db_path, settings, lambda: client, quiet=True)
        return cls(sb, db_path, settings)

    # -- pieces ---------------------------------------------------------------------------

    def serve(self) -> str:
        """Start the receiver on a free port; returns the webhook URL."""
        self.app = Receiver(self.db_path, ReceiverConfig(secret=SECRET))
        self.app.prepare()
        self.server = create_server(self.app, port=0, threads=4)
        thread = threading.Thread(target=self.server.run, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self.server.url + "/webhooks/hubspot"

    def open_worker(self, config: WorkerConfig = FAST, **kwargs) -> Worker:
        self.worker = open_worker(self.db_path, self.settings, lambda: make_client(self.sb),
                                  config=config, **kwargs)
        return self.worker

    def start_worker(self, config: WorkerConfig = FAST) -> Worker:
        worker = self.open_worker(config)
        worker.start()
        return worker

    def emit_to(self, url: str, **options) -> None:
        self.sb.webhooks.configure(url=url, client_secret=SECRET, batch_window_ms=20, **options)

    def file(self, *events: dict) -> int:
        """Append events to the inbox as the receiver would; returns how many were new."""
        cache = self.worker.cache
        return inbox.append(cache, [inbox.event_from_json(e) for e in events],
                            datetime.now(timezone.utc))

    def close(self) -> None:
        self.sb.webhooks.disable()
        if self.worker is not None:
            self.worker.stop()
        if self.server is not None:
            self.server.stop()
        for thread in self._threads:
            thread.join(5)
        if self.app is not None:
            self.app.close()
        self.sb.stop()

    # -- reading the outcome ---------------------------------------------------------------

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        conn = sqlite3.connect(self.db_path)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def candidates(self) -> list[str]:
        return [r[0] for r in self.query(CANDIDATES)]

    def hubspot(self, contact_id: str) -> dict[str, str]:
        return dict(self.sb.portal.get("contacts", contact_id).properties)

    def cached(self, contact_id: str) -> dict:
        return json.loads(self.query("SELECT properties FROM contacts WHERE id = ?",
                                     (contact_id,))[0][0])

    def score(self, contact_id: str) -> tuple:
        return self.query("SELECT total, grade, stage FROM scores WHERE contact_id = ?",
                          (contact_id,))[0]

    def history(self, contact_id: str, trigger: str = "webhook") -> list[tuple]:
        return self.query("SELECT old_total, new_total, old_stage, new_stage FROM score_history "
                          "WHERE contact_id = ? AND trigger = ? ORDER BY id", (contact_id, trigger))

    def inbox(self) -> list[tuple]:
        return self.query("SELECT subscription_type, object_id, status, error FROM inbox "
                          "ORDER BY id")

    def write_calls(self) -> int:
        return self.sb.stats()["by_route"].get(BATCH_ROUTE, 0)

    def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> float:
        """Seconds until `condition()` held; AssertionError after `timeout`."""
        started = time.monotonic()
        while not condition():
            if time.monotonic() - started > timeout:
                raise AssertionError(f"condition not met within {timeout} s")
            time.sleep(0.02)
        return time.monotonic() - started

    def settled(self) -> bool:
        """The emitter has nothing left to send and the inbox nothing left to process."""
        return (self.sb.webhooks.wait_idle(0) and
                self.query("SELECT count(*) FROM inbox WHERE status IN ('pending', 'failed')")
                == [(0,)])


def event(kind: str, object_id: int | str, *, at: int | None = None, **extra) -> dict:
    """A HubSpot webhook event as the sandbox's emitter shapes it."""
    return {"eventId": next(_EVENT_IDS), "subscriptionId": 1000, "portalId": 62515,
            "appId": 54321, "occurredAt": at if at is not None else int(time.time() * 1000),
            "subscriptionType": f"contact.{kind}", "attemptNumber": 0,
            "objectId": int(object_id), "changeSource": "CRM", **extra}


def changed(object_id: int | str, name: str, value: str, **extra) -> dict:
    return event("propertyChange", object_id, propertyName=name, propertyValue=value, **extra)
