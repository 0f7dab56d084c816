"""The lab's names, addresses and types."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gantry.errors import GantryError

BUILDER = "builder"
SLOT_VARIABLE = "GANTRY_LAB_SLOT"
MAX_SLOT = 15
IMAGES = ("web", "worker")
IMAGE_TAG = "1.0.0"
CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TOOLS = ("ip", "unshare", "nsenter", "mount", "dockerd", "docker", "/usr/sbin/sshd", "ssh", "ssh-keygen",
         "docker-registry", "/usr/lib/openssh/sftp-server", "/bin/busybox")
PLUGIN_DIRS = ("/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
               "/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins")
HOLDER_MARK = "GANTRY_LAB_HOLDER"
DOCKERD_TIMEOUT = 30.0
SSHD_TIMEOUT = 10.0
Log = Callable[[str], None]


class LabError(GantryError):
    """The lab could not be brought up or down."""


@dataclass(frozen=True)
class Net:
    """The machine-wide names of one lab slot. Several labs can run at once, one per slot (parallel test
    workers, several developers); slot 0 is the default and keeps the names of a single lab."""

    slot: int = 0

    @property
    def bridge(self) -> str:
        return f"gantry-br{self.slot}"

    @property
    def prefix(self) -> str:
        return f"10.231.{47 + self.slot}."

    @property
    def bridge_address(self) -> str:
        return self.prefix + "1"

    @property
    def bridge_mac(self) -> str:
        return f"02:67:6c:62:72:{self.slot:02x}"  # locally administered: "glbr" + the slot

    @property
    def registry(self) -> str:
        return self.bridge_address + ":5000"

    @property
    def builder_address(self) -> str:
        return self.prefix + "2"

    @property
    def netns_prefix(self) -> str:
        return "gantry-lab-" if self.slot == 0 else f"gantry-lab{self.slot}-"

    @property
    def builder_netns(self) -> str:
        return "gantry-builder" if self.slot == 0 else f"gantry-builder{self.slot}"

    @property
    def veth_prefix(self) -> str:
        return "gl-" if self.slot == 0 else f"gl{self.slot}-"

    @property
    def run_root(self) -> Path:
        """Runtime sockets live under a short path: a unix socket path has at most 107 bytes."""
        return Path("/run/gantry-lab") if self.slot == 0 else Path(f"/run/gantry-lab{self.slot}")

    @property
    def lock_file(self) -> str:
        return "/run/lock/gantry-lab.lock" if self.slot == 0 else f"/run/lock/gantry-lab{self.slot}.lock"


def requested_net(environ: Mapping[str, str] | None = None) -> Net:
    """The slot named by GANTRY_LAB_SLOT (default 0)."""
    raw = (os.environ if environ is None else environ).get(SLOT_VARIABLE, "0").strip() or "0"
    if not raw.isdigit() or int(raw) > MAX_SLOT:
        raise LabError("lab", f"{SLOT_VARIABLE}={raw!r} is not a slot number", f"use 0 to {MAX_SLOT}")
    return Net(int(raw))


# Slot 0's names, for code and tests that speak of the default lab.
BRIDGE = Net().bridge
NET_PREFIX = Net().prefix
REGISTRY = Net().registry
NETNS_PREFIX = Net().netns_prefix


@dataclass(frozen=True)
class LabHost:
    name: str
    address: str
    ssh_port: int
    docker_host: str


@dataclass(frozen=True)
class Lab:
    root: Path
    hosts: tuple[LabHost, ...]
    registry: str
    identity_file: Path
    known_hosts: Path
    inventory: Path


def state_dir(root: Path) -> Path:
    return Path(root).resolve() / ".gantry" / "lab"


def ssh_argv(lab: Lab, host: LabHost, *command: str) -> tuple[str, ...]:
    """The ssh command line for one lab host, with strict host key checking and key auth only."""
    return ("ssh", "-F", "/dev/null", "-i", str(lab.identity_file), "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={lab.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=3",
            "-p", str(host.ssh_port), f"root@{host.address}", *command)


