"""`leadsync explain`: one cached contact scored now, with every rule that fired, written nowhere.

With several models ([[models]]) the explanation is the chosen model's (default: the one in
charge), and says when the contact is outside that model's segment.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

import scoring
from analysis.rescore import load_model, load_models, model_named
from cache.contact_reader import ContactReader, find_contact, read_contact
from cache.database import Cache
from foundation.moments import iso
from foundation.settings import Settings
from scoring import Model, Score, scorer
from scoring.engine import epoch
from scoring.models import ContactModel


def score_one(cache: Cache, model: Model, as_of: datetime,
              contact_id: str) -> tuple[dict, Score]:
    """The contact's properties and its score as of `as_of`, computed now, stored nowhere."""
    contact_id, contact, events, company, _ = read_contact(cache, model, contact_id)
    score_contact: Callable[..., Score] = scorer(model, as_of)
    return contact, score_contact(contact, events, company)


@dataclass(frozen=True)
class Explanation:
    """`leadsync explain`: a contact's score computed now from the cache, and its text."""

    contact_id: str
    model: str
    as_of: str
    score: Score
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {"contact_id": self.contact_id, "model": self.model, "as_of": self.as_of,
                **self.score.to_dict()}


def explain_contact(cache: Cache, settings: Settings | str | None, reference: str,
                    as_of: datetime, *, model: str | None = None) -> Explanation:
    """Score one cached contact (an id or email) as of `as_of` and explain it; writes nothing.
    `model`: the config's model to explain with (default: the one in charge)."""
    if isinstance(settings, Settings):
        chosen = model_named(load_models(settings, cache), model or None)
        scoring_model = chosen.model
    else:
        scoring_model = load_model(settings, cache)
    contact_id = find_contact(cache, reference)
    contact, result = score_one(cache, scoring_model, as_of, contact_id)
    text = scoring.explain(result, scoring_model, as_of, contact=contact)
    if isinstance(settings, Settings) and settings.configured_models:
        outside = _outside_segment(cache, chosen, contact_id, as_of)
        text = f"Model {chosen.name}" + (f" ({outside})" if outside else "") + "\n" + text
    return Explanation(contact_id, scoring_model.label, iso(as_of), result, text)


def _outside_segment(cache: Cache, model: ContactModel, contact_id: str,
                     as_of: datetime) -> str | None:
    """Why the contact gets no score from `model` (outside its segment), or None."""
    segment = model.segment
    if segment is None:
        return None
    reader = ContactReader(cache, model.model, contacts=segment.contact_names,
                           companies=segment.company_names)
    [[(_, contact, _, company, _)]] = reader.chunks([contact_id], 1)
    inside = segment.tester(epoch(as_of))(contact, company)
    return None if inside else "the contact is outside this model's applies_to: it gets no " \
        "score from it, and its properties are cleared"
