"""Mount rules: runtime sockets, sensitive host paths, shared propagation.

Host paths reach a container three ways: a `bind` entry in `volumes`, a named volume whose
top-level `driver_opts` bind a `device` (`type: none` or `o: bind`), and the `file:` of a
top-level secret or config the service uses. All three are checked.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from gantry.policy.findings import Hit, ServiceView
from gantry.policy.scalars import as_bool, as_list, dig

_SOCKET_WORDS = ("docker.sock", "containerd.sock", "podman.sock", "crio.sock", "systemd/private")
_SOCKET_DIRS = frozenset({"/", "/var", "/run", "/var/run", "/run/containerd", "/run/systemd"})
_SENSITIVE_TREES = (
    "/boot", "/dev", "/etc", "/proc", "/sys", "/root", "/bin", "/sbin", "/lib", "/lib64", "/usr",
    "/var/lib/docker", "/var/lib/containerd",
)
_SENSITIVE_EXACT = re.compile(r"^(/home|/home/[^/]+|/var/lib|~[^/]*)$")
_CREDENTIAL_DIRS = re.compile(
    r"^(~[^/]*|/root|/home/[^/]+|/Users/[^/]+|/var/home/[^/]+)/\.(ssh|aws|kube|docker|gnupg)(/|$)"
)
_EXEMPT_ALWAYS = frozenset({"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"})
_EXEMPT_READ_ONLY = frozenset({"/etc/localtime", "/etc/timezone"})
_PROPAGATIONS = frozenset({"shared", "rshared", "slave", "rslave", "private", "rprivate"})


@dataclass(frozen=True)
class HostMount:
    """A host path visible in the container, and the key path that put it there."""

    path: str  # the key holding the host path
    source: str
    read_only: bool
    propagation: str = ""
    entry: str = ""  # the service's volumes[i], when the mount is written there


def normalize_path(path: str) -> str:
    """Collapse `//`, `.`, `..` and a trailing `/`; keep `~` as written."""
    path = re.sub(r"/+", "/", path.strip())
    return posixpath.normpath(path) if path else path


def parse_short_volume(spec: str) -> dict:
    """`src:dst[:opts]` -> the long form Compose would produce (bind when src is a path)."""
    parts = spec.split(":")
    if len(parts) == 1:
        return {"type": "volume", "target": parts[0]}
    source, target = parts[0], parts[1]
    options = set(parts[2].split(",")) if len(parts) > 2 else set()
    is_path = source.startswith(("/", ".", "~"))
    long: dict = {"type": "bind" if is_path else "volume", "source": source, "target": target}
    if "ro" in options:
        long["read_only"] = True
    propagation = options & _PROPAGATIONS
    if propagation:
        long["bind"] = {"propagation": propagation.pop()}
    return long


def host_mounts(view: ServiceView) -> Iterator[HostMount]:
    """Every host path this service mounts, with the key path to report."""
    model, base = view.model, view.base
    for i, entry in enumerate(as_list(view.service.get("volumes"))):
        volume = parse_short_volume(entry) if isinstance(entry, str) else entry
        if not isinstance(volume, Mapping):
            continue
        read_only = as_bool(volume.get("read_only"))
        kind = volume.get("type", "volume")
        if kind == "bind" and volume.get("source"):
            propagation = str(dig(volume, "bind", "propagation") or "")
            yield HostMount(f"{base}.volumes[{i}].source", str(volume["source"]), read_only, propagation,
                            entry=f"{base}.volumes[{i}]")
        elif kind == "volume" and volume.get("source"):
            name = str(volume["source"])
            device = _bound_device(dig(model, "volumes", name))
            if device:
                yield HostMount(f"volumes.{name}.driver_opts.device", device, read_only)
    for section in ("secrets", "configs"):
        for ref in as_list(view.service.get(section)):
            name = ref.get("source") if isinstance(ref, Mapping) else ref
            file = dig(model, section, str(name), "file")
            if file:
                yield HostMount(f"{section}.{name}.file", str(file), True)


def _bound_device(volume: object) -> str:
    opts = dig(volume, "driver_opts")
    if not isinstance(opts, Mapping) or not opts.get("device"):
        return ""
    o_words = {w.strip() for w in str(opts.get("o") or "").split(",")}
    if str(opts.get("type") or "") == "none" or "bind" in o_words or "rbind" in o_words:
        return str(opts["device"])
    return ""


def is_runtime_socket(source: str) -> bool:
    return source in _SOCKET_DIRS or any(word in source for word in _SOCKET_WORDS)


def is_sensitive(source: str, read_only: bool) -> bool:
    if source in _EXEMPT_ALWAYS or (read_only and source in _EXEMPT_READ_ONLY):
        return False
    if any(source == tree or source.startswith(tree + "/") for tree in _SENSITIVE_TREES):
        return True
    if source.startswith(("/run/", "/var/run/")):
        return True
    return bool(_SENSITIVE_EXACT.match(source) or _CREDENTIAL_DIRS.match(source))


def check(view: ServiceView) -> Iterator[Hit]:
    for mount in host_mounts(view):
        source = normalize_path(mount.source)
        mode = "read-only" if mount.read_only else "read-write"
        if is_runtime_socket(source):
            yield Hit("MOUNT-DOCKER-SOCK", mount.path,
                      f"host path {source} exposes a container runtime socket ({mode})")
        elif is_sensitive(source, mount.read_only):
            yield Hit("MOUNT-HOST-SENSITIVE", mount.path,
                      f"host path {source} is mounted {mode}", mild=mount.read_only)
        if mount.propagation in ("shared", "rshared"):
            yield Hit("MOUNT-PROPAGATION-SHARED", f"{mount.entry}.bind.propagation",
                      f"bind propagation is {mount.propagation}")
