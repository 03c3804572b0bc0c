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


def saved(cache, table: str = "contacts", where: str = "archived = 0 AND merged_into IS NULL") -> list[str]:
    return [r[0] for r in cache.conn.execute(
        f"SELECT id FROM {table} WHERE {where} AND pulled_at IS NOT NULL ORDER BY CAST(id AS INTEGER)")]


def change_during_outage(sb: Sandbox, cache) -> dict[str, str]:
    """Edit, archive, merge, restore and re-link records the killed run had already saved."""
    portal = sb.portal
    contacts = saved(cache)
    assert len(contacts) >= 8
    done = {}
    edited, archived, survivor, merged, moved = contacts[0], contacts[1], contacts[2], contacts[3], contacts[-1]
    portal.update("contacts", edited, {"jobtitle": "Changed during the outage"})
    portal.archive("contacts", archived)
    portal.merge("contacts", survivor, merged)
    verified = [r[0] for r in cache.conn.execute(
        "SELECT id FROM contacts WHERE links_verified_at IS NOT NULL AND archived = 0 "
        "AND merged_into IS NULL ORDER BY id LIMIT 1")]
    if verified:  # its links were read before the kill; the move changes no modified date
        moved = verified[0]
    target = next(r["id"] for r in portal.truth("companies") if not r["archived"]
                  and not r["mergedInto"]
                  and int(r["id"]) not in portal.links.targets("contacts", int(moved), "companies"))
    portal.move("contacts", moved, "companies", target)
    done["moved"] = moved
    tombstones = saved(cache, where="archived = 1 AND merged_into IS NULL")
    if tombstones:
        portal.restore("contacts", tombstones[0])
        done["restored"] = tombstones[0]
    portal.create("contacts", {"email": "new.during.outage@example.com", "firstname": "New"})
    companies = saved(cache, "companies")
    if companies:
        portal.update("companies", companies[0], {"industry": "BANKING"})
    calls = saved(cache, "engagements", "type = 'calls' AND archived = 0")
    if calls:
        portal.update("calls", calls[0], {"hs_call_status": "NO_ANSWER"})
        portal.archive("calls", calls[-1])
    return done
