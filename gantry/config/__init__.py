"""environments/<env>.yml -> Environment: typed, frozen, every problem reported at once.

One walker, driven by the dataclass field annotations, checks types, required keys and unknown keys,
and reports `environments/prod.yml: hosts[1].port: expected an integer, got "twenty-two"` with a
"did you mean" for misspelt keys. No per-key `if` chains.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from gantry import yamlio
from gantry.config.checks import check_name, check_values, compose_project_name, engine_problems
from gantry.errors import ConfigError, Problem, ProblemList, UsageError

ENV_DIR = "environments"


@dataclass(frozen=True)
class Host:
    address: str
    name: str = ""
    user: str = "root"
    port: int = 22
    identity_file: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.name or self.address


@dataclass(frozen=True)
class SSHSettings:
    known_hosts: str = ""  # default: ~/.ssh/known_hosts
    connect_timeout: float = 10.0
    command_timeout: float = 600.0
    connect_retries: int = 3


@dataclass(frozen=True)
class HealthSettings:
    timeout: float = 0.0  # 0: derived from each service's healthcheck plus a margin
    interval: float = 1.0
    settle: float = 3.0  # a service without a healthcheck must run this long without a restart
    margin: float = 30.0


@dataclass(frozen=True)
class RolloutSettings:
    batch_size: int = 0  # 0: all hosts in one batch
    max_parallel: int = 50  # from the cost curve (bench/RESULTS.md): waves of 10 cost more than one of 50
    rollback: str = "fleet"  # fleet: a failed batch returns every touched host; host: only the failed ones


@dataclass(frozen=True)
class WaiverConfig:
    rule: str
    service: str
    reason: str = ""
    expires: datetime.date | None = None


@dataclass(frozen=True)
class ScanConfig:
    severity: str = "CRITICAL"  # findings at or above this block a deploy (when a scanner is installed)
    enabled: bool = True


@dataclass(frozen=True)
class PolicyConfig:
    level: str = "prod"
    rules: dict[str, str] = field(default_factory=dict)
    allow_registries: list[str] = field(default_factory=list)
    allowed_privileged_ports: dict[str, list[int]] = field(default_factory=dict)
    waivers: list[WaiverConfig] = field(default_factory=list)
    scan: ScanConfig = field(default_factory=ScanConfig)
    image_size_budget: str = ""  # e.g. 200MB (as `docker images` counts: 1 MB = 1000000 bytes); "": none


@dataclass(frozen=True)
class HooksConfig:
    pre_deploy: list[str] = field(default_factory=list)
    post_deploy: list[str] = field(default_factory=list)
    on_failure: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SecretSources:
    command: str = ""  # a command whose stdout is dotenv (op inject, vault kv get, pass)
    age_identity: str = ""  # the age key file for secrets.<env>.env.age (or GANTRY_AGE_IDENTITY)
    timeout: float = 60.0


@dataclass(frozen=True)
class NotifyConfig:
    url_secret: str  # the name of a secret holding the webhook URL
    events: list[str] = field(default_factory=lambda: ["deploy", "rollback"])
    timeout: float = 5.0
    retries: int = 3


@dataclass(frozen=True)
class ImagesConfig:
    transfer: str = "registry"  # registry: hosts pull; ssh: images a host lacks are sent as docker save | load
    docker_host: str = ""  # the engine images are built on and sent from (default: DOCKER_HOST, else local)
    target: str = ""  # the Dockerfile stage `gantry build` builds (default: each service's build.target)
    push: bool = True  # `gantry build` pushes to the registry (with transfer: ssh it never does)
    size_budget_mb: float = 0.0  # policy: warn when a built image is bigger (0: no budget)


@dataclass(frozen=True)
class SwarmConfig:
    routing_mesh: bool = True  # false: endpoint_mode dnsrr + host-mode ports (hosts without IPVS, such as the lab)


@dataclass(frozen=True)
class Environment:
    project: str
    deploy_path: str
    hosts: list[Host] = field(default_factory=list)
    inventory: str = ""  # a YAML list of hosts (with engine: swarm, of managers), e.g. written by `inv lab.up`
    engine: str = "hosts"  # how releases run: a folder of gantry/engines/ (hosts: compose over SSH on every
    # host; swarm: docker stack deploy on a manager)
    managers: list[Host] = field(default_factory=list)  # engine: swarm: Gantry talks to the first reachable one
    swarm: SwarmConfig = field(default_factory=SwarmConfig)
    compose_files: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    secrets_file: str = ""
    secrets: SecretSources = field(default_factory=SecretSources)
    ssh: SSHSettings = field(default_factory=SSHSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    rollout: RolloutSettings = field(default_factory=RolloutSettings)
    keep_releases: int = 5
    confirm: bool = False
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    hooks: HooksConfig = field(default_factory=HooksConfig)
    notify: list[NotifyConfig] = field(default_factory=list)
    images: ImagesConfig = field(default_factory=ImagesConfig)
    # Filled in by the loader, not read from YAML:
    name: str = field(default="", metadata={"internal": True})
    root: str = field(default="", metadata={"internal": True})
    source: str = field(default="", metadata={"internal": True})
    warnings: tuple[str, ...] = field(default=(), metadata={"internal": True})

    @property
    def compose_project(self) -> str:
        """Compose project name on the hosts: namespaced by project and environment, one per pair."""
        return compose_project_name(self.project, self.name)

    @property
    def base_dir(self) -> str:
        """This project+environment's directory on a host."""
        return f"{self.deploy_path.rstrip('/')}/{self.project}/{self.name}"


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean (true/false)",
               datetime.date: "a date (YYYY-MM-DD)"}


