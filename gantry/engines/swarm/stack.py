"""A release's compose model -> the stack file `docker stack deploy` reads (pure).

- Secrets become Swarm secrets, content-named `<stack>_<NAME>_<fingerprint>` (the release's keyed
  fingerprint, so a changed value is a new secret and a rollback finds the old one). A variable whose whole
  value is `${NAME}` becomes the file /run/secrets/<VAR> plus `<VAR>_FILE=/run/secrets/<VAR>`: the value is
  never in the service's environment, so never in `docker service inspect`.
- `deploy.update_config` defaults: failure_action rollback, order start-first (stop-first for a service
  that publishes host-mode ports: its new task could not bind the port beside the old one), monitor from the
  health check, parallelism from rollout.batch_size. The user's own values win.
- Images are pinned to the digests resolved on the manager.
- Without the routing mesh (`swarm.routing_mesh: false`, for hosts without IPVS such as the lab):
  `endpoint_mode: dnsrr` and `mode: host` published ports.
- Compose keys Swarm ignores are dropped with a warning; `restart:` and `tmpfs:` are translated.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gantry.errors import Problem
from gantry.health import parse_duration

SECRETS_DIR = "/run/secrets"
MAX_SECRET_NAME = 64  # Swarm's limit on an object name
FINGERPRINT_LEN = 10
# Keys `docker stack deploy` ignores (it says "Ignoring unsupported options"): dropped, with a warning.
IGNORED = ("security_opt", "container_name", "depends_on", "links", "pull_policy", "cgroup_parent", "devices",
           "privileged", "profiles", "external_links", "network_mode", "userns_mode", "build", "scale")
IGNORED_HEALTH = ("start_interval",)
_REF = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_SIZE = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3}


@dataclass(frozen=True)
class StackSettings:
    stack: str  # the stack's name (namespaces its services, networks and secrets)
    routing_mesh: bool = True  # False: dnsrr + host-mode ports (hosts without IPVS)
    batch_size: int = 0  # rollout.batch_size -> update_config.parallelism (0: all at once)


@dataclass(frozen=True)
class SwarmSecret:
    """One Swarm secret a stack uses: its name on the swarm and the release secret it holds."""

    name: str
    source: str  # the secret's name in secrets.example.env


@dataclass(frozen=True)
class Stack:
    data: dict
    secrets: tuple[SwarmSecret, ...]
    warnings: tuple[str, ...]


def secret_name(stack: str, name: str, fingerprint: str) -> str:
    """`<stack>_<NAME>_<fingerprint>`, shortened to Swarm's 64 characters (the fingerprint stays whole)."""
    fp = fingerprint[:FINGERPRINT_LEN]
    full = f"{stack}_{name}_{fp}"
    if len(full) <= MAX_SECRET_NAME:
        return full
    room = (MAX_SECRET_NAME - len(fp) - 2) // 2
    return f"{stack[:room]}_{name[:room]}_{fp}"


def _refs(text: str) -> set[str]:
    """Variable names referenced in `text`, skipping `$$` (a literal dollar)."""
    return {m.group(1) or m.group(2) for m in _REF.finditer(text.replace("$$", ""))}


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value if v is not None]
    return value


def _size(text: str) -> int | None:
    m = re.fullmatch(r"(\d+)\s*([a-zA-Z]*)", text.strip())
    return int(m.group(1)) * _SIZE[m.group(2).lower()] if m and m.group(2).lower() in _SIZE else None


def _tmpfs_mounts(tmpfs: Any) -> list[dict]:
    """`tmpfs: ["/tmp:size=8m,mode=1777"]` as long-syntax tmpfs volumes (the stack loader drops `tmpfs:`)."""
    out = []
    for item in [tmpfs] if isinstance(tmpfs, str) else list(tmpfs or ()):
        target, _, options = str(item).partition(":")
        mount: dict = {"type": "tmpfs", "target": target}
        size = next((_size(o[5:]) for o in options.split(",") if o.startswith("size=")), None)
        if size:
            mount["tmpfs"] = {"size": size}
        out.append(mount)
    return out


def _restart_policy(restart: str) -> dict:
    kind, _, count = str(restart).partition(":")
    if kind == "no":
        return {"condition": "none"}
    if kind == "on-failure":
        return {"condition": "on-failure", **({"max_attempts": int(count)} if count.isdigit() else {})}
    return {"condition": "any"}


def monitor_seconds(healthcheck: Mapping | None) -> float:
    """How long Swarm watches each updated task: the time its health check needs to fail, at least 5 s."""
    hc = healthcheck or {}
    if hc.get("disable") or not hc.get("test") or hc.get("test") == ["NONE"]:
        return 5.0
    interval = parse_duration(hc.get("interval"), 30.0)
    timeout = parse_duration(hc.get("timeout"), 30.0)
    retries = int(hc.get("retries") or 3)
    return max(5.0, math.ceil(parse_duration(hc.get("start_period"), 0.0) + retries * (interval + timeout)))


def _ports(ports: list, mesh: bool) -> tuple[list[dict], list[str]]:
    out, notes = [], []
    for p in ports:
        if not isinstance(p, Mapping):
            out.append(p)
            continue
        q = {k: v for k, v in p.items() if k in ("target", "published", "protocol", "mode")}
        if isinstance(q.get("published"), str) and q["published"].isdigit():
            q["published"] = int(q["published"])
        if not mesh:
            q["mode"] = "host"
        if p.get("host_ip") not in (None, "", "0.0.0.0", "::"):
            notes.append(f"ports: host_ip {p['host_ip']} is not supported by Swarm; the port is published on "
                         "every address of the node")
        out.append(q)
    return out, notes


