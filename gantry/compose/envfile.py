"""`env_file` and `label_file`: inline the files into `environment` and `labels` as compose-go does.

compose-go v2.9.1 `types/project.go` (`WithServicesEnvironmentResolved`, `WithServicesLabelsResolved`):
each env file is read in order into the service's own resolved environment; a template in a file
looks up the project environment first, then the service's `environment`, then the keys read so far;
the service's `environment` finally wins over every file (a bare `NAME` entry with no value included).
A missing file is an error unless `required: false`. `format: raw` (registered by docker compose) takes
each `KEY=VALUE` line literally.

Secrets: a key named in `keep` keeps `${NAME}` in the model and its value is returned apart, for the
release's 0600 `.env`; a template in a file that uses a kept variable keeps `${NAME}` in the value too.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field

from gantry.compose.dotenv import DotenvError, DotenvLookup, parse_dotenv
from gantry.compose.interpolate import SENTINEL_RE, Lookup, sentinel
from gantry.compose.normalize import string_map
from gantry.errors import ConfigError
from gantry.yamlio import excerpt

ReadFile = Callable[[str], str]


@dataclass(frozen=True)
class EnvFiles:
    """How to read env files for one project; `kept` collects secret values (never printed)."""

    lookup: Lookup
    keep: frozenset[str]
    read_file: ReadFile | None
    project_dir: str
    kept: dict[str, str] = field(default_factory=dict, repr=False)

    def shown(self, path: str) -> str:
        """A file name for messages: relative to the project directory when it is inside it."""
        rel = posixpath.relpath(path, self.project_dir)
        return path if rel.startswith("..") else rel

    def project(self, name: str) -> str | None:
        value = self.lookup(name)
        return sentinel(name) if name in self.keep and value else value


def parse_raw(text: str, lookup: DotenvLookup) -> dict[str, str]:
    """docker/cli `opts.ParseEnvFile` rules: `KEY=VALUE` taken literally; a bare `KEY` inherits it."""
    out: dict[str, str] = {}
    for number, line in enumerate(text.removeprefix("\ufeff").splitlines(), 1):
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not key:
            raise DotenvError(number, f"no variable name on line {excerpt(line)}")
        if any(c.isspace() for c in key):
            raise DotenvError(number, f"variable {excerpt(key)} contains whitespaces")
        if sep:
            out[key] = value
        elif (found := lookup(key)) is not None:
            out[key] = found
    return out


def _read(entry: dict, where: str, files: EnvFiles, lookup: DotenvLookup, known: dict) -> dict[str, str] | None:
    path = str(entry.get("path"))
    if files.read_file is None:
        raise ConfigError(where, f"{files.shown(path)} cannot be read by this command",
                          "run it through inv validate, inv render or inv compose.config")
    try:
        text = files.read_file(path)
    except FileNotFoundError:
        if entry.get("required", True) in (False, "false"):
            return None
        kind = "label file" if ".label_file[" in where else "env file"
        raise ConfigError(where, f"{kind} {files.shown(path)} not found",
                          "create it, fix the path (relative to the compose file), or add required: false") from None
    except OSError as exc:
        raise ConfigError(where, f"cannot read {files.shown(path)}: {exc.strerror or exc}", "check the file") from None
    fmt = entry.get("format") or ".env"
    try:
        if fmt == ".env":
            return parse_dotenv(text, lookup, known, files.keep)
        if fmt == "raw":
            return {**known, **parse_raw(text, lookup)}
    except DotenvError as exc:
        raise ConfigError(f"{files.shown(path)}:{exc.line}", exc.message,
                          "see the env_file syntax: KEY=value, one per line; quote values with spaces") from None
    raise ConfigError(f"{where}.format", f'unsupported env_file format "{fmt}"', "use .env or raw")


def resolve_env_files(service: dict, name: str, files: EnvFiles) -> dict:
    """The service with `env_file` inlined into `environment` and `label_file` into `labels`."""
    service = dict(service)
    entries = service.pop("env_file", None) or []
    if entries:
        own = string_map(service.get("environment") or {}, ("services", name, "environment"), keep_null=True)

        def lookup(key: str) -> str | None:
            found = files.project(key)
            return found if found is not None else own.get(key)

        values = {k: v for k, v in own.items() if v is not None}
        for i, entry in enumerate(entries):
            values = _read(entry, f"services.{name}.env_file[{i}]", files, lookup, values) or values
        environment: dict = {**values, **own}
        for key, value in environment.items():
            if key in files.keep and key not in own and value is not None and value != sentinel(key):
                _keep(key, value, name, files)
                environment[key] = sentinel(key)
        service["environment"] = environment
    label_files = service.pop("label_file", None) or []
    if label_files:
        labels: dict = {}
        for i, path in enumerate(label_files):
            entry = {"path": path, "required": True}
            labels = _read(entry, f"services.{name}.label_file[{i}]", files, labels.get, labels) or labels
        own_labels = string_map(service.get("labels") or {}, ("services", name, "labels"), keep_null=False)
        service["labels"] = {**labels, **own_labels}
    return service


def _keep(key: str, value: str, service: str, files: EnvFiles) -> None:
    real = SENTINEL_RE.sub(lambda m: files.kept.get(m.group(1)) or files.lookup(m.group(1)) or "", value)
    secret = files.lookup(key)
    if (secret is not None and secret != real) or files.kept.get(key, real) != real:
        raise ConfigError(f"services.{service}.env_file: {key}",
                          f"secret {key} gets a value from an env file that differs from its value elsewhere",
                          f"{key} is named in secrets.example.env: give it one value, in the secrets file "
                          "or in one env file")
    files.kept[key] = real
