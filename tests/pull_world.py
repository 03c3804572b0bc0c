"""A pull against a seeded sandbox: every stream, and a client sharing one rate budget."""
from __future__ import annotations

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_none

from connector import failures
from connector.client import HubSpot
from connector.ratelimit import Budget, Limiter
from mappings.streams import select
from sandbox import Sandbox

ALL = select(("contacts", "companies", "calls", "emails", "meetings", "notes", "tasks"))


def live_contacts(sb: Sandbox, n: int) -> list[int]:
    """The first `n` live contact ids of the seeded portal."""
    ids = [int(r["id"]) for r in sb.portal.truth("contacts") if not r["archived"] and not r["mergedInto"]]
    return ids[:n]


BUDGETS: dict[int, Budget] = {}


def make_client(sb: Sandbox, *, token: str | None = None, interval: float = 10.0) -> HubSpot:
    """A fresh client (fresh counters) sharing one rate budget per sandbox, as the threads of
    one process do: back-to-back pulls must not trip the search limit the budget knows of."""
    retrying = Retrying(retry=retry_if_exception(failures.is_retriable), wait=wait_none(),
                        stop=stop_after_attempt(6), reraise=True)
    budget = BUDGETS.setdefault(id(sb), Budget(Limiter(190, interval), Limiter(5, 1.0)))
    budget.ten_secondly.interval = interval
    return HubSpot(base_url=sb.base_url, token=token or sb.token, budget=budget, concurrency=8,
                   retrying=retrying)
