"""Property values on the way in: HubSpot stores strings, so every write is normalised here.

Rejections use HubSpot's wording, which puts the rejected value first ("C9 was not one of
the allowed options: [...]", "abc was not a valid number."): the only place a 400 names it.
"""
from __future__ import annotations

import math
import re
from typing import Any

from .catalog import Property
from .clock import iso_date, iso_ms, parse_ms
from .errors import PropertyValueError

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def as_text(raw: Any) -> str:
    """JSON value → HubSpot string form (`true`, `17`, `""` for null)."""
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw)


def normalize(prop: Property | None, name: str, raw: Any, *, trusted: bool = False) -> str:
    """The string to store for one write; `""` means clear. Raises PropertyValueError.

    `trusted` writes (admin actions, seeding) may set read-only properties.
    """
    if prop is None:
        raise PropertyValueError("PROPERTY_DOESNT_EXIST", name,
                                 f'Property "{name}" does not exist')
    if prop.read_only and not trusted:
        raise PropertyValueError("READ_ONLY_VALUE", name,
                                 f'Property "{name}" is read-only; its value cannot be set')
    text = as_text(raw).strip() if prop.type != "string" else as_text(raw)
    if text == "":
        return ""
    checker = _CHECKERS.get(prop.type)
    return checker(prop, text) if checker else text


def _number(prop: Property, text: str) -> str:
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if math.isnan(number) or math.isinf(number):
        raise PropertyValueError("INVALID_DECIMAL", prop.name,
                                 f"{text} was not a valid number.")
    return text


def _datetime(prop: Property, text: str) -> str:
    ms = parse_ms(text)
    if ms is None:
        raise PropertyValueError("INVALID_DATE", prop.name,
                                 f"{text} was not a valid datetime (use ISO-8601 or epoch "
                                 "milliseconds).")
    return iso_ms(ms)


def _date(prop: Property, text: str) -> str:
    ms = parse_ms(text)
    if ms is None or (text.isdigit() and ms % 86_400_000):
        raise PropertyValueError("INVALID_DATE", prop.name,
                                 f"{text} was not a valid date (use YYYY-MM-DD or epoch "
                                 "milliseconds at midnight UTC).")
    return iso_date(ms)


def _bool(prop: Property, text: str) -> str:
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise PropertyValueError("INVALID_BOOLEAN", prop.name,
                                 f"{text} was not a valid boolean.")
    return lowered


def _enumeration(prop: Property, text: str) -> str:
    if not prop.options and prop.field_type == "checkbox":
        return text  # free-form multi-value lists such as hs_merged_object_ids
    chosen = text.split(";") if prop.field_type == "checkbox" else [text]
    for value in chosen:
        if value not in prop.option_values:
            allowed = ", ".join(o.value for o in prop.options)
            raise PropertyValueError(
                "INVALID_OPTION", prop.name,
                f"{value} was not one of the allowed options: [{allowed}]")
    return text


def _string(prop: Property, text: str) -> str:
    if prop.name == "email" and not _EMAIL.match(text.strip()):
        raise PropertyValueError("INVALID_EMAIL", prop.name,
                                 f'Email address "{text}" is invalid')
    return text.strip() if prop.name == "email" else text


_CHECKERS = {"number": _number, "datetime": _datetime, "date": _date, "bool": _bool,
             "enumeration": _enumeration, "string": _string}
