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
from scoring.models import DEFAULT as DEFAULT_MODEL


def reader_for(cache: Cache, models: Sequence[Model], *, contacts: Sequence[str] = (),
               companies: Sequence[str] = (), stored: Sequence[str] = (DEFAULT_MODEL,)
               ) -> ContactReader:
    """A ContactReader that extracts what any of `models` reads, plus the named properties,
    with the stored scores of the `stored` models."""
    return ContactReader(cache, models, stored=stored, contacts=contacts, companies=companies)


def read_contacts(cache: Cache, models: Sequence[Model], *, contacts: Sequence[str] = (),
                  companies: Sequence[str] = (), chunk_size: int = CHUNK,
                  stored: str = DEFAULT_MODEL) -> Iterator[Row]:
    """Every live cached contact in id order: (id, properties, events, company, stored score
    of the `stored` model)."""
    reader = reader_for(cache, models, contacts=contacts, companies=companies, stored=(stored,))
    for chunk in reader.chunks(None, chunk_size):
        yield from chunk
