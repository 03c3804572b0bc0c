"""Deterministic, realistic B2B portal data: companies, contacts and a year of engagements.

Every contact carries a hidden propensity (from fit: seniority, department, company size,
industry, target account; plus noise). It drives both how much the contact engages (more
meetings, inbound calls and replies, clicks, demo requests) and how far it travels along the
lifecycle. Each stage after "lead" is entered shortly *after* a triggering engagement, so a
model that reads fit and engagement beats chance clearly without being perfect.

Same (contacts, seed, anchor) ⇒ the same portal, byte for byte; only `random.Random(seed)`,
the owners' `random.Random(f"owners:{seed}")` (sandbox/owners.py) and the anchor are consulted.

One piece because every generator draws from the same `random.Random` in a fixed order:
moving one into another module would not change that coupling, only hide it.
"""
from __future__ import annotations

import gc
import math
import random
import re
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from . import activity, owners
from . import vocabulary as words
from .activity import Mix, Subject, between, weighted
from .clock import DAY_MS, iso_ms
from .catalog import EMPLOYEE_RANGES, INDUSTRIES
from .portal import Portal
from .records import Record

HOUR_MS = 3_600_000
YEAR_MS = 365 * DAY_MS
BIG_PORTAL = 10_000  # contacts; from here on the seeded objects are frozen out of the GC
LADDER = ("lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer")
_INDUSTRY_LABELS = dict(INDUSTRIES)
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass
class _Company:
    record: Record
    fit: float
    employees: int
    country: str
    industry: str
    tld: str
    best_stage: int = -1
    stage_dates: dict[str, int] = field(default_factory=dict)


@dataclass
class _Person:
    record: Record
    company: _Company | None
    first: str
    last: str
    subject: Subject


def seed_portal(portal: Portal, contacts: int, seed: int, anchor_ms: int) -> None:
    """Fill an empty portal. `contacts` counts every contact record, including the few
    archived and merged-away ones."""
    big = contacts >= BIG_PORTAL
    if big:
        gc.collect()  # so that no garbage cycle gets frozen below
    collecting = gc.isenabled()
    gc.disable()  # hundreds of thousands of acyclic dicts: the cycle collector only slows us
    try:
        _Seeder(portal, random.Random(seed), anchor_ms).run(contacts)
        # Owners draw from their own generator: every value above stays what it was.
        owners.seed_owners(portal, random.Random(f"owners:{seed}"), anchor_ms)
    finally:
        if collecting:
            gc.enable()
    if big:
        # A big seeded portal is millions of long-lived, acyclic objects; left in the
        # collector's generations, each full collection would stall a request for ~0.3 s.
        gc.freeze()


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, int(rng.gauss(lam, math.sqrt(lam)) + 0.5))
    limit, k, product = math.exp(-lam), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


