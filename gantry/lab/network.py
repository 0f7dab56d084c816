"""Preflight checks, lab ownership, the bridge and the network namespaces."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
from pathlib import Path

from gantry.lab.model import TOOLS, LabError, Net
from gantry.lab.procs import _run


def _preflight(state: Path) -> None:
    if os.geteuid() != 0:
        raise LabError("lab", "not root", "the lab creates namespaces and a bridge: run it as root")
    missing = [t for t in TOOLS if not (os.access(t, os.X_OK) if t.startswith("/") else shutil.which(t))]
    if missing:
        raise LabError("lab", f"missing tools: {', '.join(missing)}", "run scripts/setup.sh")
    for private in ("/root", "/srv"):
        if state == Path(private) or Path(private) in state.parents:
            raise LabError("lab", f"state dir {state} is under {private}, which each lab host replaces",
                           "run the lab from a project outside /root and /srv")
    if any(c in str(state) for c in "\"' \t\n"):
        raise LabError("lab", f"state dir {state} has quotes or spaces", "use a plainer project path")


def _owner(net: Net) -> Path | None:
    try:
        alias = Path(f"/sys/class/net/{net.bridge}/ifalias").read_text().strip()
    except OSError:
        return None
    # A bridge without our alias (made by hand, or half-made) belongs to whoever brings the lab up next.
    return Path(alias.removeprefix("gantry-lab:")) if alias.startswith("gantry-lab:") else None




def _check_routes(net: Net, count: int) -> None:
    ours = [ipaddress.ip_network(net.prefix + "0/24")]
    ours += [ipaddress.ip_network(f"172.31.{99 + i}.0/24") for i in range(count + 1)]
    routes = json.loads(_run(["ip", "-j", "-4", "route", "show", "table", "all"]).stdout or "[]")
    for route in routes:
        dst = route.get("dst", "default")
        if dst == "default" or route.get("dev") == net.bridge or route.get("type") in ("broadcast", "local"):
            continue
        routed = ipaddress.ip_network(dst if "/" in dst else dst + "/32", strict=False)
        clash = [str(o) for o in ours if o.overlaps(routed)]
        if clash:
            raise LabError("lab", f"the machine already routes {dst} (dev {route.get('dev')}), "
                           f"which overlaps the lab's {', '.join(clash)}", "free that network first")


def _ensure_bridge(net: Net, root: Path) -> None:
    bridge = net.bridge
    if not Path(f"/sys/class/net/{bridge}").exists():
        # A fixed address: a bridge otherwise takes the lowest MAC of its ports, which changes as hosts (and
        # the image builder) come and go, and the hosts' ARP caches then point at an address nobody has.
        _run(["ip", "link", "add", bridge, "address", net.bridge_mac, "type", "bridge"])
    _run(["ip", "link", "set", bridge, "alias", f"gantry-lab:{Path(root).resolve()}"])
    if f"{net.bridge_address}/24" not in _run(["ip", "-o", "-4", "addr", "show", "dev", bridge]).stdout:
        _run(["ip", "addr", "add", net.bridge_address + "/24", "dev", bridge])
    _run(["ip", "link", "set", bridge, "up"])


def _veth(net: Net, netns: str) -> str:
    rest = netns.removeprefix(net.netns_prefix).removeprefix("gantry-")
    return (net.veth_prefix + rest)[:15]


def _add_netns(net: Net, netns: str, address: str) -> None:
    _run(["ip", "netns", "add", netns])
    veth = _veth(net, netns)
    _run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns])
    _run(["ip", "link", "set", veth, "master", net.bridge, "up"])
    _run(["ip", "-n", netns, "addr", "add", address + "/24", "dev", "eth0"])
    _run(["ip", "-n", netns, "link", "set", "lo", "up"])
    _run(["ip", "-n", netns, "link", "set", "eth0", "up"])
    _run(["ip", "-n", netns, "route", "add", "default", "via", net.bridge_address])
    # A restarted host has a new eth0 (a new MAC): drop the bridge's cached neighbour entry for its address,
    # or the machine keeps sending to the old MAC until the entry goes stale (many seconds).
    _run(["ip", "neigh", "flush", "to", address, "dev", net.bridge], check=False)


def _lab_netns(net: Net) -> list[str]:
    out = _run(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines()
            if line.startswith(net.netns_prefix) or line.split()[0] == net.builder_netns]


