"""What a batch update rejected whole (400) says about its inputs: which ones are bad, and why.

HubSpot's 400 for a batch names no input index and no record id when a property value is
bad. What it does name (hubspot-api.md §4; real bodies quoted in issues of
HubSpot/hubspot-api-python and rudderlabs/rudder-transformer):

- `message`: "Property values were not valid: [JSON]", one validation result per problem,
  `{"isValid":false,"message":…,"error":"INVALID_OPTION","name":<property>,…}`;
- `errors[]`: `{"message":…,"code":…,"context":{"propertyName":[<property>]}}`;
- the rejected value, as the first words of a value error's message:
  "C9 was not one of the allowed options: [...]", "abc was not a valid number.";
- `context.ids` (top level or per error), e.g. "Duplicate IDs found in batch input: [12]".

An input is named when HubSpot names its id, or when it writes a value HubSpot called
invalid for that property (the same value fails for every record), or any value at all to a
property HubSpot says cannot be written (missing, read-only). Anything else, such as a
rejection that depends on the record's current state, names nothing: the caller then splits.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

PREFIX = "Property values were not valid:"
# Codes where the property alone makes every write to it fail, whatever the value.
PROPERTY_CODES = frozenset({"PROPERTY_DOESNT_EXIST", "READ_ONLY_VALUE"})
# "<value> was not one of the allowed options: […]" / "<value> was not a valid number."
_VALUE = re.compile(r"^(?P<value>.*?) was not (?:one of the allowed options|a valid [\w -]+)",
                    re.DOTALL)
REASON_CHARS = 200


@dataclass(frozen=True)
class Finding:
    """One problem a 400 names: a property (with the rejected value, if stated) or ids."""

    code: str
    message: str
    property_name: str | None = None
    value: str | None = None
    ids: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        """One line for the outbox and the summary, e.g. `INVALID_OPTION: leadsync_grade: …`."""
        text = " ".join(self.message.split())
        if len(text) > REASON_CHARS:
            text = text[:REASON_CHARS - 1].rstrip() + "…"
        where = f"{self.property_name}: " if self.property_name else ""
        return f"{self.code or 'VALIDATION_ERROR'}: {where}{text}"


def findings(body: Mapping[str, Any] | None) -> list[Finding]:
    """Every problem the error body names, from `context`, `errors[]` and `message`."""
    body = body if isinstance(body, Mapping) else {}
    found: list[Finding] = []
    message = str(body.get("message") or "")
    ids = _ids(body.get("context"))
    if ids:
        found.append(Finding(str(body.get("category") or "VALIDATION_ERROR"), message, ids=ids))
    for error in body.get("errors") or []:
        if not isinstance(error, Mapping):
            continue
        context = error.get("context") if isinstance(error.get("context"), Mapping) else {}
        text = str(error.get("message") or "")
        code = str(error.get("code") or error.get("category") or "")
        names = [str(n) for n in context.get("propertyName") or [] if n] or [None]
        found += [Finding(code, text, name, _value(text)) for name in names]
        if _ids(context):
            found.append(Finding(code, text, ids=_ids(context)))
    for result in _validation_results(message):
        name = result.get("name")
        text = str(result.get("message") or "")
        found.append(Finding(str(result.get("error") or ""), text,
                             str(name) if name else None, _value(text)))
    unique: dict[tuple, Finding] = {}
    for finding in found:
        unique.setdefault((finding.code, finding.property_name, finding.value, finding.ids,
                           " ".join(finding.message.split())), finding)
    return list(unique.values())


def named_inputs(body: Mapping[str, Any] | None,
                 inputs: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Input id → HubSpot's reason, for each input the 400 names; empty when it names none."""
    named: dict[str, str] = {}
    problems = findings(body)
    for item in inputs:
        key = str(item.get("id"))
        properties = item.get("properties") or {}
        for finding in problems:
            if _names(finding, key, properties):
                named.setdefault(key, finding.reason)
    return named


def _names(finding: Finding, key: str, properties: Mapping[str, Any]) -> bool:
    if finding.ids:
        return key in finding.ids
    if finding.property_name is None or finding.property_name not in properties:
        return False
    if finding.value is not None:
        raw = properties[finding.property_name]
        written = "" if raw is None else str(raw).strip()
        # Multiple checkboxes are `;`-joined and HubSpot names the one bad option.
        return finding.value in (written, *written.split(";"))
    return finding.code.upper() in PROPERTY_CODES


def _value(message: str) -> str | None:
    match = _VALUE.match(message.strip())
    return match.group("value").strip() if match else None


def _ids(context: Any) -> tuple[str, ...]:
    if not isinstance(context, Mapping):
        return ()
    return tuple(str(i) for i in context.get("ids") or [] if i not in (None, ""))


def _validation_results(message: str) -> list[Mapping[str, Any]]:
    """The JSON array HubSpot embeds after "Property values were not valid:"."""
    start = message.find(PREFIX)
    if start < 0:
        return []
    try:
        results = json.loads(message[start + len(PREFIX):].strip())
    except ValueError:
        return []
    if not isinstance(results, list):
        return []
    return [r for r in results if isinstance(r, Mapping) and r.get("isValid") is not True]
