"""secrets.example.env + secrets.<env>.env + process environment -> Secrets.

The example file names every secret (with a placeholder value). Values come from the secrets file
and from the process environment, which wins (that is how a CI job passes them). Values never
appear in a repr, an error or any output: only names and short hashes do.
"""

from __future__ import annotations

import hashlib
import io
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field

from dotenv import dotenv_values

from gantry.errors import Problem

EXAMPLE_FILE = "secrets.example.env"


@dataclass(frozen=True)
class Secrets:
    """Secret values by name. Shows names only."""

    values: Mapping[str, str] = field(default_factory=dict, repr=False)
    sources: Mapping[str, str] = field(default_factory=dict)  # name -> "secrets.prod.env" | "environment"
    declared: frozenset[str] = frozenset()  # every name in the example, with or without a value

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.values)

    def fingerprint(self, name: str) -> str:
        """A short hash that tells a changed value from an unchanged one, revealing nothing."""
        return hashlib.sha256(f"gantry:{name}={self.values[name]}".encode()).hexdigest()[:12]

    def __repr__(self) -> str:
        return f"Secrets(names={sorted(self.values)})"


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
                f"{EXAMPLE_FILE}: {name}", "secret has no value",
                f"set {name} in {file_name} (chmod 600, never committed) or in the job's environment"))
            continue
        if value == "":
            problems.append(Problem(f"{source}: {name}", "secret is empty", f"give {name} a real value"))
        elif placeholder and value == placeholder:
            problems.append(Problem(f"{source}: {name}", "secret still has the placeholder value "
                                    f"from {EXAMPLE_FILE}", f"replace {name} with the real value"))
        values[name] = value
        sources[name] = source
    return Secrets(values, sources, frozenset(example)), problems


def _dotenv_quote(value: str) -> str:
    """Quote a value for Compose's .env reader: single quotes are literal; else escape in double quotes."""
    if "'" not in value:
        return f"'{value}'"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("\n", "\\n")
    return f'"{escaped}"'


def render_env_file(values: Mapping[str, str]) -> str:
    """The release's .env: one NAME='value' line per secret, sorted, read by `docker compose --env-file`."""
    return "".join(f"{name}={_dotenv_quote(values[name])}\n" for name in sorted(values))
