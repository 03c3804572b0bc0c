"""Finding the line a model problem is on: tomllib keeps no positions, so we search the text.

Best effort by design: a line number is a convenience, and a wrong guess is worse than none,
so every search is confined to the block (section or rule) the problem belongs to. A rule's
block includes its sub-tables (`[fit.rules.points_by_value]` after `[[fit.rules]]`), and an
index in a path (`bands[2].from`) finds the third item of that array, wherever it starts.
"""
from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*\[")
_INDEXED = re.compile(r"^(.*?)((?:\[\d+\])*)$")


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
        # [fit.rules.points_by_value] after [[fit.rules]]: a table inside the same rule
        inner = re.compile(rf"^\s*\[\s*{re.escape(section)}\s*\.\s*rules\s*\.")
        starts = [i for i, line in enumerate(self.lines) if header.match(line)]
        if index < len(starts):
            return starts[index], self._next_header(starts[index], inner)
        named = re.compile(rf"""^\s*name\s*=\s*["']{re.escape(name)}["']""")
        for i, line in enumerate(self.lines):
            if named.search(line):
                return i, self._next_header(i, inner)
        return None

    def _next_header(self, start: int, inner: re.Pattern | None = None) -> int:
        for i in range(start + 1, len(self.lines)):
            if _HEADER.match(self.lines[i]) and not (inner and inner.match(self.lines[i])):
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
        for part in field.split("."):
            key, indices = _INDEXED.match(part).groups()
            line = self._find(key, position, end)
            if line is None:
                continue
            found = position = line
            if indices:
                item = self._item(line, int(indices[1:].split("]")[0]), end)
                if item is not None:
                    found = position = item
        return found

    def _item(self, line: int, index: int, end: int) -> int | None:
        """The line where item `index` of the array assigned on `line` starts."""
        depth, expecting, count, quote = 0, False, -1, ""
        text = self.lines[line]
        column = text.find("=") + 1
        for number in range(line, end):
            text = self.lines[number] if number > line else text
            position = column if number == line else 0
            while position < len(text):
                char = text[position]
                position += 1
                if quote:
                    if char == "\\" and quote == '"':
                        position += 1
                    elif char == quote:
                        quote = ""
                    continue
                if char == "#":
                    break
                if depth == 1 and expecting and char not in " \t,]":
                    expecting, count = False, count + 1
                    if count == index:
                        return number
                if char in "\"'":
                    quote = char
                elif char in "[{":
                    depth += 1
                    expecting = expecting or depth == 1
                elif char in "]}":
                    depth -= 1
                    if depth <= 0:
                        return None
                elif char == "," and depth == 1:
                    expecting = True
        return None

    def _find(self, key: str, start: int, end: int) -> int | None:
        pattern = re.compile(rf"""(^|[\s{{,.\[])["']?{re.escape(key)}["']?\s*[=\]]""")
        for i in range(start, end):
            if pattern.search(self.lines[i].split("#", 1)[0]):
                return i
        return None
