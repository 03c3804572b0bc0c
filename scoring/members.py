"""A company's members as the company model sees them, gathered as the contacts' pass goes. Pure.

A full rescore reads every live contact once for the contact models (cache/contact_reader.py).
With a company model, that same pass reduces each contact to its `Mark` (scoring/company.py:
its engagement from the model in charge, and which buying-group rules it matches) and files
it under each company the contact is associated with. The companies are then scored from
their marks without reading their contacts again. A per-company rescore (webhooks, `explain
--company`) reads the members of the companies it scores (cache/company_reader.py) and marks
them one by one (`days_since`, then the buying-group conditions); the pass marks a chunk at a
time (`MemberMarks._days`, then the same conditions as masks over the chunk's columns: the
batch scorer's twin of the engine's conditions, as for contact rules).
tests/analysis/test_company_members.py checks that both give the same company scores.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Sequence

import numpy as np

from scoring.batch import Chunk, Frame, later_dates
from scoring.company import Mark, company_marks
from scoring.company_model import CompanyModel
from scoring.engine import DAY, epoch
from scoring.properties import ENGAGEMENT_KINDS, to_epoch


def member_names(model: CompanyModel) -> tuple[str, ...]:
    """The contact properties a company model reads of its members (with the activity date
    properties when a rule reads recency, and `email`)."""
    names = set(model.properties_used.get("contacts", ()))
    if model.reads_recency:
        names.update(activity_dates(model))
    return tuple(sorted(names | {"email"}))


def activity_kinds(model: CompanyModel) -> tuple[str, ...]:
    """The engagement kinds that count as a member's activity, sorted."""
    return tuple(sorted(a for a in model.activity if a in ENGAGEMENT_KINDS))


def activity_dates(model: CompanyModel) -> tuple[str, ...]:
    """The contact date properties that count as a member's activity."""
    return tuple(a for a in model.activity if a not in ENGAGEMENT_KINDS)


def days_since(properties: Mapping[str, Any], dates: Sequence[str], latest: float | None,
               now: float) -> float | None:
    """Days from a member's last activity to `now`: the later of its latest activity event
    at or before `now` (`latest`) and its activity date properties at or before `now`."""
    last = latest
    for name in dates:
        at = to_epoch(properties.get(name))
        if at is not None and at <= now and (last is None or at > last):
            last = at
    return None if last is None else (now - last) / DAY


class MemberMarks:
    """Each company's members' marks, filed chunk by chunk during a full contacts' pass.

    `complete` is set by the pass once every live contact went through `add`; until then
    (or when the pass could not gather them: see analysis/rescore.py) the companies read
    their members from the cache instead."""

    def __init__(self, model: CompanyModel, as_of: datetime) -> None:
        self.compiled = company_marks(model, as_of)
        self.now = epoch(as_of)
        self.names = member_names(model)
        self.kinds = activity_kinds(model)
        self.dates = activity_dates(model)
        self.recency = model.reads_recency
        self.by_company: dict[str, list[Mark]] = {}
        self._shared: dict[Mark, Mark] = {}
        self.complete = False

    def restart(self) -> None:
        """Forget what an earlier pass filed (a new pass is starting)."""
        self.by_company.clear()
        self._shared.clear()
        self.complete = False

    def add(self, ids: Sequence[str], chunk: Chunk, engagement: Sequence[float | None],
            links: Sequence[str | None]) -> None:
        """One chunk of the contacts' pass: its contacts (columns with the member properties,
        `latest`: each one's latest activity event of the model's kinds, NaN: none), their
        engagement (None: not scored by the model in charge) and company ids."""
        days: Sequence[float | None] = [None] * len(ids)
        if self.recency:
            days = [None if d != d else d for d in self._days(chunk).tolist()]
        marks = self.compiled.mark_chunk(chunk, engagement, days)
        files, shared = self.by_company, self._shared
        for companies, marked in zip(links, marks):
            if companies:
                # Marks repeat (engagement is rounded to 0.1): keep one object per value, so
                # a million contacts cost their list slots, not a million tuples.
                marked = shared.setdefault(marked, marked)
                for company_id in companies.split(","):
                    files.setdefault(company_id, []).append(marked)

    def _days(self, chunk: Chunk) -> np.ndarray:
        """`days_since` over a chunk (NaN: never active)."""
        last = (chunk.latest.copy() if chunk.latest is not None
                else np.full(chunk.size, np.nan))
        return (self.now - later_dates(Frame(chunk, {}), last, self.dates, self.now)) / DAY

    def of(self, company_id: str) -> list[Mark]:
        return self.by_company.get(company_id, [])