def _describe(value: Any, echo: bool = True) -> str:
    if isinstance(value, str):
        return yamlio.excerpt(value) if echo else "a text"
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)


class _Walker:
    """Binds a plain YAML tree to dataclasses, collecting every problem."""

    def __init__(self, source: str, marks: Mapping[str, tuple[int, int]], *, echo: bool = True,
                 texts: Mapping[str, str] | None = None) -> None:
        self.source = source
        self.marks = marks
        self.texts = texts or {}  # key path -> the scalar as written, so a str field keeps `1.10` as `1.10`
        self.echo = echo  # False for files that may not be config at all (an inventory): never quote values
        self.problems: list[Problem] = []

    def fail(self, path: str, what: str, hint: str = "") -> None:
        self.problems.append(self.located(path, path, what, hint))

    def located(self, path: str, shown: str, what: str, hint: str) -> Problem:
        """A problem at `path`'s line and column, naming the key path `shown`."""
        mark = self.marks.get(path)
        where = f"{self.source}:{mark[0]}:{mark[1]}" if mark else self.source
        return Problem(f"{where}: {shown}" if shown else where, what, hint)

    def bind(self, tp: Any, value: Any, path: str) -> Any:
        origin = typing.get_origin(tp)
        if origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            return None if value is None else self.bind(args[0], value, path)
        if dataclasses.is_dataclass(tp):
            return self.bind_dataclass(tp, value, path)
        if origin is list:
            if not isinstance(value, list):
                return self.wrong(path, "a list", value)
            (item,) = typing.get_args(tp)
            return [self.bind(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
        if origin is dict:
            if not isinstance(value, dict):
                return self.wrong(path, "a mapping", value)
            _, item = typing.get_args(tp)
            return {str(k): self.bind(item, v, f"{path}.{k}") for k, v in value.items()}
        return self.scalar(tp, value, path)

    def scalar(self, tp: type, value: Any, path: str) -> Any:
        if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
            return self.texts.get(path, str(value))  # a port-like or version-like plain value, as written
        if tp is str and isinstance(value, str):
            return str(value)  # a plain str, also for a date-like YamlTimestamp
        if tp is datetime.date and isinstance(value, str):
            try:
                return datetime.date.fromisoformat(value)
            except ValueError:
                return self.wrong(path, _TYPE_NAMES[tp], value)
        if isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
            return value
        return self.wrong(path, _TYPE_NAMES.get(tp, tp.__name__), value)

    def wrong(self, path: str, expected: str, value: Any) -> None:
        self.fail(path, f"expected {expected}, got {_describe(value, self.echo)}")
        return None

    def bind_dataclass(self, cls: type, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            return self.wrong(path, "a mapping", value)
        before = len(self.problems)
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
        kwargs: dict[str, Any] = {}
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            if key not in fields:
                close = difflib.get_close_matches(str(key), list(fields), n=1)
                where, what = (sub, "unknown key") if self.echo else (path, "an unknown key")
                self.problems.append(self.located(sub, where, what, f"did you mean '{close[0]}'?" if close
                                                  else f"known keys: {', '.join(sorted(fields))}"))
                continue
            kwargs[key] = self.bind(hints[key], item, sub)
        for name, f in fields.items():
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if required and name not in value:
                self.fail(path, f"missing required key '{name}'")
        if len(self.problems) > before:
            return None
        return cls(**kwargs)


def _string_marks(doc: yamlio.Document) -> dict[str, tuple[int, int]]:
    """Marks by key path text (`hosts[1].port`): a key's own position where there is one."""
    marks = {yamlio.format_path(p): m for p, m in doc.marks.items()}
    marks.update({yamlio.format_path(p): m for p, m in doc.key_marks.items()})
    return marks


def _string_texts(doc: yamlio.Document) -> dict[str, str]:
    return {yamlio.format_path(p): text for p, (text, _) in doc.texts.items()}


def list_environments(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / ENV_DIR).glob("*.yml"))


def default_compose_files(root: Path, name: str) -> list[str]:
    files = ["compose/docker-compose.yml"]
    if (root / f"compose/docker-compose.{name}.yml").exists():
        files.append(f"compose/docker-compose.{name}.yml")
    return files


def load_environment(root: Path, name: str) -> Environment:
    """Read and validate environments/<name>.yml (and its inventory file, if any)."""
    bad = check_name("environment", name)
    if bad:
        raise UsageError(f"--env {yamlio.excerpt(name, 40)}", bad,
                         f"environments: {', '.join(list_environments(root))}")
    path = root / ENV_DIR / f"{name}.yml"
    if not path.exists():
        known = list_environments(root)
        close = difflib.get_close_matches(name, known, n=1)
        raise UsageError(
            f"--env {name}",
            f"no environment named '{name}' ({ENV_DIR}/{name}.yml does not exist)",
            (f"did you mean '{close[0]}'? " if close else "") + f"environments: {', '.join(known) or 'none'}",
        )
    source = f"{ENV_DIR}/{name}.yml"
    env = bind_environment(yamlio.read_text(path, source), source)
    hosts = list(env.managers if env.engine == "swarm" else env.hosts)
    if env.inventory and os.path.lexists(root / env.inventory):
        hosts += load_inventory(root, env.inventory, source)
    labels = [h.label for h in hosts] + [f"{h.address}:{h.port}" for h in hosts]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise ProblemList([Problem(f"{source}: hosts", f"host {yamlio.excerpt(d)} is listed more than once"
                                   + (f" (with {env.inventory})" if env.inventory else ""),
                                   "give every host a unique name (or address)") for d in dupes])
    places = {"managers": hosts} if env.engine == "swarm" else {"hosts": hosts}
    return dataclasses.replace(
        env, **places, name=name, root=str(root), source=source,
        compose_files=env.compose_files or default_compose_files(root, name),
        secrets_file=env.secrets_file or f"secrets.{name}.env",
    )


LAB_INVENTORY = ".gantry/lab/inventory.yml"  # written by `inv lab.up`; absent until then
LAB_MANAGERS = ".gantry/lab/managers.yml"  # written by `inv lab.swarm`


def inventory_problem(env: Environment) -> Problem | None:
    """An inventory file that does not exist: the environment silently has none of its hosts.

    The lab's own inventory only exists while the lab is up, so for it this is a warning (see cli.validate).
    """
    if env.inventory and not os.path.lexists(Path(env.root) / env.inventory):
        hint = {LAB_INVENTORY: "run `inv lab.up` first", LAB_MANAGERS: "run `inv lab.swarm` first"}.get(
            env.inventory, "fix the path")
        return Problem(f"{env.source}: inventory", f"{env.inventory} does not exist (no hosts from it)", hint)
    return None


def bind_environment(text: str, source: str) -> Environment:
    doc = yamlio.load_document(text, source)
    data = doc.data if doc.data is not None else {}
    warnings: list[str] = []
    if isinstance(data, dict) and isinstance(data.get("variables"), dict):
        data = {**data, "variables": _variables_as_written(data["variables"], doc, source, warnings)}
    walker = _Walker(source, _string_marks(doc), texts=_string_texts(doc))
    env = walker.bind(Environment, data, "")
    if not walker.problems:
        walker.problems.extend(check_values(env, source))
        walker.problems.extend(walker.located(key, key, what, hint) for key, what, hint in engine_problems(env))
    if walker.problems:
        raise ProblemList(walker.problems)
    return dataclasses.replace(env, warnings=tuple(warnings))


def _variables_as_written(variables: dict, doc: yamlio.Document, source: str, warnings: list[str]) -> dict:
    """A variable is text: keep each scalar as written (`1.10` stays "1.10", `0777` stays "0777").

    Warn where an unquoted value reads differently under YAML 1.1 (PyYAML, Ansible, older tools).
    """
    out = {}
    for key, value in variables.items():
        text = doc.texts.get(("variables", key))
        if value is None or isinstance(value, (dict, list)) or text is None:
            out[key] = value
            continue
        out[key], plain = text
        old = yamlio.yaml11_reading(text[0]) if plain else text[0]
        old = str(old).lower() if isinstance(old, bool) else str(old)
        if old != text[0]:
            line, col = doc.marks.get(("variables", key), (0, 0))
            warnings.append(f"{source}:{line}:{col}: variables.{key}: the unquoted value {yamlio.excerpt(text[0])} is "
                            f"used as written, but YAML 1.1 tools read it as {yamlio.excerpt(str(old))}; "
                            "quote it to say which you mean")
    return out


def load_inventory(root: Path, rel: str, source: str) -> list[Host]:
    """A YAML list of hosts. Its values are never quoted in errors: the path may name any file."""
    doc = yamlio.load_document(yamlio.read_text(root / rel, rel), rel)
    walker = _Walker(rel, _string_marks(doc), echo=False, texts=_string_texts(doc))
    if doc.data is not None and not isinstance(doc.data, list):
        raise ConfigError(f"{rel}:1:1", f"expected a list of hosts, got {_describe(doc.data, False)}",
                          f"check `inventory:` in {source}")
    hosts = walker.bind(list[Host], doc.data or [], "")
    if walker.problems:
        raise ProblemList(walker.problems)
    for i, h in enumerate(hosts):
        if not 0 < h.port < 65536:
            walker.fail(f"[{i}].port", f"{h.port} is not a TCP port", "use 1-65535")
    if walker.problems:
        raise ProblemList(walker.problems)
    return hosts
