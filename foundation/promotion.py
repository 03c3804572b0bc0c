"""`leadsync promote`'s edit of leadsync.toml: a challenger becomes the champion in place.

Only the drives_stages / shadow / write_back keys of the [[models]] tables change, line by
line, so the user's comments and layout stay; the result is parsed again before it is written.
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import ConfigError
from foundation.settings import Settings, _parse, load

_MODELS_HEADER = re.compile(r"^\s*\[\[\s*models\s*\]\]\s*(#.*)?$")
_TABLE_HEADER = re.compile(r"^\s*\[")


@dataclass(frozen=True)
class Promotion:
    """leadsync.toml with `name` made the champion: the new text, its settings, and what
    changed (one line per key) for the user to read before it is written."""

    path: Path
    text: str
    settings: Settings
    changes: tuple[str, ...]


def promotion(path: str | os.PathLike, name: str) -> Promotion:
    """Make model `name` drive lifecycle stages (out of shadow, its properties written) and
    the model that drove them a shadow that keeps writing its own properties. Edits only
    those keys in the [[models]] tables, so comments and layout stay as they are."""
    path = Path(path)
    current = load(path)
    text = path.read_text(encoding="utf-8")
    if not current.configured_models:
        raise ConfigError(f"{path}: has no [[models]]; promote makes one [[models]] entry the "
                          f"champion (docs/model.md, \"Several models\")")
    target = current.model_named(name)
    if target.drives_stages:
        raise ConfigError(f"{path}: model {name} already drives lifecycle stages; nothing to "
                          f"promote")
    lines = text.splitlines(keepends=True)
    blocks = _model_blocks(lines, path)
    if set(blocks) != {m.name for m in current.models}:
        raise ConfigError(f"{path}: promote edits [[models]] tables with a name = \"…\" line; "
                          f"edit this file by hand (set drives_stages and shadow)")
    edits: dict[str, dict[str, str]] = {name: {"shadow": "false", "drives_stages": "true",
                                               "write_back": "true"}}
    champion = next((m for m in current.models if m.drives_stages), None)
    if champion is not None:
        edits[champion.name] = {"drives_stages": "false", "shadow": "true", "write_back": "true"}
    changes = []
    # edit from the bottom up, so the line numbers of blocks above stay right
    for model_name in sorted(edits, key=lambda n: -blocks[n][0]):
        start, end, name_line = blocks[model_name]
        for key, value in edits[model_name].items():
            changes.append(f"models {model_name}: {key} = {value}")
            lines = _set_key(lines, start, end, name_line, key, value)
            end = _model_blocks(lines, path)[model_name][1]
    new_text = "".join(lines)
    try:
        settings = _parse(tomllib.loads(new_text), str(path))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: promote could not edit the file safely ({exc}); edit it by "
                          f"hand") from None
    return Promotion(path, new_text, settings, tuple(sorted(changes)))


def write_promotion(promotion: Promotion) -> Path:
    """Write the promoted config (atomically) and keep the previous one beside it as
    <name>.bak; returns the backup's path."""
    path = promotion.path
    backup = path.with_name(path.name + ".bak")
    temporary = path.with_name(path.name + ".promote")
    try:
        backup.write_bytes(path.read_bytes())
        temporary.write_text(promotion.text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write ({exc.strerror}); nothing was changed") from None
    return backup


def _model_blocks(lines: list[str], path: Path) -> dict[str, tuple[int, int, int]]:
    """name → (first line, end line, the name line) of each [[models]] table."""
    blocks: dict[str, tuple[int, int, int]] = {}
    i = 0
    while i < len(lines):
        if not _MODELS_HEADER.match(lines[i]):
            i += 1
            continue
        start, end = i, i + 1
        while end < len(lines) and not _TABLE_HEADER.match(lines[end]):
            end += 1
        for j in range(start + 1, end):
            found = re.match(r'^\s*name\s*=\s*"([^"]*)"', lines[j])
            if found:
                blocks[found.group(1)] = (start, end, j)
                break
        i = end
    return blocks


def _set_key(lines: list[str], start: int, end: int, name_line: int, key: str,
             value: str) -> list[str]:
    pattern = re.compile(rf"^(\s*{key}\s*=\s*)(true|false)(.*)$", re.DOTALL)
    for j in range(start + 1, end):
        found = pattern.match(lines[j])
        if found:
            return lines[:j] + [found.group(1) + value + found.group(3)] + lines[j + 1:]
    indent = re.match(r"^\s*", lines[name_line]).group(0)
    return lines[:name_line + 1] + [f"{indent}{key} = {value}\n"] + lines[name_line + 1:]