class _Seeder:
    def __init__(self, portal: Portal, rng: random.Random, anchor_ms: int) -> None:
        self.portal = portal
        self.rng = rng
        self.anchor = anchor_ms
        self.emails: set[str] = set()
        self.domains: set[str] = set()
        self.people: list[_Person] = []
        self.propensity: dict[int, float] = {}

    def run(self, contacts: int) -> None:
        companies = [self.company() for _ in range(max(1, round(contacts / 4)))]
        weights = list(accumulate(math.log(c.employees + 2) for c in companies))
        for _ in range(contacts):
            if self.people and self.rng.random() < 0.006:
                self.duplicate(self.rng.choice(self.people))
                continue
            company = (self.rng.choices(companies, cum_weights=weights)[0]
                       if self.rng.random() < 0.9 else None)
            self.contact(company)
        for company in companies:
            self.finish_company(company)
        self.portal.propensity.update(self.propensity)

    # ---- companies -------------------------------------------------------------------------

    def company(self) -> _Company:
        rng = self.rng
        country, _, tld, suffix = _COUNTRY_MIX.draw(rng)
        industry, _, industry_fit = _INDUSTRY_MIX.draw(rng)
        employees = max(1, int(10 ** rng.triangular(0.2, 4.8, 1.7)))
        revenue = round(employees * rng.uniform(60_000, 350_000), -3)
        stem = rng.choice(words.COMPANY_STEMS)
        brand = f"{stem} {rng.choice(words.INDUSTRY_NOUNS[industry])}"
        domain = self.unique_domain(_SLUG.sub("", brand.lower()), tld)
        size_fit = (-0.8 if employees < 5 else 0.0 if employees < 50 else
                    0.8 if employees <= 5000 else 0.3)
        fit = industry_fit + size_fit
        target = rng.random() < sigmoid(1.6 * fit - 2.2)
        fit += 0.6 if target else 0.0
        created = self.anchor - int(rng.uniform(30, 900) * DAY_MS)
        props = {"name": f"{brand} {suffix}".strip(), "domain": domain, "industry": industry,
                 "numberofemployees": str(employees), "annualrevenue": str(int(revenue)),
                 "country": country, "hs_is_target_account": "true" if target else "false",
                 "createdate": iso_ms(created)}
        if rng.random() < 0.6:
            props["hs_ideal_customer_profile"] = ("tier_1" if fit > 1.2 else
                                                  "tier_2" if fit > 0.4 else "tier_3")
        record = self.new_record("companies", props, created)
        return _Company(record, fit, employees, country, industry, tld)

    def unique_domain(self, slug: str, tld: str) -> str:
        domain, n = f"{slug}.{tld}", 2
        while domain in self.domains:
            domain, n = f"{slug}{n}.{tld}", n + 1
        self.domains.add(domain)
        return domain

    def finish_company(self, company: _Company) -> None:
        props = company.record.properties
        last = company.record.created_ms
        if company.best_stage >= 0:
            stage = LADDER[company.best_stage]
            props["lifecyclestage"] = stage
            for name, at in company.stage_dates.items():
                props[f"hs_v2_date_entered_{name}"] = iso_ms(at)
                last = max(last, at)
        self.set_modified(company.record, self.later(last, 20 * DAY_MS))

    # ---- contacts --------------------------------------------------------------------------

    def contact(self, company: _Company | None) -> None:
        rng = self.rng
        first, last = rng.choice(words.FIRST_NAMES), rng.choice(words.LAST_NAMES)
        level, _, level_fit, seniority = _LEVEL_MIX.draw(rng)
        dept, _, dept_fit = _DEPARTMENT_MIX.draw(rng)
        free_mail = company is None or rng.random() < 0.06
        fit = level_fit + 0.6 * dept_fit + (company.fit if company else -0.7) - \
            (0.3 if free_mail else 0.0)
        p = sigmoid(1.3 * fit + rng.gauss(0, 0.8) - 2.8)
        created = self.anchor - int((3 + 417 * rng.random() ** 1.3) * DAY_MS)
        props = {"firstname": first, "lastname": last, "createdate": iso_ms(created),
                 "jobtitle": self.job_title(level, dept),
                 "email": self.email(first, last, None if free_mail else company)}
        if rng.random() < 0.7:
            props["hs_seniority"] = seniority
        self.firmographics(props, company)
        props["hs_analytics_source"] = self.traffic_source(p)
        record = self.new_record("contacts", props, created)
        person = _Person(record, company, first, last,
                         Subject(first, last, props.get("company")))
        self.propensity[record.id] = p
        if company is not None:
            self.portal.links.add("contacts", record.id, "companies", company.record.id,
                                  primary=True)
            props["associatedcompanyid"] = str(company.record.id)
        last_touch = self.journey(person, p)
        self.finish_contact(record, last_touch)
        self.people.append(person)

    def job_title(self, level: str, dept: str) -> str:
        rng = self.rng
        if level == "c_level":
            return rng.choice(words.C_LEVEL_TITLES)
        if level == "student":
            return rng.choice(words.STUDENT_TITLES)
        if level == "consultant":
            return rng.choice(words.CONSULTANT_TITLES)
        ic = rng.choice(words.IC_TITLES[dept])
        return {"vp": rng.choice((f"VP of {dept}", f"Vice President, {dept}")),
                "director": rng.choice((f"Director of {dept}", f"{dept} Director",
                                        f"Senior Director, {dept}")),
                "head": f"Head of {dept}",
                "manager": rng.choice((f"{dept} Manager", f"Senior {dept} Manager")),
                "senior_ic": f"Senior {ic}", "ic": ic, "intern": f"{dept} Intern"}[level]

    def email(self, first: str, last: str, company: _Company | None) -> str:
        rng = self.rng
        f, l = _SLUG.sub("", first.lower()), _SLUG.sub("", last.lower())
        local = rng.choice((f"{f}.{l}", f"{f[0]}{l}", f, f"{f}{l}", f"{f}_{l}"))
        domain = company.record.properties["domain"] if company else rng.choice(words.FREE_MAIL)
        email, n = f"{local}@{domain}", 2
        while email in self.emails:
            email, n = f"{local}{n}@{domain}", n + 1
        self.emails.add(email)
        return email

    def firmographics(self, props: dict[str, str], company: _Company | None) -> None:
        rng = self.rng
        if company is None:
            if rng.random() < 0.6:
                props["country"] = rng.choice(words.COUNTRIES)[0]
            return
        cp = company.record.properties
        if rng.random() < 0.9:
            props["company"] = cp["name"]
        if rng.random() < 0.85:
            props["country"] = company.country if rng.random() < 0.92 else \
                rng.choice(words.COUNTRIES)[0]
        if rng.random() < 0.65:
            props["industry"] = _INDUSTRY_LABELS[company.industry]
        if rng.random() < 0.7:
            props["numemployees"] = employee_range(company.employees)
        if rng.random() < 0.55:
            props["annualrevenue"] = cp["annualrevenue"]

    def traffic_source(self, p: float) -> str:
        sources = ("ORGANIC_SEARCH", "PAID_SEARCH", "EMAIL_MARKETING", "SOCIAL_MEDIA",
                   "REFERRALS", "OTHER_CAMPAIGNS", "DIRECT_TRAFFIC", "OFFLINE", "PAID_SOCIAL")
        weights = (22 + 10 * p, 12, 10, 8, 6 + 14 * p, 7 - 4 * p, 10 + 8 * p, 8, 12 - 8 * p)
        return weighted(self.rng, sources, weights)

    def finish_contact(self, record: Record, last_touch: int) -> None:
        rng = self.rng
        self.set_modified(record, self.later(max(record.created_ms, last_touch), 10 * DAY_MS))
        if rng.random() < 0.02:  # deleted by a user; HubSpot keeps the modified date
            record.archived_ms = min(self.anchor - 1_000,
                                     record.updated_ms + int(rng.uniform(1, 30) * DAY_MS))

    def duplicate(self, original: _Person) -> None:
        """A second record for the same person (free-mail address), merged into the first."""
        rng, source = self.rng, original.record
        created = min(self.anchor - HOUR_MS,
                      source.created_ms + int(rng.uniform(1, 60) * DAY_MS))
        props = {"firstname": original.first, "lastname": original.last,
                 "email": self.email(original.first, original.last, None),
                 "createdate": iso_ms(created)}
        for name in ("jobtitle", "country", "company"):
            if name in source.properties and rng.random() < 0.5:
                props[name] = source.properties[name]
        dup = self.new_record("contacts", props, created)
        self.set_modified(dup, created)
        self.propensity[dup.id] = self.propensity[source.id]
        merged_at = min(self.anchor - 60_000, created + int(rng.uniform(0, 20) * DAY_MS))
        dup.merged_into = source.id
        previous = source.properties.get("hs_merged_object_ids")
        source.properties["hs_merged_object_ids"] = (f"{previous};{dup.id}" if previous
                                                     else str(dup.id))
        if source.archived_ms is None and merged_at > source.updated_ms:
            self.set_modified(source, merged_at)
        for _ in range(rng.randint(0, 2)):  # the duplicate's activity now lives on the survivor
            at = rng.randint(created, max(created, self.anchor - HOUR_MS))
            self.engagement(original, "emails", at, {"hs_email_direction": "EMAIL"})

    # ---- the journey -------------------------------------------------------------------------

    def journey(self, person: _Person, p: float) -> int:
        """Engagements, stage entries and web/email activity; returns the last activity time."""
        rng, props = self.rng, person.record.properties
        created = person.record.created_ms
        stages = self.stage_dates(created, p)
        last = created
        # Triggers: each stage after lead is entered shortly after an engagement.
        previous = created
        for stage, at in stages:
            if stage == "lead" or stage == "subscriber":
                continue
            trigger_at = at - int(min(3 * DAY_MS, (at - previous) * rng.uniform(0.1, 0.9)))
            self.trigger(person, stage, trigger_at)
            previous = at
        for stage, at in stages:
            props[f"hs_v2_date_entered_{stage}"] = iso_ms(at)
            last = max(last, at)
        final = stages[-1][0]
        props["lifecyclestage"] = final
        status = self.lead_status(final, p)
        if status:
            props["hs_lead_status"] = status
        if person.company is not None:
            rank = LADDER.index(final) if final in LADDER else -1
            person.company.best_stage = max(person.company.best_stage, rank)
            for stage, at in stages:
                known = person.company.stage_dates.get(stage)
                if stage in LADDER and (known is None or at < known):
                    person.company.stage_dates[stage] = at
        last = max(last, self.background_engagements(person, p))
        last = max(last, self.conversions(props, created, stages, p))
        last = max(last, self.email_and_web(props, created, p))
        return last

    def stage_dates(self, created: int, p: float) -> list[tuple[str, int]]:
        rng = self.rng
        u = rng.random()
        reach = 1 + (u < min(0.95, 0.1 + 0.8 * p)) + (u < 0.7 * p ** 1.3) + \
            (u < 0.5 * p ** 1.5) + (u < 0.3 * p ** 1.5)
        if reach == 1 and rng.random() < 0.25:
            return [("subscriber", created)]
        dates = [("lead", created)]
        at = created
        mean_gaps = (25, 20, 15, 30)
        for stage, gap in zip(LADDER[1:reach], mean_gaps):
            at += int((1 + rng.expovariate(1 / gap) * (1.4 - p)) * DAY_MS)
            if at >= self.anchor - DAY_MS:
                break
            dates.append((stage, at))
        return dates

    def lead_status(self, stage: str, p: float) -> str | None:
        rng = self.rng
        if stage in ("subscriber", "customer") or rng.random() < 0.15:
            return None
        if stage in ("salesqualifiedlead", "opportunity"):
            return rng.choice(("CONNECTED", "IN_PROGRESS", "OPEN_DEAL"))
        choices = ("NEW", "OPEN", "ATTEMPTED_TO_CONTACT", "IN_PROGRESS", "UNQUALIFIED",
                   "BAD_TIMING", "CONNECTED")
        weights = (20, 15, 20, 10 + 10 * p, 15 - 10 * p, 8, 5 + 10 * p)
        return weighted(rng, choices, weights)

    def trigger(self, person: _Person, stage: str, at: int) -> None:
        rng = self.rng
        if stage == "marketingqualifiedlead":
            if rng.random() < 0.5:
                self.engagement(person, "emails", at, {"hs_email_direction": "INCOMING_EMAIL"})
            else:
                self.engagement(person, "calls", at, {"hs_call_direction": "INBOUND",
                                                      "hs_call_status": "COMPLETED"})
        elif stage == "salesqualifiedlead":
            self.engagement(person, "meetings", at, {"hs_meeting_outcome": "COMPLETED",
                                                     "hs_meeting_title": "Discovery call"})
        elif stage == "opportunity":
            self.engagement(person, "meetings", at, {"hs_meeting_outcome": "COMPLETED",
                                                     "hs_meeting_title": "Product demo"})
        else:
            title = rng.choice(("Pricing discussion", "Technical deep-dive"))
            self.engagement(person, "meetings", at, {"hs_meeting_outcome": "COMPLETED",
                                                     "hs_meeting_title": title})

    def background_engagements(self, person: _Person, p: float) -> int:
        rng = self.rng
        start = max(person.record.created_ms, self.anchor - YEAR_MS)
        end = self.anchor - HOUR_MS
        if end <= start:
            return start
        span = (end - start) / YEAR_MS
        lam = (1.5 + 12.0 * p ** 1.2) * (0.4 + 0.6 * span) * rng.lognormvariate(0, 0.5)
        kinds = ("emails", "calls", "notes", "tasks", "meetings")
        weights = (38, 22 + 8 * p, 14, 16, 3 + 25 * p)
        last = start
        for kind in rng.choices(kinds, weights=weights, k=poisson(rng, lam)):
            at = between(rng, start, end)
            self.engagement(person, kind, at, {}, p)
            last = max(last, at)
        return last

    def conversions(self, props: dict[str, str], created: int,
                    stages: list[tuple[str, int]], p: float) -> int:
        rng = self.rng
        reached = dict(stages)
        count = poisson(rng, 0.3 + 2.5 * p) + ("marketingqualifiedlead" in reached)
        if not count:
            return created
        mql = reached.get("marketingqualifiedlead")
        first = (mql - int(rng.uniform(0.05, 1) * DAY_MS)) if mql else \
            rng.randint(created, self.anchor - HOUR_MS)
        first = max(created, first)
        recent = first if count == 1 else rng.randint(first, self.anchor - HOUR_MS)
        first_name, recent_name = self.conversion_name(p), self.conversion_name(p)
        props.update({"num_conversion_events": str(count),
                      "num_unique_conversion_events": str(min(count, 1 + (count > 1))),
                      "first_conversion_date": iso_ms(first),
                      "first_conversion_event_name": first_name,
                      "recent_conversion_date": iso_ms(recent),
                      "recent_conversion_event_name": recent_name if count > 1 else first_name})
        return recent

    def conversion_name(self, p: float) -> str:
        weights = (0.5 + 12 * p, 3, 3, 4, 1 + 2 * p, 2)  # keen contacts ask for demos
        return weighted(self.rng, words.CONVERSIONS, weights)

    def email_and_web(self, props: dict[str, str], created: int, p: float) -> int:
        rng = self.rng
        age_days = (self.anchor - created) / DAY_MS
        delivered = poisson(rng, min(40.0, 2 + age_days / 12))
        last = created
        if rng.random() < 0.02:
            props.update(hs_email_bounce="1", hs_email_delivered="0", hs_email_open="0",
                         hs_email_click="0")
        else:
            opens = min(delivered, poisson(rng, delivered * (0.1 + 0.5 * p)))
            clicks = min(opens, poisson(rng, opens * (0.05 + 0.35 * p)))
            replies = min(opens, poisson(rng, opens * (0.02 + 0.15 * p)))
            props.update(hs_email_delivered=str(delivered), hs_email_open=str(opens),
                         hs_email_click=str(clicks), hs_email_replied=str(replies),
                         hs_email_bounce="0")
            if opens:
                at = self.anchor - int(rng.uniform(0, min(age_days, 90)) * DAY_MS)
                props["hs_email_last_open_date"] = iso_ms(max(created, at))
                last = max(last, created, at)
        if rng.random() < 0.03 + 0.05 * (1 - p):
            props["hs_email_optout"] = "true"
        elif rng.random() < 0.5:
            props["hs_email_optout"] = "false"
        visits = poisson(rng, 1 + 10 * p)
        props["hs_analytics_num_visits"] = str(visits)
        props["hs_analytics_num_page_views"] = str(visits * rng.randint(1, 6) if visits else 0)
        if visits:
            at = max(created, self.anchor - int(rng.uniform(0, min(age_days, 120)) * DAY_MS))
            props["hs_analytics_last_visit_timestamp"] = iso_ms(at)
            last = max(last, at)
        return last

    # ---- engagements ---------------------------------------------------------------------------

    def engagement(self, person: _Person, kind: str, at: int, forced: dict[str, str],
                   p: float | None = None) -> None:
        """One engagement at `at`, linked to the person and their company."""
        rand = self.rng.random
        contact = person.record
        p = self.propensity.get(contact.id, 0.2) if p is None else p
        props = activity.build(kind, self.rng, person.subject, at, p, self.anchor)
        if forced:
            props.update(forced)
        props["hs_timestamp"] = iso_ms(at)
        if kind == "meetings":  # booked ahead of time
            created = max(contact.created_ms, at - int(rand() * 7 * DAY_MS))
        else:                   # logged shortly after
            created = min(self.anchor - 1_000, at + int(rand() * 2 * HOUR_MS))
        props["hs_createdate"] = created_iso = iso_ms(created)
        if rand() < 0.7:
            edited, edited_iso = created, created_iso
        else:
            edited = min(self.anchor - 1_000, created + int(rand() * 30 * DAY_MS))
            edited_iso = iso_ms(edited)
        props["hs_lastmodifieddate"] = edited_iso
        record_id = self.portal.allocate_id(kind)
        props["hs_object_id"] = str(record_id)
        record = self.portal.insert(Record(kind, record_id, props, created, edited))
        if rand() < 0.02:
            record.archived_ms = min(self.anchor - 1_000, edited + DAY_MS)
        self.portal.links.add("contacts", contact.id, kind, record_id)
        if person.company is not None:
            self.portal.links.add("companies", person.company.record.id, kind, record_id)

    # ---- records ---------------------------------------------------------------------------

    def later(self, after: int, spread: int) -> int:
        """A moment up to `spread` after `after`, never past the anchor."""
        room = max(0, min(spread, self.anchor - 1_000 - after))
        return after + int(self.rng.random() * room)

    def new_record(self, object_type: str, props: dict[str, Any], created: int) -> Record:
        record_id = self.portal.allocate_id(object_type)
        props["hs_object_id"] = str(record_id)
        record = Record(object_type, record_id, props, created, created)
        return self.portal.insert(record)

    def set_modified(self, record: Record, at: int) -> None:
        record.updated_ms = at
        name = "lastmodifieddate" if record.object_type == "contacts" else "hs_lastmodifieddate"
        record.properties[name] = iso_ms(at)


_COUNTRY_MIX = Mix(words.COUNTRIES, [c[1] for c in words.COUNTRIES])
_INDUSTRY_MIX = Mix(words.INDUSTRY_MIX, [i[1] for i in words.INDUSTRY_MIX])
_LEVEL_MIX = Mix(words.LEVELS, [v[1] for v in words.LEVELS])
_DEPARTMENT_MIX = Mix(words.DEPARTMENTS, [d[1] for d in words.DEPARTMENTS])



def employee_range(employees: int) -> str:
    """Company headcount → the contact `numemployees` range option."""
    bounds = (5, 25, 50, 100, 500, 1000, 5000, 10000)
    for bound, label in zip(bounds, EMPLOYEE_RANGES):
        if employees <= bound:
            return label
    return EMPLOYEE_RANGES[-1]
