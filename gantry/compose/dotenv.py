"""Compose's dotenv reader: `env_file:` entries and the project `.env` (`--env-file`), as compose-go reads them.

A port of compose-go v2.9.1 `dotenv/parser.go` (the version Docker Compose v2.40.3 ships), because its
rules differ from python-dotenv: a key may end at `=`, `:` or a newline (a bare `NAME` line inherits
`NAME` from the lookup, and is dropped when the lookup has no value); `export ` is skipped; an unquoted
value ends at the newline, an inline comment needs a space before `#`; single quotes are literal;
double quotes take `\\n`-style escapes (`\\$` stays a literal `$`) and then `${VAR}` templates; a value
may span lines inside quotes; text after a closing quote starts the next statement.

Templates are expanded with the injected `lookup` first and the file's own earlier keys second
(compose-go `expandVariables`). Nothing here reads a file.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from gantry.compose.interpolate import InvalidTemplate, MissingRequired, sentinel, substitute

DotenvLookup = Callable[[str], "str | None"]

_ESCAPES = re.compile(r'\\(?:[abcfnrtv$"\\]|0\d{0,3})')
_EXPORT = re.compile(r"export[\t\n\f\r ]+")
_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", '"': '"', "\\": "\\"}
_SPACE = "\t\v\f\r \x85\xa0"  # compose-go isSpace: whitespace but not a line break


class DotenvError(Exception):
    """A line compose's dotenv parser refuses; `line` is 1-based."""

    def __init__(self, line: int, message: str, source: str = "") -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message
        self.source = source  # the file's name, when known


def _unescape(match: re.Match) -> str:
    text = match.group(0)
    if text == "\\$":
        return "$$"  # the template pass turns it into a literal `$`
    if text.startswith("\\0"):
        digits = text[2:]
        if len(digits) == 3 and all(c in "01234567" for c in digits) and int(digits, 8) < 256:
            return chr(int(digits, 8))
        return "\\" + digits  # Go's UnquoteChar refuses it; compose keeps it with `\0` cut to `\`
    return _SIMPLE[text[1]]


class _Parser:
    def __init__(self, text: str, lookup: DotenvLookup, keep: frozenset[str]) -> None:
        self.line = 1
        self.lookup = lookup
        self.keep = keep
        self.text = text[1:] if text.startswith("\ufeff") else text

    def parse(self, out: dict[str, str]) -> None:
        rest = self.text
        while True:
            rest = self._statement_start(rest)
            if not rest:
                return
            key, rest, inherited = self._key(rest)
            if " " in key:
                raise DotenvError(self.line, "key cannot contain a space")
            if inherited:
                value = self.lookup(key)
                if value is not None:
                    out[key] = value
                continue
            value, rest = self._value(rest, out)
            out[key] = value

    def _skip_space(self, src: str) -> int:
        for i, char in enumerate(src):
            if char == "\n":
                self.line += 1
            if not char.isspace():
                return i
        return -1

    def _statement_start(self, src: str) -> str:
        while True:
            pos = self._skip_space(src)
            if pos == -1:
                return ""
            src = src[pos:]
            if src[0] != "#":
                return src
            newline = src.find("\n")
            if newline == -1:
                return ""
            src = src[newline:]

    def _key(self, src: str) -> tuple[str, str, bool]:
        if _EXPORT.match(src):
            src = src[len("export"):].lstrip(_SPACE)
        key, offset, inherited = "", 0, False
        for i, char in enumerate(src):
            if char in _SPACE:
                continue
            if char in "=:\n":
                key, offset, inherited = src[:i], i + 1, char == "\n"
                break
            if char in "_.-[]" or char.isalpha() or char.isnumeric():
                continue
            first = src.split("\n", 1)[0]
            raise DotenvError(self.line, f'unexpected character "{char}" in variable name "{first}"')
        if inherited and " " not in key:
            self.line += 1
        return key.rstrip(), src[offset:].lstrip(_SPACE), inherited

    def _value(self, src: str, out: dict[str, str]) -> tuple[str, str]:
        quote = src[:1]
        if quote not in ("'", '"'):
            value, _, rest = src.partition("\n")
            self.line += 1
            value = value.split(" #", 1)[0].rstrip()
            return self._expand(value, out), rest
        chars: list[str] = []
        escaped = False
        for i in range(1, len(src)):
            char = src[i]
            if char == "\n":
                self.line += 1
            if char != quote:
                if not escaped and char == "\\":
                    escaped = True
                    continue
                if escaped:
                    escaped = False
                    chars.append("\\")
                chars.append(char)
                continue
            if escaped:
                escaped = False
                chars.append(char)
                continue
            value = "".join(chars)
            if quote == '"':
                value = self._expand(_ESCAPES.sub(_unescape, value), out)
            return value, src[i + 1:]
        raise DotenvError(self.line, f"unterminated quoted value {src.split(chr(10), 1)[0]}")

    def _expand(self, value: str, out: dict[str, str]) -> str:
        def mapping(name: str, _kind: str) -> str | None:
            found = self.lookup(name)
            if found is None and name in self.keep and out.get(name):
                return sentinel(name)  # a secret read earlier from the file stays a reference
            return found if found is not None else out.get(name)
        try:
            return substitute(value, mapping)
        except InvalidTemplate as exc:
            raise DotenvError(self.line - 1, f"invalid interpolation format: {exc.template or value!r}") from None
        except MissingRequired as exc:
            what = f"required variable {exc.variable} is missing a value"
            raise DotenvError(self.line - 1, f"{what}: {exc.reason}" if exc.reason else what) from None


def parse_dotenv(text: str, lookup: DotenvLookup = lambda _name: None,
                 initial: dict[str, str] | None = None, keep: frozenset[str] = frozenset()) -> dict[str, str]:
    """Keys and values of dotenv `text` in file order, added to a copy of `initial` (later keys win).

    Templates see `lookup` first, then `initial` and the keys read so far; a bare `NAME` line asks
    `lookup` only. A template naming a key of `keep` found only in the file gives its `sentinel`.
    """
    out = dict(initial or {})
    _Parser(text, lookup, keep).parse(out)
    return out


def project_environment(environ: dict[str, str], env_files: list[tuple[str, str]]) -> dict[str, str]:
    """The project environment: the process environment over the `--env-file` files (compose-go
    `GetEnvFromFile`, then `Mapping.Merge`). `env_files` are (name, text); a file's templates see the
    process environment first, then every key read before."""
    values: dict[str, str] = {}
    for name, text in env_files:
        try:
            values = parse_dotenv(text, environ.get, values)
        except DotenvError as exc:
            raise DotenvError(exc.line, exc.message, name) from None
    return {**values, **environ}
