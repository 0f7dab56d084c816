"""Safe YAML loading with the compose binary's scalar rules, marks, and `!reset`/`!override`.

Plain scalars are typed like go-yaml v3, the parser inside `docker compose`: YAML 1.2 booleans and
nulls only (`yes`, `on`, `No` stay strings), no sexagesimal numbers (`1:30` is a string), `0o17` is
octal; like Go's `strconv.ParseInt(s, 0, 64)` underscores are dropped (`1_000` is 1000) and a leading
zero means octal (`0777` is 511). PyYAML's default YAML 1.1 resolver differs on all of these.

Every node's position is kept as `marks[path] = (line, column)` (1-based) so later stages can say
`file:line:column`. Compose spec "Merge and override": `!reset` removes the key (its own value is
discarded); `!override` replaces the key's value instead of merging it. Both are returned as paths.

Every file Gantry reads goes through `read_text` (a regular file, at most MAX_BYTES, UTF-8, no NUL)
and every YAML document through `load_documents`, which bounds nesting (MAX_DEPTH) and the number of
nodes an alias may expand to (MAX_NODES), so a small alias bomb fails fast instead of filling memory.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gantry.errors import ConfigError

Path = tuple  # tuple of str keys and int indexes

_PLAIN = "gantry:plain"
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_YAML_TAG = "tag:yaml.org,2002:"

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
_KNOWN_TAGS = {"str", "int", "float", "bool", "null", "timestamp", "seq", "map"}

MAX_BYTES = 1 << 20  # 1 MiB per file: compose, environment, inventory and secrets files are far smaller
MAX_DEPTH = 64  # nesting levels, counting those an alias brings in
MAX_NODES = 50_000  # nodes in one document after aliases are expanded


class YamlTimestamp(str):
    """An unquoted date: go-yaml makes it a time value, which compose rejects in string fields."""


@dataclass(frozen=True)
class Document:
    """One YAML document: the plain tree, node positions, and `!reset`/`!override` paths."""

    data: object
    marks: dict = field(default_factory=dict)
    resets: tuple = ()
    overrides: tuple = ()
    key_marks: dict = field(default_factory=dict)  # path -> (line, column) of the key naming it
    texts: dict = field(default_factory=dict)  # path -> (scalar text as written, True when unquoted)


def excerpt(text: str, limit: int = 24) -> str:
    """A value for an error message: short one-line text quoted, anything else only described."""
    if len(text) <= limit and text.isprintable() and "=" not in text:
        return f'"{text}"'
    return f"a text of {len(text)} characters"


def shown(value: object) -> str:
    """Any value for an error message: short plain text quoted, a number as it is, the rest only described."""
    if isinstance(value, str):
        return excerpt(value)
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    return f"a {type(value).__name__}"


def _position(data: bytes | str, index: int) -> str:
    before = data[:index]
    nl = b"\n" if isinstance(data, bytes) else "\n"
    line = before.count(nl) + 1
    return f"{line}:{index - (before.rfind(nl) + 1) + 1}"


def read_text(path: os.PathLike | str, shown: str, *, limit: int = MAX_BYTES) -> str:
    """Read a file Gantry was given: a regular file of at most `limit` bytes, UTF-8 text without NUL.

    Errors name the file (as `shown`) and the line and column of a bad byte, never its content.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        what = "is a symbolic link to a missing file" if os.path.islink(path) else "does not exist"
        raise ConfigError(shown, what, "check the path") from None
    except OSError as exc:
        raise ConfigError(shown, f"cannot be read ({exc.strerror})", "check the path and its permissions") from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(shown, "is a directory, not a file", "name a file")
    if not stat.S_ISREG(info.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode)
                else "a device")
        raise ConfigError(shown, f"is {kind}, not a regular file", "name a regular file")
    if info.st_size > limit:
        raise ConfigError(shown, f"is {info.st_size} bytes; the limit is {limit}", "split or shrink the file")
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise ConfigError(shown, f"cannot be read ({exc.strerror})", "check the file's permissions") from None
    if len(data) > limit:
        raise ConfigError(shown, f"is larger than the limit of {limit} bytes", "split or shrink the file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{shown}:{_position(data, exc.start)}", f"is not UTF-8 text (byte 0x{data[exc.start]:02x})",
                          "save the file as UTF-8") from None
    _refuse_nul(text, shown)
    return text


def _refuse_nul(text: str, shown: str) -> None:
    nul = text.find("\0")
    if nul >= 0:
        raise ConfigError(f"{shown}:{_position(text, nul)}", "contains a NUL byte", "remove it; the file must be text")


def yaml11_reading(text: str) -> object:
    """What a YAML 1.1 reader (PyYAML, Ansible, older tools) makes of an unquoted scalar."""
    tag = _YAML11.resolve(ScalarNode, text, (True, False))
    if tag == _STR:
        return text
    try:
        return _YAML11.construct_object(ScalarNode(tag, text), deep=True)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError):
        return text


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
    if tag.startswith(_YAML_TAG):
        value = resolve_plain(node.value)
        kind = tag[len(_YAML_TAG):]
        if kind not in _KNOWN_TAGS:
            raise _fail(node, f"unsupported tag !!{_short(kind)}", "use plain YAML values; no language-specific tags")
        wanted = {"int": int, "float": (int, float), "bool": bool, "null": type(None)}.get(kind)
        if wanted is not None and (not isinstance(value, wanted) or (kind == "int" and isinstance(value, bool))):
            raise _fail(node, f"cannot decode {excerpt(node.value)} as !!{kind}")
        return float(value) if kind == "float" else value
    return node.value  # a local tag such as !foo on a scalar keeps the text


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:40] + "..."


