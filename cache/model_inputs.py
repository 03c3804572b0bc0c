"""Cached contacts as the engine reads them, for several models at once (simulate, backtest).

The rescore's `ContactReader` extracts only the properties one model reads; comparing models
(or rolling data back to a date) needs the union, plus a few properties of our own. Reading
through the same reader keeps the inputs identical to what `leadsync score` sees.
"""
from __future__ import annotations

from typing import Iterator, Sequence

from cache.contact_reader import CHUNK, ContactReader, Row
from cache.database import Cache
from scoring import Model


def reader_for(cache: Cache, models: Sequence[Model], *, contacts: Sequence[str] = (),
               companies: Sequence[str] = ()) -> ContactReader:
    """A ContactReader that extracts what any of `models` reads, plus the named properties."""
    reader = ContactReader(cache, models[0])
    contact_names, company_names = set(reader.contact_names), set(reader.company_names)
    event_names = {k: set(v) for k, v in reader.event_names.items()}
    for model in models[1:]:
        other = ContactReader(cache, model)
        contact_names |= set(other.contact_names)
        company_names |= set(other.company_names)
        for kind, names in other.event_names.items():
            event_names.setdefault(kind, set()).update(names)
    reader.contact_names = tuple(sorted(contact_names | set(contacts)))
    reader.company_names = tuple(sorted(company_names | set(companies)))
    reader.event_names = {k: tuple(sorted(v)) for k, v in sorted(event_names.items())}
    return reader


def read_contacts(cache: Cache, models: Sequence[Model], *, contacts: Sequence[str] = (),
                  companies: Sequence[str] = (), chunk_size: int = CHUNK) -> Iterator[Row]:
    """Every live cached contact in id order: (id, properties, events, company, stored score)."""
    reader = reader_for(cache, models, contacts=contacts, companies=companies)
    for chunk in reader.chunks(None, chunk_size):
        yield from chunk
