"""environments/<env>.yml -> Environment: typed, frozen, every problem reported at once.

One walker, driven by the dataclass field annotations, checks types, required keys and unknown keys,
and reports `environments/prod.yml: hosts[1].port: expected an integer, got "twenty-two"` with a
"did you mean" for misspelt keys. No per-key `if` chains.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

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


@dataclass(frozen=True)
class HooksConfig:
    pre_deploy: list[str] = field(default_factory=list)
    post_deploy: list[str] = field(default_factory=list)
    on_failure: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Environment:
    project: str
    deploy_path: str
    hosts: list[Host] = field(default_factory=list)
    inventory: str = ""  # a YAML list of hosts, e.g. written by `inv lab.up`
    compose_files: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    secrets_file: str = ""
    ssh: SSHSettings = field(default_factory=SSHSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    rollout: RolloutSettings = field(default_factory=RolloutSettings)
    keep_releases: int = 5
    confirm: bool = False
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    hooks: HooksConfig = field(default_factory=HooksConfig)
    # Filled in by the loader, not read from YAML:
    name: str = field(default="", metadata={"internal": True})
    root: str = field(default="", metadata={"internal": True})
    source: str = field(default="", metadata={"internal": True})

    @property
    def compose_project(self) -> str:
        """Compose project name on the hosts: namespaced by project and environment."""
        return f"{self.project}-{self.name}"

    @property
    def base_dir(self) -> str:
        """This project+environment's directory on a host."""
        return f"{self.deploy_path.rstrip('/')}/{self.project}/{self.name}"


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean (true/false)",
               datetime.date: "a date (YYYY-MM-DD)"}


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
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

    def __init__(self, source: str, marks: Mapping[str, tuple[int, int]]) -> None:
        self.source = source
        self.marks = marks
        self.problems: list[Problem] = []

    def fail(self, path: str, what: str, hint: str = "") -> None:
        mark = self.marks.get(path)
        where = f"{self.source}:{mark[0]}:{mark[1]}" if mark else self.source
        self.problems.append(Problem(f"{where}: {path}" if path else where, what, hint))

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
            return str(value)  # a port-like or version-like plain value: accepted as text
        if tp is datetime.date and isinstance(value, str):
            try:
                return datetime.date.fromisoformat(value)
            except ValueError:
                return self.wrong(path, _TYPE_NAMES[tp], value)
        if isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
            return value
        return self.wrong(path, _TYPE_NAMES.get(tp, tp.__name__), value)

    def wrong(self, path: str, expected: str, value: Any) -> None:
        self.fail(path, f"expected {expected}, got {_describe(value)}")
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
                self.fail(sub, "unknown key", f"did you mean '{close[0]}'?" if close
                          else f"known keys: {', '.join(sorted(fields))}")
                continue
            kwargs[key] = self.bind(hints[key], item, sub)
        for name, f in fields.items():
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if required and name not in value:
                self.fail(path, f"missing required key '{name}'")
        if len(self.problems) > before:
            return None
        return cls(**kwargs)


def _marks(node: yaml.Node, path: str = "", out: dict | None = None) -> dict[str, tuple[int, int]]:
    out = {} if out is None else out
    out.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = str(k.value)
            sub = f"{path}.{key}" if path else key
            out[sub] = (k.start_mark.line + 1, k.start_mark.column + 1)
            _marks(v, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _marks(v, f"{path}[{i}]", out)
    return out


def parse_yaml(text: str, source: str) -> tuple[Any, dict[str, tuple[int, int]]]:
    """Safe-load YAML, returning the tree and the line/column of every key path."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(where, f"invalid YAML: {exc.problem}", "fix the syntax at that line") from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, f"invalid YAML: {exc}", "fix the file's syntax") from None
    return data, (_marks(node) if node is not None else {})


def list_environments(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / ENV_DIR).glob("*.yml"))


def default_compose_files(root: Path, name: str) -> list[str]:
    files = ["compose/docker-compose.yml"]
    if (root / f"compose/docker-compose.{name}.yml").exists():
        files.append(f"compose/docker-compose.{name}.yml")
    return files


def load_environment(root: Path, name: str) -> Environment:
    """Read and validate environments/<name>.yml (and its inventory file, if any)."""
    path = root / ENV_DIR / f"{name}.yml"
    if not path.is_file():
        known = list_environments(root)
        close = difflib.get_close_matches(name, known, n=1)
        raise UsageError(
            f"--env {name}",
            f"no environment named '{name}' ({ENV_DIR}/{name}.yml does not exist)",
            (f"did you mean '{close[0]}'? " if close else "") + f"environments: {', '.join(known) or 'none'}",
        )
    source = f"{ENV_DIR}/{name}.yml"
    env = bind_environment(path.read_text(), source)
    hosts = list(env.hosts)
    if env.inventory and (root / env.inventory).is_file():
        hosts += load_inventory(root, env.inventory, source)
    return dataclasses.replace(
        env, hosts=hosts, name=name, root=str(root), source=source,
        compose_files=env.compose_files or default_compose_files(root, name),
        secrets_file=env.secrets_file or f"secrets.{name}.env",
    )


def bind_environment(text: str, source: str) -> Environment:
    data, marks = parse_yaml(text, source)
    walker = _Walker(source, marks)
    env = walker.bind(Environment, data if data is not None else {}, "")
    if not walker.problems:
        walker.problems.extend(_check_values(env, source))
    if walker.problems:
        raise ProblemList(walker.problems)
    return env


def _check_values(env: Environment, source: str) -> list[Problem]:
    """Value rules the types cannot express."""
    out = []
    if env.policy.level not in ("prod", "lab", "dev", "local"):
        out.append(Problem(f"{source}: policy.level", f"unknown level '{env.policy.level}'",
                           "use one of: prod, lab, dev, local"))
    if env.policy.scan.severity.upper() not in ("LOW", "MEDIUM", "HIGH", "CRITICAL"):
        out.append(Problem(f"{source}: policy.scan.severity", f"unknown severity '{env.policy.scan.severity}'",
                           "use LOW, MEDIUM, HIGH or CRITICAL"))
    if env.rollout.rollback not in ("fleet", "host"):
        out.append(Problem(f"{source}: rollout.rollback", f"unknown mode '{env.rollout.rollback}'",
                           "use fleet or host"))
    if env.keep_releases < 2:
        out.append(Problem(f"{source}: keep_releases", "must be at least 2",
                           "the current and the previous release are always kept"))
    if not env.deploy_path.startswith("/"):
        out.append(Problem(f"{source}: deploy_path", "must be an absolute path", "e.g. /srv/gantry"))
    for i, h in enumerate(env.hosts):
        if not 0 < h.port < 65536:
            out.append(Problem(f"{source}: hosts[{i}].port", f"{h.port} is not a TCP port", "use 1-65535"))
    return out


def load_inventory(root: Path, rel: str, source: str) -> list[Host]:
    path = root / rel
    data, marks = parse_yaml(path.read_text(), rel)
    walker = _Walker(rel, marks)
    hosts = walker.bind(list[Host], data or [], "")
    if walker.problems:
        raise ProblemList(walker.problems)
    return hosts
