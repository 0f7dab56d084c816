"""Canonical forms of a merged compose tree, shaped like `docker compose config --format json`.

Two steps, as in compose-go: `canonical` rewrites short syntax into long syntax after each file is
merged (ports, volumes, secrets, networks lists, ...); `bind_service` then types each service key the
way the Go structs of compose-go `types` marshal it (byte sizes as decimal strings, durations as Go
durations, `command: null` when unset). Keys we do not model pass through unchanged.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable

from gantry.compose.gostr import go_string
from gantry.compose.interpolate import path_matches
from gantry.errors import ConfigError
from gantry.shell import split_words
from gantry.units import format_duration, parse_duration, parse_size
from gantry.yamlio import YamlTimestamp, format_path, shown


def _fail(path: tuple, what: str, hint: str = "") -> ConfigError:
    return ConfigError(format_path(path), what, hint)


# --- parsing short syntax ----------------------------------------------------------------------

_PROPAGATIONS = ("rprivate", "private", "rshared", "shared", "rslave", "slave")


def parse_volume(spec: str, path: tuple) -> dict:
    """compose-go format.ParseVolume: `[source:]target[:options]` into the long form."""
    if not spec:
        raise _fail(path, "invalid empty volume spec", "write source:target[:ro]")
    if len(spec) <= 2:
        return {"type": "volume", "target": spec}
    parts, buffer, depth = [], "", 0
    for i, char in enumerate(spec):
        if char == "$" and spec[i + 1: i + 2] == "{":
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        elif char == ":" and depth == 0 and not (len(buffer) == 1 and buffer.isalpha()):
            parts.append(buffer)
            buffer = ""
            continue
        buffer += char
    parts.append(buffer)
    if any(not part for part in parts) or len(parts) > 3:
        raise _fail(path, f"invalid spec: {spec}: {'too many colons' if len(parts) > 3 else 'empty section'}",
                    "write source:target[:options]")
    volume: dict = {}
    if len(parts) == 1:
        volume["target"] = parts[0]
    else:
        volume["source"], volume["target"] = parts[0], parts[1]
    bind: dict = {}
    for option in (parts[2].split(",") if len(parts) == 3 else ()):
        if option in ("ro", "rw"):
            volume["read_only"] = option == "ro"
        elif option == "nocopy":
            volume["volume"] = {"nocopy": True}
        elif option in _PROPAGATIONS:
            bind["propagation"] = option
        elif option in ("z", "Z"):
            bind["selinux"] = option
    source = volume.get("source", "")
    if source[:1] in (".", "/", "~") or source.startswith("\\\\") or re.match(r"[A-Za-z]:", source):
        volume["type"] = "bind"
        volume["bind"] = {**bind, "create_host_path": True}
    else:
        volume["type"] = "volume"
        volume.setdefault("volume", {})
        if bind:
            volume["bind"] = bind
    if not volume.get("read_only"):
        volume.pop("read_only", None)
    return volume


def _port_range(text: str, path: tuple) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)(?:-(\d+))?", text)
    if not match:
        raise _fail(path, f"invalid port {shown(text)}", "ports are numbers or ranges like 8000-8010")
    low = int(match.group(1))
    high = int(match.group(2) or low)
    if high < low or high > 65535:
        raise _fail(path, f"invalid port range {shown(text)}", "a range runs from low to high, up to 65535")
    return low, high


def parse_port(spec: str, path: tuple) -> list[dict]:
    """docker/go-connections nat.ParsePortSpec: `[[ip:]published:]target[/protocol]`."""
    raw, _, protocol = spec.partition("/")
    protocol = (protocol or "tcp").lower()
    host_ip = ""
    if raw.startswith("["):
        end = raw.find("]")
        host_ip, raw = raw[1:end], raw[end + 2:]
        parts = raw.split(":")
        parts = ["", *parts] if len(parts) == 1 else parts
        published, target = parts[0], parts[1]
    else:
        parts = raw.split(":")
        if len(parts) == 1:
            published, target = "", parts[0]
        elif len(parts) == 2:
            published, target = parts
        else:
            host_ip, published, target = ":".join(parts[:-2]), parts[-2], parts[-1]
    low, high = _port_range(target, path)
    pub_low, pub_high = _port_range(published, path) if published else (0, 0)
    count = high - low + 1
    if published and pub_high - pub_low + 1 not in (count, 1) and count != 1:
        raise _fail(path, f"invalid port range {shown(spec)}: published and target ranges differ in size",
                    "use ranges of the same length")
    result = []
    for offset in range(count):
        entry: dict = {"mode": "ingress"}
        if host_ip:
            entry["host_ip"] = host_ip
        entry["target"] = low + offset
        if published:
            if count == 1 and pub_high != pub_low:
                entry["published"] = f"{pub_low}-{pub_high}"
            elif pub_high != pub_low:
                entry["published"] = str(pub_low + offset)
            else:
                entry["published"] = str(pub_low)
        entry["protocol"] = protocol
        result.append(entry)
    return sorted(result, key=lambda p: f"{p['target']}/{protocol}") if count > 1 else result


# --- canonical (compose-go transform/canonical.go) ---------------------------------------------


def _ports(value: object, path: tuple) -> object:
    if not isinstance(value, list):
        raise _fail(path, "ports must be a list", "write ports: [\"8080:80\"]")
    result = []
    for i, entry in enumerate(value):
        if isinstance(entry, bool) or not isinstance(entry, (int, str, dict)):
            raise _fail((*path, i), f"invalid type {type(entry).__name__} for port", "use \"8080:80\"")
        result.extend(parse_port(str(entry), (*path, i)) if not isinstance(entry, dict) else [entry])
    return result


def _volume(value: object, path: tuple) -> object:
    if isinstance(value, str):
        volume = parse_volume(value, path)
        if volume.get("target"):
            volume["target"] = posixpath.normpath(volume["target"]).replace("//", "/")
        return volume
    if not isinstance(value, dict):
        raise _fail(path, f"invalid type {type(value).__name__} for service volume mount", "")
    return value


def _file_mount(value: object, path: tuple) -> object:
    return {"source": value} if isinstance(value, str) else value


def _string_or_list(value: object, _path: tuple) -> object:
    return [value] if isinstance(value, str) else value


def _list_to_map(value: object, _path: tuple) -> object:
    return {item: None for item in value} if isinstance(value, list) else value


def _depends_on(value: object, _path: tuple) -> object:
    if isinstance(value, list):
        return {name: {"condition": "service_started", "required": True} for name in value}
    if isinstance(value, dict):
        return {name: {**{"condition": "service_started", "required": True}, **(dep or {})}
                for name, dep in value.items()}
    return value


def _env_file(value: object, _path: tuple) -> object:
    items = [value] if isinstance(value, str) else value or []
    return [{"path": item, "required": True} if isinstance(item, str) else item for item in items]


def _maybe_external(value: object, _path: tuple) -> object:
    if isinstance(value, dict) and isinstance(value.get("external"), dict):
        external = value["external"]
        value = {**value, "external": True}
        if "name" in external and "name" not in value:
            value["name"] = external["name"]
    return value


def _device(value: object, path: tuple) -> object:
    """compose-go transformDeviceMapping: `source[:target[:permissions]]` to the long form."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        raise _fail(path, f"invalid type {type(value).__name__} for a device", "write /dev/src:/dev/dst[:rwm]")
    parts = value.split(":")
    if len(parts) > 3:
        raise _fail(path, f"confusing device mapping, please use long syntax: {value}", "use source:/target:")
    source, target = parts[0], parts[1] if len(parts) > 1 else ""
    permissions = parts[2] if len(parts) == 3 else "rwm"
    return {"source": source, "target": target or source, "permissions": permissions}


