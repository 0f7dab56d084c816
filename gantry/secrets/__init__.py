"""secrets.example.env + secrets.<env>.env + process environment -> Secrets.

The example file names every secret (with a placeholder value). Values come from the secrets file
and from the process environment, which wins (that is how a CI job passes them). Values never
appear in a repr, an error or any output: only names and short keyed hashes do (HMAC-SHA256 with a
per-environment key that stays on the deploying side, so a manifest cannot be used to test guesses).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field

from dotenv import dotenv_values

from gantry.errors import Problem

EXAMPLE_FILE = "secrets.example.env"
NO_VALUE = "secret has no value"
MIN_LENGTH = 8  # shorter values cannot be masked in output without garbling it ("web", "1")
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class Secrets:
    """Secret values by name. Shows names only."""

    values: Mapping[str, str] = field(default_factory=dict, repr=False)
    sources: Mapping[str, str] = field(default_factory=dict)  # name -> "secrets.prod.env" | "environment"
    declared: frozenset[str] = frozenset()  # every name in the example, with or without a value

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.values)

    def fingerprint(self, name: str, key: bytes) -> str:
        """A short keyed hash that tells a changed value from an unchanged one; without the key it reveals
        nothing and cannot confirm a guess."""
        return keyed_digest(key, f"{name}\0{self.values[name]}")[:12]

    def __repr__(self) -> str:
        return f"Secrets(names={sorted(self.values)})"


def keyed_digest(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def missing_example_problem(secrets_file: str, file_present: bool, unresolved: int) -> Problem | None:
    """Without secrets.example.env nothing is a secret: refuse that when secrets are clearly meant."""
    if not file_present and not unresolved:
        return None
    why = (f"{secrets_file} exists but would be ignored" if file_present
           else f"{unresolved} compose variable(s) have no value, and nothing says which are secrets")
    return Problem(EXAMPLE_FILE, f"does not exist: {why}",
                   f"create {EXAMPLE_FILE} naming every secret with a placeholder (e.g. DB_PASSWORD=change-me)")


def parse_env_text(text: str) -> dict[str, str | None]:
    """Parse dotenv text (python-dotenv's rules, no interpolation)."""
    return dict(dotenv_values(stream=io.StringIO(text), interpolate=False))


def file_mode_problem(path: str, mode: int) -> Problem | None:
    """A secrets file readable by group or others is refused."""
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return Problem(path, f"is readable by group or others (mode {stat.S_IMODE(mode):04o})",
                       f"run: chmod 600 {path}")
    return None


def load_secrets(
    example_text: str,
    file_text: str | None,
    file_name: str,
    environ: Mapping[str, str],
) -> tuple[Secrets, list[Problem]]:
    """Collect every secret named in the example; report all missing, empty or placeholder values."""
    example = parse_env_text(example_text)
    from_file = parse_env_text(file_text) if file_text is not None else {}
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    problems: list[Problem] = []
    for name, placeholder in example.items():
        if name in environ:
            value, source = environ[name], "environment"
        elif name in from_file:
            value, source = from_file[name] or "", file_name
        else:
            problems.append(Problem(
                f"{EXAMPLE_FILE}: {name}", NO_VALUE,
                f"set {name} in {file_name} (chmod 600, never committed) or in the job's environment"))
            continue
        if not NAME_PATTERN.match(name):
            problems.append(Problem(f"{EXAMPLE_FILE}: {name[:40]!r}", "is not a variable name",
                                    "use letters, digits and '_', not starting with a digit"))
            continue
        if value == "":
            problems.append(Problem(f"{source}: {name}", "secret is empty", f"give {name} a real value"))
        elif not _encodable(value):
            problems.append(Problem(f"{source}: {name}", "secret holds bytes that are not UTF-8 text (or a NUL)",
                                    "a release's .env file carries UTF-8 text only"))
            continue
        elif len(value) < MIN_LENGTH:
            problems.append(Problem(f"{source}: {name}", f"secret is shorter than {MIN_LENGTH} characters, too "
                                    "short to be masked in output", f"use a longer value for {name}"))
        elif placeholder and value == placeholder:
            problems.append(Problem(f"{source}: {name}", "secret still has the placeholder value "
                                    f"from {EXAMPLE_FILE}", f"replace {name} with the real value"))
        values[name] = value
        sources[name] = source
    return Secrets(values, sources, frozenset(example)), problems


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a non-UTF-8 process environment
        return False
    return "\0" not in value


_ESCAPES = {"\\": "\\\\", '"': '\\"', "$": "\\$", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _dotenv_quote(value: str) -> str:
    """Quote a value for Compose's .env reader: always double quotes, with `\\ " $` and newline, CR and tab
    escaped. (Single quotes cannot carry a trailing backslash: Compose reads `'abc\\'` as unterminated.)
    tests/test_secrets.py checks every kind of character against the real `docker compose` binary."""
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'


def render_env_file(values: Mapping[str, str]) -> str:
    """The release's .env: one NAME='value' line per secret, sorted, read by `docker compose --env-file`."""
    return "".join(f"{name}={_dotenv_quote(values[name])}\n" for name in sorted(values))
