"""Safe YAML loading with the compose binary's scalar rules, marks, and `!reset`/`!override`.

Plain scalars are typed like go-yaml v3, the parser inside `docker compose`: YAML 1.2 booleans and
nulls only (`yes`, `on`, `No` stay strings), no sexagesimal numbers (`1:30` is a string), `0o17` is
octal; like Go's `strconv.ParseInt(s, 0, 64)` underscores are dropped (`1_000` is 1000) and a leading
zero means octal (`0777` is 511). PyYAML's default YAML 1.1 resolver differs on all of these.

Every node's position is kept as `marks[path] = (line, column)` (1-based) so later stages can say
`file:line:column`. Compose spec "Merge and override": `!reset` removes the key (its own value is
discarded); `!override` replaces the key's value instead of merging it. Both are returned as paths.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gantry.errors import ConfigError

Path = tuple  # tuple of str keys and int indexes

_PLAIN = "gantry:plain"
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"

_CONSTANTS: dict[str, object] = {
    **dict.fromkeys(("true", "True", "TRUE"), True),
    **dict.fromkeys(("false", "False", "FALSE"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_GO_INT = re.compile(r"[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)\Z")
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ].*)?\Z")
_INT64 = 1 << 64


class YamlTimestamp(str):
    """An unquoted date: go-yaml makes it a time value, which compose rejects in string fields."""


@dataclass(frozen=True)
class Document:
    """One YAML document: the plain tree, node positions, and `!reset`/`!override` paths."""

    data: object
    marks: dict = field(default_factory=dict)
    resets: tuple = ()
    overrides: tuple = ()
    key_marks: dict = field(default_factory=dict)  # path of a mapping entry -> where its key is


def _go_int(text: str) -> int | None:
    """Parse like Go's ParseInt(text, 0, 64) then ParseUint, after dropping underscores."""
    if not _GO_INT.match(text):
        return None
    sign = -1 if text[0] == "-" else 1
    body = text.lstrip("+-")
    if len(body) > 1 and body[0] == "0" and body[1] in "xXoObB":
        value = int(body[2:], {"x": 16, "o": 8, "b": 2}[body[1].lower()])
    elif len(body) > 1 and body[0] == "0":
        value = int(body, 8)
    else:
        value = int(body)
    value *= sign
    return value if -(1 << 63) <= value < _INT64 else None


def resolve_plain(text: str) -> object:
    """Type an unquoted scalar the way the compose binary's YAML parser does."""
    if text in _CONSTANTS:
        return _CONSTANTS[text]
    if not text:
        return None
    first = text[0]
    if first == ".":
        try:
            return float(text) if _GO_FLOAT.match(text) else text
        except ValueError:
            return text
    if first not in "+-0123456789":
        return text
    if _TIMESTAMP.match(text):
        return YamlTimestamp(text)
    plain = text.replace("_", "")
    number = _go_int(plain)
    if number is not None:
        return number
    if _GO_FLOAT.match(plain):
        return float(plain)
    return text


def _explicit(node: ScalarNode) -> object:
    tag = node.tag
    if tag in (_STR, "!"):
        return node.value
    if tag == _PLAIN:
        return resolve_plain(node.value)
    if tag.startswith("tag:yaml.org,2002:"):
        value = resolve_plain(node.value)
        kind = tag.rsplit(":", 1)[1]
        wanted = {"int": int, "float": (int, float), "bool": bool, "null": type(None)}.get(kind)
        if wanted is not None and (not isinstance(value, wanted) or (kind == "int" and value is True)):
            raise _fail(node, f"cannot decode {node.value!r} as !!{kind}")
        return float(value) if kind == "float" else value
    return node.value  # a local tag such as !foo on a scalar keeps the text


class _Composer(yaml.SafeLoader):
    """PyYAML's composer with a resolver that only marks plain scalars; typing happens in `_Builder`."""

    def resolve(self, kind, value, implicit):  # noqa: D102 - PyYAML hook
        if kind is ScalarNode:
            return _PLAIN if implicit[0] else _STR
        return super().resolve(kind, value, implicit)


