"""Privilege rules: privileged mode, host namespaces, capabilities, security_opt, user, devices."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from gantry.policy.findings import Hit, ServiceView
from gantry.policy.scalars import as_bool, as_list, dig

_NAMESPACES = (
    ("network_mode", "NS-HOST-NETWORK"),
    ("pid", "NS-HOST-PID"),
    ("ipc", "NS-HOST-IPC"),
    ("uts", "NS-HOST-UTS"),
    ("userns_mode", "NS-HOST-USERNS"),
)
CAPS_ERROR = frozenset({"ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_RAWIO"})
CAPS_WARN = frozenset({
    "NET_ADMIN", "BPF", "SYS_BOOT", "PERFMON", "SYS_TIME", "SYSLOG", "SYS_PTRACE",
    "DAC_READ_SEARCH", "SYS_NICE", "IPC_LOCK", "LEASE",
})
_UNCONFINED = {("seccomp", "unconfined"), ("apparmor", "unconfined"), ("label", "disable")}
# Block devices, physical/kernel memory, kernel log, loop devices; /dev/net/tun and the like pass.
_DANGEROUS_DEVICE = re.compile(
    r"^/dev/("
    r"sd[a-z]+\d*|hd[a-z]+\d*|vd[a-z]+\d*|xvd[a-z]+\d*|nvme\d+(n\d+(p\d+)?)?|mmcblk\d+(p\d+)?"
    r"|dm-\d+|md\d+|sr\d+|nbd\d+|rbd\d+|zd\d+|loop(\d+|-control)?|ram\d+"
    r"|mapper/.+|disk/.+|block/.+|mem|kmem|port|kmsg|cpu/.*|bus/.+"
    r")$"
)


def normalize_cap(cap: object) -> str:
    """`cap_sys_admin`, `CAP_SYS_ADMIN`, `sys_admin` -> `SYS_ADMIN`."""
    name = str(cap).strip().upper()
    return name[4:] if name.startswith("CAP_") else name


def split_security_opt(entry: object) -> tuple[str, str | None]:
    """`seccomp:unconfined` / `seccomp=unconfined` -> (seccomp, unconfined); bare -> (key, None)."""
    text = str(entry).strip()
    cut = min((i for i in (text.find(":"), text.find("=")) if i >= 0), default=-1)
    if cut < 0:
        return text.lower(), None
    return text[:cut].strip().lower(), text[cut + 1:].strip()


def check(view: ServiceView) -> Iterator[Hit]:
    svc, base = view.service, view.base
    if as_bool(svc.get("privileged")):
        yield Hit("PRIV-PRIVILEGED", f"{base}.privileged", "privileged: true")
    for key, rule in _NAMESPACES:
        if str(svc.get(key) or "").strip().lower() == "host":
            yield Hit(rule, f"{base}.{key}", f"{key}: host")
    yield from _capabilities(svc, base)
    yield from _security_opts(svc, base)
    yield from _user(view)
    yield from _devices(svc, base)


def _capabilities(svc: Mapping, base: str) -> Iterator[Hit]:
    for i, cap in enumerate(as_list(svc.get("cap_add"))):
        name = normalize_cap(cap)
        if name in CAPS_ERROR or name in CAPS_WARN:
            yield Hit("CAP-ADD-DANGEROUS", f"{base}.cap_add[{i}]", f"cap_add includes {name}",
                      mild=name not in CAPS_ERROR)
    if "ALL" not in {normalize_cap(c) for c in as_list(svc.get("cap_drop"))}:
        yield Hit("CAP-DROP-MISSING", f"{base}.cap_drop", "cap_drop does not include ALL")


def _security_opts(svc: Mapping, base: str) -> Iterator[Hit]:
    nnp: bool | None = None
    for i, entry in enumerate(as_list(svc.get("security_opt"))):
        key, value = split_security_opt(entry)
        if (key, (value or "").lower()) in _UNCONFINED:
            yield Hit("SECOPT-UNCONFINED", f"{base}.security_opt[{i}]", f"security_opt {key}:{value}")
        if key == "no-new-privileges":
            nnp = True if value is None else as_bool(value)
    if not nnp:
        what = "is false" if nnp is False else "is not set"
        yield Hit("SECOPT-NNP-MISSING", f"{base}.security_opt", f"no-new-privileges {what}")


def _user(view: ServiceView) -> Iterator[Hit]:
    user = view.service.get("user")
    if user is not None and str(user).strip():
        uid = str(user).strip().split(":", 1)[0]
        if uid in ("root", "0"):
            yield Hit("USER-ROOT", f"{view.base}.user", f"user {user} runs as root")
        return
    if view.image_facts is None:
        return  # decided at deploy time from `docker image inspect`
    image_user = str(dig(view.image_facts, "Config", "User") or "").strip()
    if image_user.split(":", 1)[0] in ("", "root", "0"):
        shown = image_user or "unset (root)"
        yield Hit("USER-ROOT", f"{view.base}.user", f"no user set and the image's Config.User is {shown}")


def _devices(svc: Mapping, base: str) -> Iterator[Hit]:
    for i, entry in enumerate(as_list(svc.get("devices"))):
        if isinstance(entry, Mapping):
            source = str(entry.get("source") or "")
        else:
            source = str(entry).split(":", 1)[0]
        if _DANGEROUS_DEVICE.match(source.rstrip("/")):
            yield Hit("DEVICE-HOST", f"{base}.devices[{i}]", f"device {source} is exposed")
