"""`inv compose.config`: any compose files merged like `docker compose config`, with the project settings
Compose itself reads from the process environment and the `--env-file` files (default: `.env` next to the
first compose file): COMPOSE_FILE (with COMPOSE_PATH_SEPARATOR), COMPOSE_PROFILES, COMPOSE_PROJECT_NAME,
COMPOSE_ENV_FILES and COMPOSE_DISABLE_ENV_FILE.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from invoke import task

from gantry import compose, yamlio
from gantry.cli.base import user_errors
from gantry.compose.dotenv import DotenvError, project_environment
from gantry.errors import ConfigError, UsageError
from gantry.prepare import read_text


def read_user_file(name: str, flag: str = "-f") -> str:
    """A file named on the command line: missing is a usage error (exit 2); a directory, a device, a FIFO,
    non-UTF-8 or oversized content is invalid input (exit 1), said by the one bounded reader."""
    if not os.path.lexists(name):
        raise UsageError(f"{flag} {name}", "file does not exist", "check the path")
    return yamlio.read_text(name, f"{flag} {name}")


def _env_files(env_file: list[str], first_dir: Path) -> list[str]:
    if env_file:
        return env_file
    if os.environ.get("COMPOSE_ENV_FILES"):
        return os.environ["COMPOSE_ENV_FILES"].split(",")
    if os.environ.get("COMPOSE_DISABLE_ENV_FILE", "").lower() in ("1", "t", "true"):
        return []
    default = first_dir / ".env"
    return [str(default)] if default.is_file() else []


def load_project(files: list[str], env_file: list[str], profiles: list[str], *, interpolate: bool,
                 project_name: str | None = None) -> compose.ComposeModel:
    """The files with the project environment and settings Compose would use; every user mistake a GantryError."""
    environ = dict(os.environ)
    if not files and environ.get("COMPOSE_FILE"):
        files = environ["COMPOSE_FILE"].split(environ.get("COMPOSE_PATH_SEPARATOR") or os.pathsep)
    if not files:
        raise UsageError("-f", "no compose file given", "pass -f FILE (repeat for overrides)")
    first_dir = Path(files[0]).resolve().parent
    texts = [(name, read_user_file(name, "--env-file")) for name in _env_files(env_file, first_dir)]
    try:
        values = project_environment(environ, texts)
    except DotenvError as exc:
        raise ConfigError(f"{exc.source}:{exc.line}", exc.message, "fix that line of the env file") from None
    if not files and values.get("COMPOSE_FILE"):
        files = values["COMPOSE_FILE"].split(values.get("COMPOSE_PATH_SEPARATOR") or os.pathsep)
    sources = [compose.SourceFile(f, read_user_file(f)) for f in files]
    if not profiles and values.get("COMPOSE_PROFILES"):
        profiles = [p.strip() for p in values["COMPOSE_PROFILES"].split(",")]
    return compose.load_compose(sources, values.get, project_dir=str(first_dir), profiles=profiles,
                                project_name=project_name or values.get("COMPOSE_PROJECT_NAME") or None,
                                interpolate=interpolate, read_file=read_text)


@task(iterable=["file", "env_file", "profile"],
      help={"file": "a compose file (repeat -f for overrides; default: COMPOSE_FILE)",
            "env_file": "a .env file for the project environment (repeatable; default: .env next to the first file)",
            "profile": "a profile to activate (repeatable; default: COMPOSE_PROFILES)",
            "project_name": "the project name (default: COMPOSE_PROJECT_NAME, then name:, then the directory)",
            "format": "yaml or json", "no_interpolate": "keep ${VAR} references as written"})
@user_errors
def compose_config(c, file=None, env_file=None, profile=None, project_name=None, format="yaml",
                   no_interpolate=False):
    """Merge any compose files like `docker compose config` does (same output shape, same exit status)."""
    if format not in ("yaml", "json"):
        raise UsageError("--format", f"unknown format {yamlio.excerpt(format)}", "use yaml or json")
    model = load_project(list(file or []), list(env_file or []), list(profile or []),
                         interpolate=not no_interpolate, project_name=project_name)
    for w in model.warnings:
        print(f"warning: {w}", file=sys.stderr)
    sys.stdout.write(compose.render_json(model) if format == "json" else compose.render_yaml(model, like_binary=True))
