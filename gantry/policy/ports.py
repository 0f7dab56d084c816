"""Port rules: wildcard host binds and privileged host ports; and the port-entry reader."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from gantry.policy.findings import Hit, ServiceView
from gantry.policy.scalars import as_list

WILDCARD_IPS = frozenset({"", "0.0.0.0", "::", "[::]"})


@dataclass(frozen=True)
class PortBinding:
    """One container port, expanded from a `ports[index]` entry; `published` 0 = ephemeral."""

    index: int
    host_ip: str
    published: int
    target: int
    protocol: str = "tcp"


def _range(text: object) -> list[int]:
    """`"8080"` -> [8080]; `"8000-8002"` -> [8000, 8001, 8002]; empty or unreadable -> []."""
    value = str(text if text is not None else "").strip()
    low, _, high = value.partition("-")
    try:
        start = int(low)
        end = int(high) if high else start
    except ValueError:
        return []
    return list(range(start, end + 1))


def _pairs(index: int, host_ip: str, published: object, target: object, protocol: str) -> list[PortBinding]:
    targets = _range(target)
    hosts = _range(published)
    if len(hosts) == len(targets):
        pairs = list(zip(hosts, targets, strict=True))
    elif len(hosts) == 1 and len(targets) > 1:
        pairs = [(hosts[0], t) for t in targets]
    else:  # no published port (ephemeral), or a host range for a single target
        pairs = [(h, targets[0]) for h in hosts] if hosts and targets else [(0, t) for t in targets]
    return [PortBinding(index, host_ip, h, t, protocol) for h, t in pairs]


def parse_port(index: int, entry: object) -> list[PortBinding]:
    """A `ports` entry in long form, or short form `[ip:][published:]target[/proto]`."""
    if isinstance(entry, Mapping):
        return _pairs(index, str(entry.get("host_ip") or ""), entry.get("published"),
                      entry.get("target"), str(entry.get("protocol") or "tcp"))
    text, _, protocol = str(entry).strip().partition("/")
    host_ip = ""
    if text.startswith("["):
        end = text.find("]")
        host_ip, text = text[1:end], text[end + 2:]
    parts = text.rsplit(":", 2)
    if len(parts) == 3:
        host_ip, parts = parts[0], parts[1:]
    published, target = (parts[0], parts[1]) if len(parts) == 2 else ("", parts[0])
    return _pairs(index, host_ip, published, target, protocol or "tcp")


def port_bindings(service: Mapping) -> list[PortBinding]:
    return [b for i, entry in enumerate(as_list(service.get("ports"))) for b in parse_port(i, entry)]


def check(view: ServiceView) -> Iterator[Hit]:
    allowed = set(view.settings.allowed_privileged_ports.get(view.name, ()))
    wildcard_seen: set[int] = set()
    for binding in port_bindings(view.service):
        path = f"{view.base}.ports[{binding.index}]"
        if binding.host_ip.strip() in WILDCARD_IPS and binding.index not in wildcard_seen:
            wildcard_seen.add(binding.index)
            where = binding.host_ip or "all interfaces"
            host_port = binding.published or "an ephemeral port"
            yield Hit("PORT-HOST-WILDCARD", path,
                      f"container port {binding.target} is published on {where} ({host_port})")
        if 1 <= binding.published <= 1023 and binding.published not in allowed:
            yield Hit("PORT-PRIVILEGED", path, f"host port {binding.published} is below 1024")
