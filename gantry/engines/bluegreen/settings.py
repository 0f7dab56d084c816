"""The `proxy:` keys of an environment, checked against the compose model: every problem at once, located.

Types are bound by gantry.config's walker (`ProxyService`); this module checks what types cannot say: ports
in range, durations, host names, services that exist and may run twice at once (no `container_name`, no
`network_mode: host`, no named volume marked exclusive), one route per proxy address, and a proxy image
pinned by digest.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gantry import units, yamlio
from gantry.config import Environment, ProxyService, _string_marks
from gantry.errors import Problem
from gantry.health import parse_duration
from gantry.policy.ports import port_bindings

EXCLUSIVE_LABEL = "gantry.exclusive"  # a named volume with this label "true" is never mounted by two colours
MAX_DRAIN = 3600.0
_HOST = re.compile(r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_PINNED = re.compile(r"[^@\s]+@sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Route:
    """One proxied service as the engine uses it: the validated settings, drain in seconds."""

    service: str
    port: int
    host: str
    publish: int
    drain: float


def routes(env: Environment) -> tuple[Route, ...]:
    """The proxied services in name order (call after check_proxy found nothing)."""
    return tuple(Route(name, p.port, p.host.lower(), p.publish, parse_duration(p.drain, 0.0))
                 for name, p in sorted(env.proxy.items()))


def exclusive_volumes(model: Mapping) -> frozenset[str]:
    """Top-level named volumes labelled `gantry.exclusive: "true"` (list or mapping labels)."""
    out = set()
    for name, volume in (model.get("volumes") or {}).items():
        labels = (volume or {}).get("labels") or {}
        if isinstance(labels, list):
            labels = dict(str(item).partition("=")[::2] for item in labels)
        if str(labels.get(EXCLUSIVE_LABEL, "")).lower() == "true":
            out.add(str(name))
    return frozenset(out)


def named_volumes(service: Mapping) -> tuple[str, ...]:
    """The named volumes a service mounts (long or short syntax)."""
    names = []
    for entry in service.get("volumes") or ():
        if isinstance(entry, Mapping):
            if entry.get("type", "volume") == "volume" and entry.get("source"):
                names.append(str(entry["source"]))
        else:
            source = str(entry).split(":", 1)[0]
            if ":" in str(entry) and source and not source.startswith(("/", ".", "~", "$")):
                names.append(source)
    return tuple(names)


def check_proxy(env: Environment, model: Mapping, env_text: str = "", source: str = "") -> list[Problem]:
    """Every problem of `env.proxy` against the merged compose model; `env_text` (the environment file as
    read) gives each a line and column."""
    if not env.proxy:
        return []
    source = source or env.source
    marks = _string_marks(yamlio.load_document(env_text, source)) if env_text else {}

    def at(key: str) -> str:
        mark = marks.get(key) or marks.get(key.rsplit(".", 1)[0]) or marks.get("proxy")
        return f"{source}:{mark[0]}:{mark[1]}: {key}" if mark else f"{source}: {key}"

    services = model.get("services") or {}
    out: list[Problem] = []
    if not env.proxy_image:
        out.append(Problem(at("proxy_image"), "the proxy needs an image",
                           "set proxy_image: to a caddy image pinned by digest (repo:tag@sha256:...)"))
    elif not _PINNED.fullmatch(env.proxy_image):
        out.append(Problem(at("proxy_image"), f"{yamlio.excerpt(env.proxy_image, 60)} is not pinned by digest",
                           "append @sha256:<digest> (docker buildx imagetools inspect, or the registry)"))
    seen: dict[tuple[int, str], str] = {}
    for name, settings in sorted(env.proxy.items()):
        key = f"proxy.{name}"
        if name not in services:
            close = difflib.get_close_matches(name, list(services), n=1)
            out.append(Problem(at(key), f"no service named {yamlio.excerpt(name)} in the compose files",
                               f"did you mean '{close[0]}'?" if close else
                               f"services: {', '.join(sorted(services)) or 'none'}"))
            continue
        out += _value_problems(key, settings, at)
        out += _shape_problems(key, name, services[name], exclusive_volumes(model), at)
        route = (settings.publish, settings.host.lower())
        if route in seen:
            out.append(Problem(at(f"{key}.host"), f"{seen[route]} already answers on port {settings.publish}"
                               + (f" for host {settings.host}" if settings.host else " for every host"),
                               "give one of them its own host: or publish: port"))
        seen.setdefault(route, name)
    out += _publish_clashes(env, services, at)
    return out


def _value_problems(key: str, p: ProxyService, at) -> list[Problem]:
    out = []
    for sub, value in (("port", p.port), ("publish", p.publish)):
        if not 0 < value < 65536:
            out.append(Problem(at(f"{key}.{sub}"), f"{value} is not a TCP port", "use 1-65535"))
    nanos = units.parse_duration(p.drain)
    if nanos is None or not 0 <= nanos / 1e9 <= MAX_DRAIN:
        out.append(Problem(at(f"{key}.drain"), f"{yamlio.excerpt(p.drain)} is not a duration up to 1h",
                           "e.g. 10s, 1m30s or 0"))
    if p.host and not _HOST.fullmatch(p.host.lower()):
        out.append(Problem(at(f"{key}.host"), f"{yamlio.excerpt(p.host, 60)} is not a host name",
                           "e.g. app.example.com or *.example.com (no scheme, no port)"))
    return out


def _shape_problems(key: str, name: str, service: Mapping, exclusive: frozenset[str], at) -> list[Problem]:
    """A proxied service runs twice during a switch: refuse what cannot."""
    out = []
    if service.get("container_name"):
        out.append(Problem(at(key), f"service {name} sets container_name, so two colours cannot run at once",
                           "remove container_name (Compose names containers per project)"))
    if str(service.get("network_mode") or "").startswith(("host", "container:", "service:")):
        out.append(Problem(at(key), f"service {name} uses network_mode {service['network_mode']}: the proxy "
                           "cannot reach two colours of it", "use the default network"))
    for volume in named_volumes(service):
        if volume in exclusive:
            out.append(Problem(at(key), f"service {name} mounts volume {volume}, marked {EXCLUSIVE_LABEL}: "
                               "two colours would use it at once",
                               "proxy only services that may run twice; keep this one out of proxy:"))
    return out


def _publish_clashes(env: Environment, services: Mapping, at) -> list[Problem]:
    """A proxy port another (unproxied) service already publishes on the host."""
    published = {b.published: name for name, svc in sorted(services.items()) if name not in env.proxy
                 for b in port_bindings(svc) if b.published}
    return [Problem(at(f"proxy.{name}.publish"), f"port {p.publish} is already published by service "
                    f"{published[p.publish]}", "use another publish: port")
            for name, p in sorted(env.proxy.items()) if p.publish in published]


def engine_problems(env: Environment, model: Mapping) -> list[Problem]:
    """The proxy's problems for `inv validate` and a deploy: `proxy:` without engine bluegreen, or its values."""
    if env.engine != "bluegreen":
        return [Problem(f"{env.source}: proxy", "proxy: is read only by engine: bluegreen",
                        "add engine: bluegreen, or remove proxy:")] if env.proxy else []
    if not env.proxy:
        return [Problem(f"{env.source}: engine", "engine: bluegreen needs at least one service under proxy:",
                        "e.g. proxy: {web: {port: 8080, publish: 80}}")]
    path = Path(env.root) / env.source
    text = path.read_text() if env.root and path.is_file() else ""
    return check_proxy(env, model, text)