def _build(value: object, _path: tuple) -> object:
    return {"context": value} if isinstance(value, str) else value


CANONICAL: tuple[tuple[tuple[str, ...], Callable[[object, tuple], object]], ...] = tuple(
    (tuple(pattern.split(".")), rule) for pattern, rule in (
        ("services.*.build", _build),
        ("services.*.depends_on", _depends_on),
        ("services.*.env_file", _env_file),
        ("services.*.label_file", _string_or_list),
        ("services.*.networks", _list_to_map),
        ("services.*.models", _list_to_map),
        ("services.*.volumes.*", _volume),
        ("services.*.devices.*", _device),
        ("services.*.gpus", lambda v, _p: [{"count": "all"}] if isinstance(v, str) else v),
        ("services.*.dns", _string_or_list),
        ("services.*.secrets.*", _file_mount),
        ("services.*.configs.*", _file_mount),
        ("services.*.ports", _ports),
        ("volumes.*", _maybe_external),
        ("networks.*", _maybe_external),
        ("secrets.*", _maybe_external),
        ("configs.*", _maybe_external),
    )
)


def canonical(value: object, path: tuple = (), *, lenient: bool = False) -> object:
    """Rewrite short syntax to long syntax, by path pattern; returns a new tree.

    `lenient` (no interpolation: values may still hold `${...}`) keeps what does not parse as is.
    """
    for pattern, rule in CANONICAL:
        if path_matches(path, pattern):
            try:
                value = rule(value, path)
            except ConfigError:
                if not lenient:
                    raise
            break
    if isinstance(value, dict):
        return {key: canonical(item, (*path, key), lenient=lenient) for key, item in value.items()}
    if isinstance(value, list) and path[:1] == ("services",) and len(path) <= 3:
        return [canonical(item, (*path, i), lenient=lenient) for i, item in enumerate(value)]
    return value


# --- Go value types ----------------------------------------------------------------------------

