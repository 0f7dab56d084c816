"""The documents a blue/green host runs: pure functions from the release's compose model and the routes.

A release splits in two compose documents. The *base* document holds the services that are not proxied; it
runs as the environment's own compose project and is recreated in place, as the hosts engine does. The
*colour* document holds the proxied services; it runs as a second compose project per colour
(`colour_project`), so the two colours never share a container, a project label or a service group:
grouping by project label (health, ps, logs) can never mix them, nor another project. A colour joins the
base project's networks by their real names (so `db` and `web` still reach each other by service name) and
the proxy's network, on which each colour has its own alias (`web.blue`), the proxy's upstream. Named
volumes keep their real names, so both colours mount the same volume (see settings for the exclusive mark).

The proxy is a third project, `proxy_project`, long-lived: Caddy, its JSON config in a directory bind-mounted
read-only, replaced through its admin API (`caddy reload` POSTs /load; in-flight requests finish on the old
config within `grace_period`). Caddy keeps a port across a reload by opening the new listener beside the old one
(SO_REUSEPORT); when the old one closes, the kernel resets the connections still queued on it, unless
`net.ipv4.tcp_migrate_req` (Linux 5.14) hands them to the new one. The proxy sets it in its own network
namespace where the host's kernel has it: measured, 39 resets in 60 reloads under load without it, none with.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

from gantry.engines.bluegreen.settings import Route, named_volumes

COLOURS = ("blue", "green")
PROXY_NETWORK_KEY = "gantry-proxy"
CONFIG_DIR = "/config"  # where the proxy container sees its config directory
ADMIN = "localhost:2019"
PROXY_SERVICE = "gantry-proxy"  # the proxy as the policy report names it
MIGRATE_SYSCTL = "net.ipv4.tcp_migrate_req"  # queued connections move to the new listener of a reload


def other(colour: str) -> str:
    """The colour that is not `colour` (blue for '' : the first colour a host runs)."""
    return COLOURS[1] if colour == COLOURS[0] else COLOURS[0]


def colour_project(project: str, colour: str) -> str:
    """The compose project of one colour of `project` (an environment's compose project).

    `-_` + a word without `_d` is a suffix that gantry.config.checks.compose_project_name never ends a name
    with (a dash-free env cannot start with '_'; an env with '-' is coded with `_d`), so a colour's (or the
    proxy's) project is never another environment's."""
    if colour not in COLOURS:
        raise ValueError(f"not a colour: {colour!r}")
    return f"{project}-_{colour}"


def proxy_project(project: str) -> str:
    return f"{project}-_proxy"


def proxy_network(project: str) -> str:
    return f"{proxy_project(project)}_net"


def alias(service: str, colour: str) -> str:
    """The colour's own name for a service on the proxy network: the proxy's upstream."""
    return f"{service}.{colour}"


def _networks_of(service: Mapping) -> dict[str, object]:
    nets = service.get("networks")
    if nets is None:
        return {} if service.get("network_mode") else {"default": None}
    return {str(n): None for n in nets} if isinstance(nets, list) else dict(nets)


def _drop_deps(service: Mapping, keep: set[str]) -> dict:
    deps = service.get("depends_on")
    out = {k: v for k, v in service.items() if k != "depends_on"}
    if deps:
        kept = ([d for d in deps if d in keep] if isinstance(deps, list)
                else {d: v for d, v in deps.items() if d in keep})
        if kept:
            out["depends_on"] = kept
    return out


def base_document(model: Mapping, routes: tuple[Route, ...]) -> dict:
    """The release without its proxied services (and without dependencies on them: they run elsewhere)."""
    proxied = {r.service for r in routes}
    services = model.get("services") or {}
    rest = {n for n in services if n not in proxied}
    return {**model, "services": {n: _drop_deps(s, rest) for n, s in services.items() if n in rest}}


def colour_document(model: Mapping, routes: tuple[Route, ...], project: str, colour: str, rid: str) -> dict:
    """The proxied services of a release as one colour: no published ports, labelled with colour and release."""
    proxied = {r.service for r in routes}
    services = model.get("services") or {}
    base_nets = {n for name, s in services.items() if name not in proxied for n in _networks_of(s)}
    declared = model.get("networks") or {}
    out_services, networks = {}, {}
    for name in sorted(proxied):
        svc = _drop_deps({k: v for k, v in services[name].items() if k != "ports"}, proxied)
        nets = _networks_of(services[name])
        for net in nets:
            spec = dict(declared.get(net) or {})
            real = spec.get("name") or f"{project}_{net}"
            networks[net] = {"name": real, "external": True} if net in base_nets or spec.get("external") else spec
        nets[PROXY_NETWORK_KEY] = {"aliases": [alias(name, colour)]}
        labels = dict(svc.get("labels") or {})
        labels.update({"gantry.colour": colour, "gantry.release": rid})
        out_services[name] = {**svc, "networks": nets, "labels": labels}
    networks[PROXY_NETWORK_KEY] = {"name": proxy_network(project), "external": True}
    volumes = {v: {**(spec or {}), "name": (spec or {}).get("name") or f"{project}_{v}"}
               for v, spec in (model.get("volumes") or {}).items()
               if any(v in named_volumes(out_services[s]) for s in out_services)}
    doc: dict = {"name": colour_project(project, colour), "services": out_services, "networks": networks}
    if volumes:
        doc["volumes"] = volumes
    return doc


def proxy_document(project: str, image: str, config_dir: str, routes: tuple[Route, ...], *,
                   migrate: bool = True) -> dict:
    """The proxy's compose project: Caddy publishing every route's port, its config directory read-only
    (`migrate`: the host's kernel has MIGRATE_SYSCTL, set it in the proxy's network namespace)."""
    ports = sorted({r.publish for r in routes})
    doc = {
        "name": proxy_project(project),
        "services": {"proxy": {
            "image": image,
            "restart": "unless-stopped",
            "ports": [{"target": p, "published": str(p), "protocol": "tcp"} for p in ports],
            "volumes": [{"type": "bind", "source": config_dir, "target": CONFIG_DIR, "read_only": True}],
            "tmpfs": ["/data:mode=1777", "/tmp:mode=1777"],
            "read_only": True,
            "user": "65534:65534",  # Docker lets a container's user bind ports below 1024 in its own netns
            "cap_drop": ["ALL"],
            "deploy": {"resources": {"limits": {"cpus": 1.0, "memory": "268435456", "pids": 256}}},
            "security_opt": ["no-new-privileges:true"],
            "command": ["run", "--config", f"{CONFIG_DIR}/caddy.json"],
            "networks": ["net"],
            "logging": {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}},
        }},
        "networks": {"net": {"name": proxy_network(project)}},
    }
    if migrate:
        doc["services"]["proxy"]["sysctls"] = {MIGRATE_SYSCTL: "1"}
    return doc


def caddy_config(routes: tuple[Route, ...], colour: str) -> dict:
    """Caddy's JSON config: one server per published port, host routes first, each to `colour`'s alias
    ('' colour: nothing is live yet, every route answers 503)."""
    servers = {}
    for port in sorted({r.publish for r in routes}):
        mine = sorted((r for r in routes if r.publish == port), key=lambda r: (r.host == "", r.host))
        entries = [_route(r, colour) for r in mine]
        if all(r.host for r in mine):
            entries.append({"handle": [{"handler": "static_response", "status_code": 404, "body": "no route\n"}]})
        servers[f"p{port}"] = {"listen": [f":{port}"], "routes": entries, "automatic_https": {"disable": True}}
    grace = max([r.drain for r in routes] + [0.0])
    return {"admin": {"listen": ADMIN}, "logging": {"logs": {"default": {"level": "WARN"}}},
            "apps": {"http": {"grace_period": f"{grace:g}s", "servers": servers}}}


def _route(r: Route, colour: str) -> dict:
    handle = ({"handler": "reverse_proxy", "upstreams": [{"dial": f"{alias(r.service, colour)}:{r.port}"}],
               "load_balancing": {"try_duration": "5s"}} if colour else
              {"handler": "static_response", "status_code": 503, "body": "no live colour yet\n"})
    route: dict = {"handle": [handle], "terminal": True}
    if r.host:
        route["match"] = [{"host": [r.host]}]
    return route


@dataclass(frozen=True)
class LiveState:
    """What a host's proxy points at, as `state.json` records it after a switch."""

    colour: str = ""
    release: str = ""


def render_state(colour: str, rid: str) -> str:
    return json.dumps({"colour": colour, "release": rid}, sort_keys=True) + "\n"


def parse_state(text: str) -> LiveState:
    """A host's state.json ('' or unreadable: nothing is live behind the proxy)."""
    try:
        data = json.loads(text)
    except ValueError:
        return LiveState()
    if not isinstance(data, dict) or data.get("colour") not in COLOURS:
        return LiveState()
    return LiveState(str(data["colour"]), str(data.get("release") or ""))


def render(doc: Mapping) -> str:
    """A document as the text written to the host (YAML for compose, JSON for caddy)."""
    return yaml.safe_dump(dict(doc), sort_keys=True, default_flow_style=False, allow_unicode=True, width=1 << 16)


def render_json(doc: Mapping) -> str:
    return json.dumps(doc, sort_keys=True, indent=1) + "\n"


def as_run(model: Mapping, routes: tuple[Route, ...], project: str, image: str, config_dir: str) -> dict:
    """The model as a host runs it, for the policy: proxied services publish nothing, the proxy publishes
    every route's port (so the port rules judge `publish`)."""
    proxied = {r.service for r in routes}
    services = {n: ({k: v for k, v in s.items() if k != "ports"} if n in proxied else s)
                for n, s in (model.get("services") or {}).items()}
    proxy = proxy_document(project, image, config_dir, routes)["services"]["proxy"]
    return {**model, "services": {**services, PROXY_SERVICE: proxy}}
