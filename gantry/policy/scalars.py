"""Read compose scalars the way Compose does, for models that were not normalised."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from gantry.units import parse_size

_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0", ""}


def as_bool(value: object) -> bool:
    """Compose booleans: true/false, and the YAML 1.1 strings yes/no/on/off."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return False


def is_flag(value: object) -> bool:
    """A value that reads as a boolean switch rather than content."""
    return isinstance(value, bool) or (isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE)


def as_bytes(value: object) -> int:
    """`536870912`, `512m`, `1.5g`, `64MiB` -> bytes; unreadable -> 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        return parse_size(value.strip()) or 0
    return 0


def as_number(value: object) -> float:
    """`0.5`, `"0.50"`, `2` -> float; unreadable -> 0."""
    if isinstance(value, bool):
        return 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return 0.0
    return 0.0


def as_list(value: object) -> list:
    """A compose list that may also be written as a single scalar."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def dig(mapping: object, *keys: str) -> object:
    """mapping[k1][k2]...; None when any level is missing or not a mapping."""
    for key in keys:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def command_tokens(value: object) -> Iterator[str]:
    """Whitespace-separated words of a command/entrypoint, also inside `sh -c "..."` strings."""
    for item in as_list(value):
        if isinstance(item, str):
            yield from item.split()


def environment(value: object) -> dict[str, object]:
    """An `environment` in map or `KEY=VALUE` list form -> dict (a bare `KEY` maps to None)."""
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    result: dict[str, object] = {}
    for item in as_list(value):
        key, sep, val = str(item).partition("=")
        result[key.strip()] = val if sep else None
    return result
