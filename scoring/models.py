"""Several models in one config: the contact models, their segments, the stage driver.

A `ModelSet` is the one list every path (rescore, push, webhooks, simulate, backtest,
report, compare) reads the models from. Each `ContactModel` is a validated `Model` with the
config's name for it (the key of its rows in the cache), an optional segment (`applies_to`,
the rules' condition language on contact and company properties: contacts outside it get no
score from that model) and its role: at most one model drives lifecycle stages; a shadow
model is scored and compared but never moves a stage.

The company model (`[scoring] company_model`, scoring/company_model.py) sits beside the
contact models (`ModelSet.company`), so every path that walks a ModelSet learns of it in one
place. It rolls up the engagement of one contact model, the one in charge
(`ModelSet.engagement_source`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence, TypeVar

import numpy as np

from scoring.batch import Chunk, Events, Frame, compile_mask
from scoring.conditions import Context, Invalid, compile_condition, email_domain
from scoring.errors import ModelError, Problem
from scoring.inputs import Facts, PropertyTypes, contact_resolver
from scoring.company_model import CompanyModel
from scoring.model import FREE_EMAIL, Model

DEFAULT = "default"  # the one model's name without [[models]] (foundation/settings.py agrees)
_EMPTY: Mapping[str, Any] = {}


@dataclass(frozen=True, eq=False)
class Segment:
    """Which contacts a model applies to: a condition on contact and company properties."""

    spec: Mapping[str, Any]
    model: Model = field(repr=False)
    contact_names: tuple[str, ...] = ()
    company_names: tuple[str, ...] = ()

    def _context(self, now: float) -> Context:
        model = self.model
        free = model.lists.get("free_email", FREE_EMAIL)
        return Context(_segment_resolver(model.types(), free), model.lists, now)

    def tester(self, now: float) -> Callable[[Mapping[str, Any], Mapping[str, Any] | None], bool]:
        """test(contact, company) -> whether the contact is in the segment (the engine's path)."""
        test = compile_condition(dict(self.spec), self._context(now), "applies_to")
        return lambda contact, company: bool(test(Facts(contact, company or _EMPTY, None)))

    def masker(self, now: float) -> Callable[[Chunk], np.ndarray]:
        """mask(chunk) -> one bool per contact (the batch scorer's path; same answers)."""
        mask = compile_mask(dict(self.spec), self._context(now), "applies_to")
        free = self.model.lists.get("free_email", FREE_EMAIL)
        return lambda chunk: mask(Frame(chunk, _derived(chunk, free)))


def _segment_resolver(types: PropertyTypes, free: frozenset[str]):
    resolve = contact_resolver(types, free, outcomes=False)

    def segment(name: str, path: str):
        if name == "days_since_last_engagement":
            raise Invalid(path, f"{name} changes with every engagement; a segment reads contact "
                                f"and company properties (and email_domain, is_free_email)")
        return resolve(name, path)
    return segment


def _derived(chunk: Chunk, free: frozenset[str]) -> dict[str, Callable[[], list]]:
    emails = chunk.contacts.get("email") or [None] * chunk.size
    memo: dict[str, list] = {}

    def domains() -> list:
        if "d" not in memo:
            memo["d"] = [email_domain(e) for e in emails]
        return memo["d"]
    return {"email_domain": domains,
            "is_free_email": lambda: [None if d is None else d in free for d in domains()]}


def segment(spec: Mapping[str, Any] | None, model: Model, *, source: str,
            where: str) -> Segment | None:
    """The compiled-once (validated) segment of `model`, or None for every contact.
    Raises ModelError naming `source` and `where` (e.g. models[1].applies_to.country)."""
    if spec is None:
        return None
    types = model.types()
    free = model.lists.get("free_email", FREE_EMAIL)
    try:
        compile_condition(dict(spec), Context(_segment_resolver(types, free), model.lists, 0.0),
                          "applies_to")
    except Invalid as exc:
        inner = exc.field[len("applies_to"):] if exc.field.startswith("applies_to") else \
            f".{exc.field}"
        raise ModelError([Problem(source, f"{where}{inner}: {exc.message}")]) from None
    used = {k: tuple(sorted(v)) for k, v in types.used.items()}
    # (email_domain and is_free_email read `email`, which the reader always reads)
    return Segment(spec, model, used.get("contacts", ()), used.get("companies", ()))


@dataclass(frozen=True, eq=False)
class ContactModel:
    """A model of the config: its name (the cache's key for its rows), the rules, a segment
    (None: every contact) and its role."""

    name: str
    model: Model
    segment: Segment | None = None
    drives_stages: bool = False
    shadow: bool = False
    written: bool = True  # its scores go to its HubSpot properties

    @property
    def label(self) -> str:
        return f"{self.name} ({self.model.label})" if self.name != self.model.name else \
            self.model.label


@dataclass(frozen=True, eq=False)
class ModelSet:
    """The contact models of one config, in config order (at most one drives stages)."""

    contacts: tuple[ContactModel, ...]
    company: CompanyModel | None = None  # [scoring] company_model, when the config has one

    def __post_init__(self) -> None:
        names = [m.name for m in self.contacts]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"a ModelSet needs distinct model names, got {names}")
        if sum(m.drives_stages for m in self.contacts) > 1:
            raise ValueError("at most one model drives lifecycle stages")

    @classmethod
    def single(cls, model: Model, name: str = DEFAULT) -> "ModelSet":
        """One model for every contact, driving stages (leadsync without [[models]])."""
        return cls((ContactModel(name, model, drives_stages=True),))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.contacts)

    @property
    def stage_driver(self) -> ContactModel | None:
        return next((m for m in self.contacts if m.drives_stages), None)

    @property
    def primary(self) -> ContactModel:
        """The model in charge (the champion): the stage driver, else the first not in shadow."""
        return primary_of(self.contacts)

    @property
    def engagement_source(self) -> ContactModel:
        """The contact model whose stored engagement the company model rolls up: the one in
        charge (a challenger in shadow never feeds the company score)."""
        return self.primary

    @property
    def shadows(self) -> tuple[ContactModel, ...]:
        return tuple(m for m in self.contacts if m.shadow)

    def named(self, name: str) -> ContactModel:
        for model in self.contacts:
            if model.name == name:
                return model
        raise KeyError(name)

    def models(self) -> list[Model]:
        return [m.model for m in self.contacts]

    def segment_properties(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(contact, company) properties the segments read (the reader reads them too)."""
        contacts: set[str] = set()
        companies: set[str] = set()
        for model in self.contacts:
            if model.segment is not None:
                contacts.update(model.segment.contact_names)
                companies.update(model.segment.company_names)
        return tuple(sorted(contacts)), tuple(sorted(companies))


class _Role(Protocol):
    drives_stages: bool
    shadow: bool


R = TypeVar("R", bound=_Role)


def primary_of(models: Sequence[R]) -> R:
    """The model in charge among `models` (ContactModels, or the settings' ModelConfigs):
    the one driving stages, else the first not in shadow, else the first."""
    return next((m for m in models if m.drives_stages),
                next((m for m in models if not m.shadow), models[0]))


def in_segments(models: Sequence[ContactModel], now: float
                ) -> list[Callable[[Mapping[str, Any], Mapping[str, Any] | None], bool] | None]:
    """Per model, its segment test for one contact (None: every contact)."""
    return [m.segment.tester(now) if m.segment is not None else None for m in models]


def subset(chunk: Chunk, where: np.ndarray) -> Chunk:
    """The contacts at positions `where` (ascending) of `chunk`, with their events: a
    segment's model scores only its own contacts."""
    picked = where.tolist()
    contacts = {name: [values[i] for i in picked] for name, values in chunk.contacts.items()}
    companies = {name: [values[i] for i in picked] for name, values in chunk.companies.items()}
    events = chunk.events
    position = np.full(chunk.size, -1, np.intp)
    position[where] = np.arange(len(picked))
    owner = position[events.owner] if len(events.owner) else events.owner
    kept = owner >= 0
    properties = events.properties
    if len(owner) and not kept.all():
        properties = [p for p, keep in zip(properties, kept.tolist()) if keep]
    chosen = Events(owner[kept], events.kind[kept], events.at[kept], properties, events.parse)
    latest = chunk.latest[where] if chunk.latest is not None else None
    return Chunk(len(picked), contacts, companies, chosen, latest)
