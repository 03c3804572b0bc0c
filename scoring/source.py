"""Finding the line a model problem is on: tomllib keeps no positions, so we search the text.

Best effort by design: a line number is a convenience, and a wrong guess is worse than none,
so every search is confined to the block (section or rule) the problem belongs to.
"""
from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*\[")


class Locator:
    """Line numbers (1-based) of sections, rules and keys in one model text."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def rule(self, section: str, index: int, name: str, field: str | None) -> int | None:
        """The line of `field` inside the index-th rule of `section` (or of the rule itself)."""
        block = self._rule_block(section, index, name)
        if block is None:
            return None
        start, end = block
        found = self._path(field, start, end) if field is not None else None
        if found is None:
            found = self._find("name", start, end)
        return (start if found is None else found) + 1

    def key(self, section: str | None, field: str | None) -> int | None:
        """The line of `field` in `[section]` (or of the section header)."""
        if section is None:
            return None
        header = re.compile(rf"^\s*\[+\s*{re.escape(section)}\s*(\]|\.)")
        starts = [i for i, line in enumerate(self.lines) if header.match(line)]
        if not starts:
            return None
        if field is None:
            return starts[0] + 1
        for start in starts:
            end = self._block_end(start, section)
            found = self._path(field, start, end)
            if found is not None:
                return found + 1
        return starts[0] + 1

    def _rule_block(self, section: str, index: int, name: str) -> tuple[int, int] | None:
        header = re.compile(rf"^\s*\[\[\s*{re.escape(section)}\s*\.\s*rules\s*\]\]")
        starts = [i for i, line in enumerate(self.lines) if header.match(line)]
        if index < len(starts):
            return starts[index], self._next_header(starts[index])
        named = re.compile(rf"""^\s*name\s*=\s*["']{re.escape(name)}["']""")
        for i, line in enumerate(self.lines):
            if named.search(line):
                return i, self._next_header(i)
        return None

    def _next_header(self, start: int) -> int:
        for i in range(start + 1, len(self.lines)):
            if _HEADER.match(self.lines[i]):
                return i
        return len(self.lines)

    def _block_end(self, start: int, section: str) -> int:
        own = re.compile(rf"^\s*\[+\s*{re.escape(section)}\s*(\]|\.)")
        for i in range(start + 1, len(self.lines)):
            if _HEADER.match(self.lines[i]) and not own.match(self.lines[i]):
                return i
        return len(self.lines)

    def _path(self, field: str, start: int, end: int) -> int | None:
        """The line of the deepest component of a dotted path found in order within a block."""
        found, position = None, start
        for part in re.sub(r"\[\d+\]", "", field).split("."):
            line = self._find(part, position, end)
            if line is None:
                continue
            found = position = line
        return found

    def _find(self, key: str, start: int, end: int) -> int | None:
        pattern = re.compile(rf"""(^|[\s{{,.\[])["']?{re.escape(key)}["']?\s*[=\]]""")
        for i in range(start, end):
            if pattern.search(self.lines[i].split("#", 1)[0]):
                return i
        return None
