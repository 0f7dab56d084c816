"""The lab's names, addresses and types."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gantry.errors import GantryError

BRIDGE = "gantry-br0"
NET_PREFIX = "10.231.47."
BRIDGE_ADDRESS = NET_PREFIX + "1"
REGISTRY = BRIDGE_ADDRESS + ":5000"
NETNS_PREFIX = "gantry-lab-"
BUILDER = "builder"
BUILDER_NETNS = "gantry-builder"
BUILDER_ADDRESS = NET_PREFIX + "2"
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