def to_bytes(value: object, path: tuple) -> str:
    """docker/go-units RAMInBytes, rendered as compose does: a decimal string."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    size = parse_size(str(value))
    if size is None:
        raise _fail(path, f"invalid size: {shown(value)}", "use a size like 512m or 1g")
    return str(size)


def to_duration(value: object, path: tuple) -> str:
    """Parse like str2duration (Go units plus d and w), render like Go's time.Duration.String."""
    text = go_string(value)
    nanos = parse_duration(text)
    if nanos is None:
        raise _fail(path, f"invalid duration {shown(text)}", "use a duration like 30s, 1m30s or 2h")
    return format_duration(nanos)


def shell_split(value: object, path: tuple) -> list | None:
    """compose ShellCommand: a string is split like a shell (mattn/go-shellwords), a list kept."""
    if value is None:
        return None
    if isinstance(value, list):
        return [go_string(item) for item in value]
    try:
        return split_words(str(value))
    except ValueError as exc:
        raise _fail(path, f"invalid command: {exc}", "check the quotes") from None


def string_map(value: object, path: tuple, *, keep_null: bool) -> dict:
    """Mapping / MappingWithEquals / Labels: list `k=v` or mapping, values as Go strings."""
    if isinstance(value, list):
        result: dict = {}
        for item in value:
            key, sep, val = go_string(item).partition("=")
            if key and key[-1].isspace():
                raise _fail(path, f"environment variable {key} is declared with a trailing space",
                            "remove the space before =")
            result[key] = val if sep else (None if keep_null else "")
        return result
    if isinstance(value, dict):
        return {key: (None if keep_null else "") if item is None else go_string(item)
                for key, item in value.items()}
    raise _fail(path, f"unexpected value type {type(value).__name__} for mapping", "use KEY: value")


def check_scalars(value: object, path: tuple) -> None:
    """Compose rejects unquoted dates (go-yaml makes them time values) outside extensions."""
    if isinstance(value, YamlTimestamp):
        raise _fail(path, f"{value} is an unquoted date", "quote it: \"" + value + "\"")
    if isinstance(value, dict):
        for key, item in value.items():
            if not str(key).startswith("x-"):
                check_scalars(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_scalars(item, (*path, i))


# Compose schema (compose-spec.json) lists whose items must be unique. Merging files appends lists,
# so `security_opt: [no-new-privileges:true]` in two files makes the binary reject the project.
UNIQUE_ITEMS: tuple[tuple[str, ...], ...] = tuple(tuple(p.split(".")) for p in (
    "services.*.annotations", "services.*.cap_add", "services.*.cap_drop", "services.*.deploy.labels",
    "services.*.device_cgroup_rules", "services.*.dns", "services.*.dns_opt", "services.*.dns_search",
    "services.*.environment", "services.*.expose", "services.*.external_links", "services.*.extra_hosts",
    "services.*.group_add", "services.*.labels", "services.*.links", "services.*.networks",
    "services.*.networks.*.aliases", "services.*.networks.*.link_local_ips", "services.*.ports",
    "services.*.profiles", "services.*.security_opt", "services.*.sysctls", "services.*.tmpfs",
    "services.*.volumes", "services.*.volumes_from", "services.*.depends_on",
))


def check_unique_items(value: object, filename: str, path: tuple = ()) -> None:
    """Reject a list that repeats an item where the compose schema says `uniqueItems`."""
    if isinstance(value, dict):
        for key, item in value.items():
            check_unique_items(item, filename, (*path, key))
    elif isinstance(value, list) and any(path_matches(path, p) for p in UNIQUE_ITEMS):
        seen: dict[str, int] = {}
        for i, item in enumerate(value):
            key = repr(item) if not isinstance(item, (dict, list)) else repr(sorted(item.items())) \
                if isinstance(item, dict) else repr(item)
            if key in seen:
                raise ConfigError(f"{filename}: {format_path(path)}",
                                  f"items at {seen[key]} and {i} are equal",
                                  "remove the repeated entry (lists from several files are concatenated)")
            seen[key] = i


_IMPLIED = {"condition": "service_started", "restart": True, "required": True}


def implied_dependencies(service: dict) -> dict:
    """compose-go loader/normalize.go: links, `service:` namespaces and volumes_from add to depends_on."""
    depends_on = dict(service.get("depends_on") or {})
    names = [str(link).split(":")[0] if str(link).count(":") == 1 else str(link) for link in service.get("links") or []]
    names += [service[ns][len("service:"):] for ns in ("network_mode", "ipc", "pid", "uts", "cgroup")
              if isinstance(service.get(ns), str) and service[ns].startswith("service:")]
    for name in names:
        depends_on.setdefault(name, dict(_IMPLIED))
    for spec in service.get("volumes_from") or []:
        if isinstance(spec, str) and not spec.startswith("container:"):
            depends_on.setdefault(spec.split(":")[0], {**_IMPLIED, "restart": False})
    return {**service, "depends_on": depends_on} if depends_on else service