class _Composer(yaml.SafeLoader):
    """PyYAML's composer with a resolver that only marks plain scalars; typing happens in `_Builder`.

    Composing is recursive, so nesting is bounded here, before Python's own recursion limit is reached.
    """

    depth = 0

    def resolve(self, kind, value, implicit):  # noqa: D102 - PyYAML hook
        if kind is ScalarNode:
            return _PLAIN if implicit[0] else _STR
        return super().resolve(kind, value, implicit)

    def compose_node(self, parent, index):  # noqa: D102 - PyYAML hook
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _Error(self.peek_event().start_mark, f"nested deeper than {MAX_DEPTH} levels",
                             "flatten the structure")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


_YAML11 = yaml.SafeLoader("")


class _Error(Exception):
    def __init__(self, mark, message: str, hint: str = "fix the YAML at that position") -> None:
        self.mark = mark
        self.message = message
        self.hint = hint


def _fail(node: Node, message: str, hint: str = "fix the YAML at that position") -> _Error:
    return _Error(node.start_mark, message, hint)


class _Builder:
    def __init__(self) -> None:
        self.marks: dict = {}
        self.key_marks: dict = {}
        self.resets: list = []
        self.overrides: list = []
        self.active: set[int] = set()
        self.key_marks: dict = {}
        self.texts: dict = {}
        self.count = 0

    def build(self, node: Node, path: Path) -> object:
        self.count += 1
        if self.count > MAX_NODES:
            raise _fail(node, f"expands to more than {MAX_NODES} values (aliases repeat what they name)",
                        "use fewer aliases of large anchors")
        if len(path) > MAX_DEPTH:
            raise _fail(node, f"nested deeper than {MAX_DEPTH} levels (counting aliases)", "flatten the structure")
        self.marks.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if node.tag == "!reset":
            self.resets.append(path)
            return _DROP
        if node.tag == "!override":
            self.overrides.append(path)
        if id(node) in self.active:
            raise _fail(node, "an alias refers to one of its own parents")
        if isinstance(node, ScalarNode):
            if "\0" in node.value:
                raise _fail(node, "a value contains a NUL character", "remove the \\0 escape")
            self.texts[path] = (node.value, node.tag == _PLAIN)
            if node.tag == "!override":
                return resolve_plain(node.value) if node.style is None else node.value
            return _explicit(node)
        if node.tag.startswith(_YAML_TAG) and node.tag[len(_YAML_TAG):] not in _KNOWN_TAGS:
            raise _fail(node, f"unsupported tag !!{_short(node.tag[len(_YAML_TAG):])}",
                        "use plain YAML values; no language-specific tags")
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
        raise _fail(node, f"non-string key in {where}: {excerpt(node.value)}")


_DROP = object()


def load_documents(text: str, filename: str) -> list[Document]:
    """Parse every document of a YAML stream; errors name `filename:line:column`."""
    if len(text) > MAX_BYTES:
        raise ConfigError(filename, f"is larger than the limit of {MAX_BYTES} bytes", "split or shrink the file")
    _refuse_nul(text, filename)
    documents = []
    try:
        loader = _Composer(text)
    except yaml.YAMLError as exc:
        raise ConfigError(filename, f"invalid YAML: {_short(str(exc).splitlines()[0])}", "fix the file") from None
    try:
        while loader.check_node():
            node = loader.get_node()
            builder = _Builder()
            data = builder.build(node, ()) if node is not None else None
            documents.append(Document(data if data is not _DROP else None, builder.marks,
                                      tuple(builder.resets), tuple(builder.overrides), builder.key_marks,
                                      builder.texts))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
        raise ConfigError(where, f"invalid YAML: {exc.problem or exc.context}",
                          "fix the YAML syntax at that position") from None
    except yaml.YAMLError as exc:
        raise ConfigError(filename, f"invalid YAML: {_short(str(exc).splitlines()[0])}",
                          "fix the YAML syntax") from None
    except _Error as exc:
        where = f"{filename}:{exc.mark.line + 1}:{exc.mark.column + 1}"
        raise ConfigError(where, exc.message, exc.hint) from None
    except RecursionError:
        raise ConfigError(filename, "nested too deeply", "flatten the structure") from None
    finally:
        loader.dispose()
    return documents


def load_document(text: str, filename: str) -> Document:
    """Parse a file that holds one YAML document (none: an empty Document); errors as `load_documents`."""
    documents = load_documents(text, filename)
    if len(documents) > 1:
        raise ConfigError(filename, f"holds {len(documents)} YAML documents", "keep one document (remove '---')")
    return documents[0] if documents else Document(None)


def format_path(path: Path) -> str:
    """`('services', 'web', 'ports', 0)` -> `services.web.ports[0]`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
