"""`${VAR}` templates over a compose tree, with the variable lookup injected.

Semantics follow compose-go's `template` package (what `docker compose` v2 runs): `$VAR`, `${VAR}`,
`${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`, `${VAR:+replacement}`,
`${VAR+replacement}`; defaults and messages may hold nested templates; `$$` is a literal `$`; a `$`
followed by anything else that is not a name is kept as is. Keys are never interpolated.

After substitution a string is cast to the type its field has in the compose schema
(`privileged: ${X:-true}` becomes a boolean); see `CASTS`.

Variables named in `keep` are not substituted when they have a non-empty value: a sentinel
(`sentinel(name)`) stands in for them and the renderer writes `${NAME}` back, so the value is only
filled in on the host.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from gantry.errors import InterpolationError, MissingRequiredError
from gantry.yamlio import YamlTimestamp, format_path

Lookup = Callable[[str], "str | None"]

_PATTERN = re.compile(
    r"\$(?i:(?P<escaped>\$)|(?P<named>[_a-z][_a-z0-9]*)|"
    r"{(?:(?P<braced>[_a-z][_a-z0-9]*(?::?[-+?](.*))?)}|(?P<invalid>)))"
)
_OPERATORS = (":?", "?", ":-", "-", ":+", "+")

SENTINEL_OPEN = "\ue000"
SENTINEL_CLOSE = "\ue001"
SENTINEL_RE = re.compile(f"{SENTINEL_OPEN}([A-Za-z_][A-Za-z0-9_]*){SENTINEL_CLOSE}")


def sentinel(name: str) -> str:
    """The placeholder standing for a kept variable until the renderer writes `${name}`."""
    return f"{SENTINEL_OPEN}{name}{SENTINEL_CLOSE}"


class InvalidTemplate(Exception):
    """A `$` expression compose refuses (`${}`, `${VAR BAD}`, ...)."""

    def __init__(self, template: str = "") -> None:
        super().__init__(template)
        self.template = template


class MissingRequired(Exception):
    def __init__(self, variable: str, reason: str) -> None:
        super().__init__(variable)
        self.variable = variable
        self.reason = reason


@dataclass(frozen=True)
class VarRef:
    """One variable lookup: its name, where it was used, and whether the template had a fallback."""

    name: str
    where: str
    has_default: bool
    is_set: bool


Mapping = Callable[[str, str], "str | None"]  # (name, "plain" | "default" | "required")


def substitute(template: str, mapping: Mapping) -> str:
    """Replace every `$` expression in `template`; `mapping(name, kind)` returns the value."""
    error: list[Exception] = []

    def replace(match: re.Match) -> str:
        try:
            return _replace_one(match.group(0), mapping)
        except InvalidTemplate as exc:
            error.append(exc if exc.template else InvalidTemplate(template))
        except MissingRequired as exc:
            error.append(exc)
        return ""

    result = _PATTERN.sub(replace, template)
    if error:
        raise error[0]
    return result


def _closing_brace(text: str) -> int:
    depth, i = 0, 0
    while i < len(text):
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        if text[i] == "{":
            depth += 1
            i += 1
        i += 1
    return -1


def _operator(substring: str) -> str | None:
    found = [(substring.find(op), n, op) for n, op in enumerate(_OPERATORS) if op in substring]
    return min(found)[2] if found else None


def _replace_one(substring: str, mapping: Mapping) -> str:
    operator = _operator(substring)
    end = _closing_brace(substring)
    rest = ""
    if end > -1:
        substring, rest = substring[: end + 1], substring[end + 1:]
    match = _PATTERN.match(substring)
    if match is None:
        raise InvalidTemplate()
    if match.group("escaped"):
        return "$"
    name = match.group("named")
    braced = not name
    if braced:
        name = match.group("braced")
    if not name:
        raise InvalidTemplate()
    if braced and operator is not None and operator in name:
        return _apply(name, operator, mapping) + substitute(rest, mapping)
    return mapping(name, "plain") or ""


def _apply(expression: str, operator: str, mapping: Mapping) -> str:
    name, argument = expression.split(operator, 1)
    if operator in (":?", "?"):
        value = mapping(name, "required")
        if value is None or (operator == ":?" and value == ""):
            raise MissingRequired(name, substitute(argument, mapping))
        return value
    value = mapping(name, "default")
    if operator in (":-", "-"):
        if value is None or (operator == ":-" and value == ""):
            return substitute(argument, mapping)
        return value
    if value is not None and (operator == "+" or value != ""):
        return substitute(argument, mapping)
    return value or ""


# --- casts: compose-go loader/interpolate.go, as data ----------------------------------------


def _to_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "y", "yes", "on"):
        return True
    if lowered in ("false", "n", "no", "off"):
        return False
    raise ValueError(f"invalid boolean: {text}")


def _to_int(text: str) -> int:
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise ValueError(f'parsing "{text}": invalid syntax')
    return int(text)


def _to_float(text: str) -> float:
    if not re.fullmatch(r"[+-]?(inf|infinity|nan|([0-9]+\.?[0-9]*|\.[0-9]+)(e[+-]?[0-9]+)?)", text.lower()):
        raise ValueError(f'parsing "{text}": invalid syntax')
    return float(text)


_S = ("services", "*")
CASTS: tuple[tuple[tuple[str, ...], Callable[[str], object]], ...] = (
    ((*_S, "cpu_count"), _to_int), ((*_S, "cpu_percent"), _to_float), ((*_S, "cpu_period"), _to_int),
    ((*_S, "cpu_quota"), _to_int), ((*_S, "cpu_rt_period"), _to_int),
    ((*_S, "cpu_rt_runtime"), _to_int), ((*_S, "cpus"), _to_float), ((*_S, "cpu_shares"), _to_int),
    ((*_S, "init"), _to_bool), ((*_S, "depends_on", "*", "required"), _to_bool),
    ((*_S, "depends_on", "*", "restart"), _to_bool), ((*_S, "deploy", "replicas"), _to_int),
    ((*_S, "deploy", "update_config", "parallelism"), _to_int),
    ((*_S, "deploy", "update_config", "max_failure_ratio"), _to_float),
    ((*_S, "deploy", "rollback_config", "parallelism"), _to_int),
    ((*_S, "deploy", "rollback_config", "max_failure_ratio"), _to_float),
    ((*_S, "deploy", "restart_policy", "max_attempts"), _to_int),
    ((*_S, "deploy", "placement", "max_replicas_per_node"), _to_int),
    ((*_S, "healthcheck", "retries"), _to_int), ((*_S, "healthcheck", "disable"), _to_bool),
    ((*_S, "oom_kill_disable"), _to_bool), ((*_S, "oom_score_adj"), _to_int),
    ((*_S, "pids_limit"), _to_int), ((*_S, "ports", "[]", "target"), _to_int),
    ((*_S, "privileged"), _to_bool), ((*_S, "read_only"), _to_bool), ((*_S, "scale"), _to_int),
    ((*_S, "stdin_open"), _to_bool), ((*_S, "tty"), _to_bool), ((*_S, "ulimits", "*"), _to_int),
    ((*_S, "ulimits", "*", "hard"), _to_int), ((*_S, "ulimits", "*", "soft"), _to_int),
    ((*_S, "volumes", "[]", "read_only"), _to_bool),
    ((*_S, "volumes", "[]", "volume", "nocopy"), _to_bool),
    *(((kind, "*", flag), _to_bool) for kind, flag in (
        ("networks", "external"), ("networks", "internal"), ("networks", "attachable"),
        ("networks", "enable_ipv4"), ("networks", "enable_ipv6"), ("volumes", "external"),
        ("secrets", "external"), ("configs", "external"))),
)


def path_matches(path: tuple, pattern: tuple) -> bool:
    """`*` matches any key or index, `[]` any list index; other parts must be equal."""
    if len(path) != len(pattern):
        return False
    for part, want in zip(path, pattern):
        if want == "*" or want == part or (want == "[]" and isinstance(part, int)):
            continue
        return False
    return True


def _caster(path: tuple) -> Callable[[str], object] | None:
    for pattern, cast in CASTS:
        if path_matches(path, pattern):
            return cast
    return None


@dataclass
class TreeResult:
    data: object
    references: list[VarRef]
    warnings: list[str]
    errors: list


def interpolate_tree(data: object, lookup: Lookup, *, filename: str, keep: frozenset[str] = frozenset(),
                     marks: dict | None = None) -> TreeResult:
    """Substitute and cast every string value of `data`; collect references and every error."""
    result = TreeResult(None, [], [], [])
    marks = marks or {}

    def where(path: tuple) -> str:
        mark = marks.get(path)
        suffix = f" (line {mark[0]})" if mark else ""
        return f"{filename}: {format_path(path)}{suffix}"

    def value_of(path: tuple) -> Mapping:
        def mapping(name: str, kind: str) -> str | None:
            value = lookup(name)
            result.references.append(VarRef(name, where(path), kind == "default", value is not None))
            if value is None and kind == "plain":
                result.warnings.append(f'The "{name}" variable is not set. Defaulting to a blank string.')
            if name in keep and value:
                return sentinel(name)
            return value
        return mapping

    def walk(value: object, path: tuple) -> object:
        if isinstance(value, dict):
            return {key: walk(item, (*path, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item, (*path, i)) for i, item in enumerate(value)]
        if not isinstance(value, str) or isinstance(value, YamlTimestamp):
            return value
        try:
            text = substitute(value, value_of(path))
        except InvalidTemplate as exc:
            result.errors.append(InterpolationError(
                where(path), f"invalid interpolation format: {exc.template!r}",
                "escape a literal $ as $$, and close every ${ with }"))
            return value
        except MissingRequired as exc:
            result.errors.append(MissingRequiredError(where(path), exc.variable, exc.reason))
            return value
        cast = _caster(path)
        if cast is None:
            return text
        if SENTINEL_OPEN in text:
            names = ", ".join(SENTINEL_RE.findall(text))
            result.errors.append(InterpolationError(
                where(path), f"secret variable {names} is used in a typed field",
                "secrets can only be passed through in string fields such as environment"))
            return value
        try:
            typed = cast(text)
        except ValueError as exc:
            result.errors.append(InterpolationError(
                where(path), f"failed to cast to expected type: {exc}",
                "the value after substitution must fit the field's type"))
            return value
        if cast is _to_bool and text.lower() not in ("true", "false"):
            result.warnings.append(f"{where(path)}: {text!r} for boolean is not supported by YAML 1.2, "
                                   "please use `true` or `false`")
        return typed

    result.data = walk(data, ())
    return result