class _Error(Exception):
    def __init__(self, mark, message: str) -> None:
        self.mark = mark
        self.message = message


def _fail(node: Node, message: str) -> _Error:
    return _Error(node.start_mark, message)


class _Builder:
    def __init__(self) -> None:
        self.marks: dict = {}
        self.key_marks: dict = {}
        self.resets: list = []
        self.overrides: list = []
        self.active: set[int] = set()

    def build(self, node: Node, path: Path) -> object:
        self.marks.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if node.tag == "!reset":
            self.resets.append(path)
            return _DROP
        if node.tag == "!override":
            self.overrides.append(path)
        if id(node) in self.active:
            raise _fail(node, "an alias refers to one of its own parents")
        if isinstance(node, ScalarNode):
            if node.tag == "!override":
                return resolve_plain(node.value) if node.style is None else node.value
            return _explicit(node)
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                items = (self.build(child, (*path, i)) for i, child in enumerate(node.value))
                return [item for item in items if item is not _DROP]
            if isinstance(node, MappingNode):
                return self.mapping(node, path)
        finally:
            self.active.discard(id(node))
        raise _fail(node, f"unsupported YAML node {node.tag}")

    def mapping(self, node: MappingNode, path: Path) -> dict:
        result: dict = {}
        seen: dict[str, int] = {}
        merged: list[dict] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE or (key_node.tag == _PLAIN and key_node.value == "<<"):
                merged.extend(self.merge_sources(value_node, path))
                continue
            key = self.key(key_node, path)
            if key in seen:
                raise _fail(key_node, f"mapping key {key!r} already defined at line {seen[key]}")
            seen[key] = key_node.start_mark.line + 1
            self.key_marks.setdefault((*path, key), (seen[key], key_node.start_mark.column + 1))
            value = self.build(value_node, (*path, key))
            if value is not _DROP:
                result[key] = value
        for source in merged:  # explicit keys win, then earlier merge sources
            for key, value in source.items():
                if key not in seen:
                    seen[key] = 0
                    result[key] = value
        return result

    def merge_sources(self, node: Node, path: Path) -> Iterator[dict]:
        nodes = node.value if isinstance(node, SequenceNode) else [node]
        for item in nodes:
            if not isinstance(item, MappingNode):
                raise _fail(item, "map merge requires map or sequence of maps as the value")
            built = self.build(item, path)
            if built is not _DROP:
                yield built

    def key(self, node: Node, path: Path) -> str:
        if not isinstance(node, ScalarNode):
            raise _fail(node, "a mapping key must be a string")
        value = _explicit(node)
        if isinstance(value, str):
            return str(value)
        where = ".".join(str(p) for p in path) or "top level"
        raise _fail(node, f"non-string key in {where}: {node.value}")


_DROP = object()


def load_documents(text: str, filename: str) -> list[Document]:
    """Parse every document of a YAML stream; errors name `filename:line:column`."""
    loader = _Composer(text)
    documents = []
    try:
        while loader.check_node():
            node = loader.get_node()
            builder = _Builder()
            data = builder.build(node, ()) if node is not None else None
            documents.append(Document(data if data is not _DROP else None, builder.marks,
                                      tuple(builder.resets), tuple(builder.overrides), builder.key_marks))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
        raise ConfigError(where, f"invalid YAML: {exc.problem or exc.context}",
                          "fix the YAML syntax at that position") from None
    except yaml.YAMLError as exc:
        raise ConfigError(filename, f"invalid YAML: {exc}", "fix the YAML syntax") from None
    except _Error as exc:
        where = f"{filename}:{exc.mark.line + 1}:{exc.mark.column + 1}"
        raise ConfigError(where, exc.message, "fix the YAML at that position") from None
    finally:
        loader.dispose()
    return documents


def format_path(path: Path) -> str:
    """`('services', 'web', 'ports', 0)` -> `services.web.ports[0]`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
