"""Preflight checks, lab ownership, the bridge and the network namespaces."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
from pathlib import Path

from gantry.lab.model import (
    BRIDGE,
    BRIDGE_ADDRESS,
    BUILDER_NETNS,
    NET_PREFIX,
    NETNS_PREFIX,
    TOOLS,
    LabError,
)
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


def _owner() -> Path | None:
    try:
        alias = Path(f"/sys/class/net/{BRIDGE}/ifalias").read_text().strip()
    except OSError:
        return None
    # A bridge without our alias (made by hand, or half-made) belongs to whoever brings the lab up next.
    return Path(alias.removeprefix("gantry-lab:")) if alias.startswith("gantry-lab:") else None




def _check_routes(count: int) -> None:
    ours = [ipaddress.ip_network(NET_PREFIX + "0/24")]
    ours += [ipaddress.ip_network(f"172.31.{99 + i}.0/24") for i in range(count + 1)]
    routes = json.loads(_run(["ip", "-j", "-4", "route", "show", "table", "all"]).stdout or "[]")
    for route in routes:
        dst = route.get("dst", "default")
        if dst == "default" or route.get("dev") == BRIDGE or route.get("type") in ("broadcast", "local"):
            continue
        net = ipaddress.ip_network(dst if "/" in dst else dst + "/32", strict=False)
        clash = [str(o) for o in ours if o.overlaps(net)]
        if clash:
            raise LabError("lab", f"the machine already routes {dst} (dev {route.get('dev')}), "
                           f"which overlaps the lab's {', '.join(clash)}", "free that network first")


def _ensure_bridge(root: Path) -> None:
    if not Path(f"/sys/class/net/{BRIDGE}").exists():
        _run(["ip", "link", "add", BRIDGE, "type", "bridge"])
    _run(["ip", "link", "set", BRIDGE, "alias", f"gantry-lab:{Path(root).resolve()}"])
    if f"{BRIDGE_ADDRESS}/24" not in _run(["ip", "-o", "-4", "addr", "show", "dev", BRIDGE]).stdout:
        _run(["ip", "addr", "add", BRIDGE_ADDRESS + "/24", "dev", BRIDGE])
    _run(["ip", "link", "set", BRIDGE, "up"])


def _veth(netns: str) -> str:
    return "gl-" + netns.removeprefix(NETNS_PREFIX).removeprefix("gantry-")[:11]


def _add_netns(netns: str, address: str) -> None:
    _run(["ip", "netns", "add", netns])
    veth = _veth(netns)
    _run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns])
    _run(["ip", "link", "set", veth, "master", BRIDGE, "up"])
    _run(["ip", "-n", netns, "addr", "add", address + "/24", "dev", "eth0"])
    _run(["ip", "-n", netns, "link", "set", "lo", "up"])
    _run(["ip", "-n", netns, "link", "set", "eth0", "up"])
    _run(["ip", "-n", netns, "route", "add", "default", "via", BRIDGE_ADDRESS])


def _lab_netns() -> list[str]:
    out = _run(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines()
            if line.startswith(NETNS_PREFIX) or line.split()[0] == BUILDER_NETNS]


