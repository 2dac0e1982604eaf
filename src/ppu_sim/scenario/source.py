"""Read a pack file into plain data and the line of every field, bounding what the file can cost.

Packs are reloaded while the server runs, so a file must not be able to exhaust or hang whatever
reads it. YAML aliases let a few hundred bytes stand for billions of nodes ("billion laughs"), and
anything that walks the data afterwards (schema check, line map) pays for every one; nesting
recurses; huge integers and non-finite floats break arithmetic later. So the file's size, its
nesting depth, what its aliases expand to and its numbers are all bounded while the YAML is
composed, before anything else walks it, and each refusal names its line.
"""

from __future__ import annotations

import math
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Field = tuple[str | int, ...]

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 32
# Nodes that aliases may add in all: room to reuse a block in every scenario of a large pack, and
# a bound on what walking the data can cost (about a second).
MAX_ALIASED_NODES = 100_000
# Amounts, counts and seconds all fit in 64 bits; beyond that a number is a mistake (or an attack).
INT_LIMIT = 2**63


class SourceError(Exception):
    """Why a file cannot be read as a pack; ``line`` is None when the file as a whole is at fault."""

    def __init__(self, message: str, line: int | None = None, field: Field = ()) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.field = field


@dataclass(frozen=True)
class Source:
    data: Any
    # The line of every field written out in the file (not those reached only through an alias).
    lines: dict[Field, int]


def read_source(path: Path) -> Source:
    return parse_source(_read_text(path))


def parse_source(text: str) -> Source:
    """Pack text (from a file, or uploaded to the control API) under the same bounds as a file."""
    if len(text) > MAX_BYTES:
        raise SourceError(f"cannot read: larger than {MAX_BYTES // 2**20} MiB (split it into several packs)")
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:  # a control character, found before parsing starts
        line = text.count("\n", 0, exc.position) + 1
        raise SourceError(f"not valid YAML: character #x{exc.character:04x} is not allowed", line) from exc
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem if isinstance(exc, _Refused) else f"not valid YAML: {exc.problem}"
        raise SourceError(message, mark.line + 1 if mark else 1, loader.field_of(exc)) from exc
    finally:
        loader.dispose()
    return Source(data, loader.lines)


def _read_text(path: Path) -> str:
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise SourceError("cannot read: not a regular file")
        with path.open("rb") as file:
            raw = file.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from exc
    if len(raw) > MAX_BYTES:
        raise SourceError(f"cannot read: larger than {MAX_BYTES // 2**20} MiB (split it into several packs)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise SourceError(f"not UTF-8 text: byte 0x{raw[exc.start]:02x}", line) from exc


class _Refused(yaml.MarkedYAMLError):
    """Valid YAML that this loader will not take."""

    def __init__(self, problem: str, mark: yaml.Mark) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, counting while it composes: depth, alias expansion, the path and line of each field."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.path: list[str | int] = []  # the field being composed
        self.lines: dict[Field, int] = {}
        self.starts: dict[tuple[int, int], Field] = {}  # field by where its value starts (line, column)
        self.depth = 0
        self.expanded = 0  # nodes so far, an alias counting as every node it stands for
        self.aliased = 0
        self.sizes: dict[int, int] = {}  # by id(node): how many nodes it stands for, once composed

    def field_of(self, exc: yaml.MarkedYAMLError) -> Field:
        """The value the error is about (a constructor names where it starts), else where composition stopped."""
        starts = [(m.line, m.column) for m in (exc.problem_mark, exc.context_mark) if m]
        return next((self.starts[s] for s in starts if s in self.starts), tuple(self.path))

    def compose_node(self, parent: yaml.Node | None, index: yaml.Node | int | None) -> yaml.Node:
        event = self.peek_event()
        if self.depth == MAX_DEPTH:
            del self.path[4:]  # name where the nesting starts, not all of it
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        is_key = parent is not None and index is None
        if parent is not None and not is_key:
            # (a key that is itself a collection is refused once constructed; "?" holds its place)
            key = index.value if isinstance(index, yaml.ScalarNode) else "?"
            self.path.append(index if isinstance(index, int) else key)
        if not is_key:  # a mapping's value is placed at its key's line
            mark = index.start_mark if isinstance(index, yaml.Node) else event.start_mark
            self.lines[tuple(self.path)] = mark.line + 1
            self.starts[(event.start_mark.line, event.start_mark.column)] = tuple(self.path)
        self.depth += 1
        before = self.expanded
        if isinstance(event, yaml.AliasEvent):
            self._expand(event)
            node = super().compose_node(parent, index)
        else:
            self.expanded += 1
            node = super().compose_node(parent, index)
            self.sizes[id(node)] = self.expanded - before
        self.depth -= 1
        if parent is not None and not is_key:
            self.path.pop()
        return node

    def _expand(self, alias: yaml.AliasEvent) -> None:
        target = self.anchors.get(alias.anchor)
        if target is None:
            return  # PyYAML reports the undefined alias
        size = self.sizes.get(id(target))
        if size is None:
            raise _Refused(f"alias *{alias.anchor} is inside its own anchor (an endless structure)", alias.start_mark)
        self.aliased += size
        if self.aliased > MAX_ALIASED_NODES:
            raise _Refused(f"aliases expand to more than {MAX_ALIASED_NODES} nodes", alias.start_mark)
        self.expanded += size

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, KeyError, AttributeError) as exc:
            # What PyYAML's scalar constructors raise on text a tag does not fit ("!!bool maybe", 2026-13-45).
            kind = node.tag.rsplit(":", 1)[-1]
            raise _Refused(f"{clip(node.value)!r} is not a valid {kind}", node.start_mark) from exc


def _int(loader: _Loader, node: yaml.ScalarNode) -> int:
    try:
        value = loader.construct_yaml_int(node)
    except ValueError:
        if not node.value.lstrip("+-").replace("_", "").isdigit():
            raise
        value = INT_LIMIT  # more digits than Python converts
    if not -INT_LIMIT <= value < INT_LIMIT:
        raise _Refused("integer out of range (more than 64 bits)", node.start_mark)
    return value


def _float(loader: _Loader, node: yaml.ScalarNode) -> float:
    value = loader.construct_yaml_float(node)
    if not math.isfinite(value):
        raise _Refused("not a finite number (infinite or NaN)", node.start_mark)
    return value


def clip(text: str, limit: int = 60) -> str:
    """A value as shown in a message: a huge one must not flood the report."""
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


_Loader.add_constructor("tag:yaml.org,2002:int", _int)
_Loader.add_constructor("tag:yaml.org,2002:float", _float)
