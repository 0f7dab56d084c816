"""SECRET-ENV-LITERAL: secrets written into the compose file, judged on the non-interpolated model.

Messages name the variable, never its value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from gantry.policy.findings import Hit, ServiceView
from gantry.policy.scalars import environment, is_flag

SECRET_WORDS = (
    "PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "API_KEY", "APIKEY", "PRIVATE_KEY",
    "ACCESS_KEY", "ENCRYPTION_KEY", "CREDENTIAL",
)
SECRET_SUFFIXES = ("_PASS", "_PWD", "_SALT", "_DSN")
# Knobs about a secret rather than the secret: PASSWORD_MIN_LENGTH, TOKEN_EXPIRE_MINUTES, MAX_TOKENS.
QUANTITY_WORDS = frozenset({
    "EXPIRE", "EXPIRES", "EXPIRY", "EXPIRATION", "TTL", "TIMEOUT", "LIFETIME", "AGE", "INTERVAL",
    "MINUTES", "SECONDS", "HOURS", "DAYS", "MAX", "MIN", "LENGTH", "LEN", "SIZE", "COUNT", "LIMIT",
    "ROUNDS", "ITERATIONS",
})
_URL_CREDENTIALS = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]+:([^/@\s]+)@")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def is_secret_name(key: str) -> bool:
    name = key.strip().upper()
    if name.endswith("_FILE") or QUANTITY_WORDS & set(re.split(r"[^A-Z0-9]+", name)):
        return False
    return any(word in name for word in SECRET_WORDS) or name.endswith(SECRET_SUFFIXES)


def _closing_brace(text: str, start: int) -> int:
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return -1


def has_literal(template: str) -> bool:
    """True when the value holds text of its own, not only variable references.

    `${X}`, `$X` and `${X:?msg}` carry nothing; a `${X:-default}` (or `-`, `:+`, `+`) with
    literal text in the default counts as a literal, as does `$$` or any text around them.
    """
    i = 0
    while i < len(template):
        if template.startswith("$$", i):
            return True
        if template.startswith("${", i):
            end = _closing_brace(template, i + 1)
            if end < 0:
                return True
            body = template[i + 2:end]
            name = _NAME.match(body)
            rest = body[name.end():] if name else body
            for op in (":-", ":+", "-", "+"):
                if rest.startswith(op):
                    if has_literal(rest[len(op):]):
                        return True
                    break
            i = end + 1
            continue
        if template[i] == "$":
            name = _NAME.match(template, i + 1)
            if name:
                i = name.end()
                continue
        if not template[i].isspace():
            return True
        i += 1
    return False


def check(view: ServiceView) -> Iterator[Hit]:
    if view.raw is None:
        return
    for key, value in environment(view.raw.get("environment")).items():
        if value is None:
            continue
        text = str(value)
        path = f"{view.base}.environment.{key}"
        if is_secret_name(key) and not is_flag(value) and has_literal(text):
            yield Hit("SECRET-ENV-LITERAL", path, f"{key} has a literal value in the compose file")
        elif any(has_literal(m.group(1)) for m in _URL_CREDENTIALS.finditer(text)):
            yield Hit("SECRET-ENV-LITERAL", path, f"{key} embeds credentials in a URL (scheme://user:pass@)")