def _service(name: str, svc: dict, ctx: _Context) -> dict:
    if isinstance(svc.get("networks"), dict):  # `default: null` means "attached, no options": keep the name
        svc["networks"] = {k: v or {} for k, v in svc["networks"].items()}
    svc = _drop_nulls(dict(svc))
    where = f"services.{name}"
    for key in IGNORED:
        if key in svc:
            del svc[key]
            ctx.warnings.append(f"{where}.{key}: ignored by Docker Swarm (left out of the stack)")
    deploy = dict(svc.get("deploy") or {})
    if "restart" in svc:
        restart = svc.pop("restart")
        deploy.setdefault("restart_policy", _restart_policy(restart))
    if "tmpfs" in svc:
        svc["volumes"] = list(svc.get("volumes") or []) + _tmpfs_mounts(svc.pop("tmpfs"))
    host_ports = False
    if svc.get("ports"):
        svc["ports"], notes = _ports(svc["ports"], ctx.settings.routing_mesh)
        ctx.warnings += [f"{where}.{n}" for n in notes]
        host_ports = any(isinstance(p, Mapping) and p.get("mode") == "host" for p in svc["ports"])
    if not ctx.settings.routing_mesh:
        deploy.setdefault("endpoint_mode", "dnsrr")
    hc = svc.get("healthcheck")
    if isinstance(hc, dict):
        for key in IGNORED_HEALTH:
            if hc.pop(key, None) is not None:
                ctx.warnings.append(f"{where}.healthcheck.{key}: not supported by Swarm (left out)")
    update = {"failure_action": "rollback", "order": "stop-first" if host_ports else "start-first",
              "monitor": f"{monitor_seconds(hc):g}s", "parallelism": ctx.settings.batch_size}
    deploy["update_config"] = {**update, **(deploy.get("update_config") or {})}
    deploy["rollback_config"] = {"parallelism": 0, "order": deploy["update_config"]["order"],
                                 **(deploy.get("rollback_config") or {})}
    if deploy.get("placement") == {}:
        del deploy["placement"]
    limits = (deploy.get("resources") or {}).get("limits") or {}
    if isinstance(limits.get("cpus"), (int, float)):
        limits["cpus"] = f"{limits['cpus']:g}"
    svc["deploy"] = deploy
    if ctx.images.get(name):
        svc["image"] = ctx.images[name]
    _secret_environment(name, svc, ctx)
    return svc


def _secret_environment(name: str, svc: dict, ctx: _Context) -> None:
    """Variables holding a secret become files under /run/secrets plus `<VAR>_FILE`; any other use is refused."""
    env = dict(svc.get("environment") or {})
    mounts = [m for m in svc.get("secrets") or [] if m]
    uid, _, gid = str(svc.get("user") or "").partition(":")
    owner = {"uid": uid, "gid": gid or uid} if uid.isdigit() and (gid or uid).isdigit() else {}
    for var, value in sorted(env.items()):
        used = _refs(str(value)) & set(ctx.fingerprints)
        if not used:
            continue
        (secret,) = used if len(used) == 1 else (None,)
        if secret is None or str(value).strip() not in (f"${{{secret}}}", f"${secret}"):
            ctx.problems.append(Problem(
                f"services.{name}.environment.{var}", "uses a secret inside a longer value, which a Swarm secret "
                "cannot hold (it is one whole value)", f"set {var}: ${{NAME}} alone, and build the longer value "
                "in the app (it reads /run/secrets/<VAR>, or <VAR>_FILE)"))
            continue
        del env[var]
        env[f"{var}_FILE"] = f"{SECRETS_DIR}/{var}"
        mounts.append({"source": secret, "target": var, "mode": 0o400, **owner})
        ctx.used.add(secret)
    svc["environment"] = env
    if mounts:
        svc["secrets"] = mounts
    for key, value in svc.items():
        if key != "environment" and _refs(str(value)) & set(ctx.fingerprints):
            ctx.problems.append(Problem(f"services.{name}.{key}", "uses a secret outside `environment:`",
                                        "with engine: swarm a secret reaches a service only as a variable "
                                        "(a file under /run/secrets)"))


@dataclass
class _Context:
    settings: StackSettings
    fingerprints: Mapping[str, str]
    images: Mapping[str, str]
    warnings: list[str]
    problems: list[Problem]
    used: set[str]


def make_stack(model: Mapping, fingerprints: Mapping[str, str], images: Mapping[str, str],
               settings: StackSettings) -> tuple[Stack, list[Problem]]:
    """The stack for a release's compose model. `fingerprints`: secret name -> the release's keyed
    fingerprint; `images`: service -> `repo@sha256:...` resolved on the manager (services left out keep theirs)."""
    ctx = _Context(settings, fingerprints, images, [], [], set())
    services = {n: _service(n, dict(s or {}), ctx) for n, s in sorted((model.get("services") or {}).items())}
    data: dict = {"services": services}
    networks = {}
    for net, spec in (model.get("networks") or {}).items():
        spec = {k: v for k, v in _drop_nulls(dict(spec or {})).items() if v != {}}
        if not spec.get("external"):
            spec.pop("name", None)  # the stack names it <stack>_<net>
        networks[net] = spec
    if networks:
        data["networks"] = networks
    for key in ("volumes", "configs"):
        if model.get(key):
            data[key] = _drop_nulls(dict(model[key]))
    secrets = tuple(SwarmSecret(secret_name(settings.stack, s, fingerprints[s]), s) for s in sorted(ctx.used))
    if secrets or model.get("secrets"):
        data["secrets"] = {**_drop_nulls(dict(model.get("secrets") or {})),
                           **{s.source: {"name": s.name, "external": True} for s in secrets}}
    return Stack(data, secrets, tuple(ctx.warnings)), ctx.problems
