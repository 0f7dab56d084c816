"""Go value types read as Docker reads them: durations and byte sizes (the one parser of each).

Durations follow Go's `time.ParseDuration` with the `d` and `w` units of str2duration, which compose-go
uses (`1m30s`, `500ms`, `1.5h`, `2d`); `format_duration` renders like Go's `time.Duration.String`.
Byte sizes follow docker/go-units: `RAMInBytes` (binary: `512m`, `1g`, `64MiB`, as compose reads
`mem_limit`), and with `decimal=True` the sizes `docker images` prints (`200MB` is 200 000 000 bytes;
an explicit `MiB` stays binary). The parsers return None for text they cannot read; callers say why.
"""

from __future__ import annotations

import re

_SIZE = re.compile(r"(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?([iI])?[bB]?")
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d|w)")
_NANOS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9,
          "h": 3600 * 10**9, "d": 86400 * 10**9, "w": 7 * 86400 * 10**9}


def parse_size(text: str, *, decimal: bool = False) -> int | None:
    """`512m`, `1.5g`, `64MiB`, `1048576` -> bytes (binary units; `decimal=True`: k, M, G are powers of 1000)."""
    match = _SIZE.fullmatch(text)
    if not match:
        return None
    number, prefix, binary = match.groups()
    base = 1000 if decimal and not binary else 1024
    return int(float(number) * base ** _POWERS[(prefix or "").lower()])


def parse_duration(text: str) -> int | None:
    """`1m30s`, `-1.5h`, `2d`, `0` -> nanoseconds; None when it is not a duration."""
    if text in ("0", "+0", "-0"):
        return 0
    body = text[1:] if text[:1] in "+-" else text
    parts = _DURATION_PART.findall(body)
    if not parts or "".join(a + b for a, b in parts) != body:
        return None
    nanos = sum(round(float(amount) * _NANOS[unit]) for amount, unit in parts)
    return -nanos if text.startswith("-") else nanos


def format_duration(nanos: int) -> str:
    """Nanoseconds as Go prints a time.Duration: `1m30s`, `1.5s`, `500ms`, `1h0m0s`."""
    if nanos == 0:
        return "0s"
    sign, nanos = ("-" if nanos < 0 else ""), abs(nanos)
    if nanos < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if nanos >= size:
                return sign + _decimal(nanos, size) + unit
    hours, rest = divmod(nanos, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = _decimal(rest, 10**9) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    return f"{sign}{minutes}m{seconds}" if minutes else sign + seconds


def _decimal(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    digits = str(frac).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)
