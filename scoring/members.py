"""A company's members as the company model sees them, gathered as the contacts' pass goes. Pure.

A full rescore reads every live contact once for the contact models (cache/contact_reader.py).
With a company model, that same pass reduces each contact to its `Mark` (scoring/company.py:
its engagement from the model in charge, and which buying-group rules it matches) and files
it under each company the contact is associated with. The companies are then scored from
their marks without reading their contacts again. A per-company rescore (webhooks, `explain
--company`) reads the members of the companies it scores (cache/company_reader.py); both
compute a member's days since its last activity with `days_since` and mark it with the same
function.
"""
from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Mapping, Sequence

from scoring.company import Mark, Member, company_marks
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
        self.mark, _ = company_marks(model, as_of)
        self.now = epoch(as_of)
        self.names = member_names(model)
        self.kinds = activity_kinds(model)
        self.dates = activity_dates(model)
        self.recency = model.reads_recency
        self.by_company: dict[str, list[Mark]] = {}
        self.complete = False

    def restart(self) -> None:
        """Forget what an earlier pass filed (a new pass is starting)."""
        self.by_company.clear()
        self.complete = False

    def same_activity(self, model: Any) -> bool:
        """Whether a contact model counts the same activity (event kinds and date
        properties): then its days since last activity are the members' too."""
        return set(model.activity) == set(self.kinds) | set(self.dates)

    def add(self, ids: Sequence[str], contacts: Mapping[str, Sequence[Any]],
            engagement: Sequence[float | None], latest: Sequence[float] | None,
            links: Sequence[str | None], days: Sequence[float | None] | None = None) -> None:
        """One chunk: contact ids, their property columns, engagement (None: not scored by
        the model in charge), latest activity event (NaN: none) and company ids. `days`:
        days since last activity where a contact model with the same activity computed them
        (NaN: never active; None: not computed, so computed here)."""
        nothing = [None] * len(ids)
        columns = [(name, contacts.get(name, nothing)) for name in self.names]
        files, mark, recency = self.by_company, self.mark, self.recency
        for i, companies in enumerate(links):
            if not companies:
                continue
            contact_id = ids[i]
            properties = {name: column[i] for name, column in columns}
            properties["id"] = contact_id
            since = None
            if recency:
                known = None if days is None else days[i]
                if known is not None:
                    since = None if math.isnan(known) else known
                else:
                    last = None if latest is None else latest[i]
                    since = days_since(properties, self.dates,
                                       None if last is None or math.isnan(last) else float(last),
                                       self.now)
            marked = mark(Member(contact_id, properties, engagement[i], since))
            for company_id in companies.split(","):
                files.setdefault(company_id, []).append(marked)

    def of(self, company_id: str) -> list[Mark]:
        return self.by_company.get(company_id, [])
