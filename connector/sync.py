"""The commands' one-call entry points: take the run lock, open the cache, record the run."""
from __future__ import annotations

from datetime import timedelta
from typing import Callable

from connector.cache import open_cache
from connector.client import HubSpot
from connector.lock import run_lock
from connector.offline import load_export
from connector.progress import StreamProgress
from connector.pull import PullSummary, pull
from connector.settings import Settings
from mappings.streams import select


def run_pull(db_path: str, settings: Settings, client_factory: Callable[[], HubSpot], *,
             streams: tuple[str, ...], full: bool = False, from_json: str | None = None,
             wait: float = 0.0, quiet: bool = False) -> PullSummary:
    """`leadsync pull`: one locked, recorded pull (or offline load of an export)."""
    chosen = select(tuple(streams), settings.extra_properties)
    with run_lock(db_path, "pull", wait=wait):
        cache = open_cache(db_path)
        with cache.run("pull") as run:
            if from_json:
                summary = PullSummary(streams=load_export(cache, from_json, chosen))
                summary.modes = {name: "from-json" for name in summary.streams}
            else:
                client = client_factory()
                progress = StreamProgress.for_terminal(quiet)
                try:
                    summary = pull(cache, client, chosen, full=full,
                                   overlap=timedelta(minutes=settings.overlap_minutes),
                                   concurrency=settings.concurrency, progress=progress)
                finally:
                    if progress:
                        progress.close()
            run.api_calls = summary.api_calls
            run.records = sum(t.new + t.changed + t.archived for t in summary.streams.values())
            run.details = summary.as_dict()
        cache.close()
    return summary
