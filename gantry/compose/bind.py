"""Type a canonical compose tree the way compose-go's Go structs marshal it to JSON.

`docker compose config --format json` prints a `types.Project`: fields with `omitempty` vanish when
zero, `command`/`entrypoint` are always present (null when unset), byte sizes are decimal strings,
durations are Go durations, `deploy.resources` and `deploy.placement` are always objects. One table,
`SERVICE_FIELDS`, maps each service key to its converter; unknown keys pass through unchanged.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable

from gantry.compose.gostr import go_string
from gantry.compose.normalize import shell_split, string_map, to_bytes, to_duration
from gantry.errors import ConfigError
from gantry.yamlio import format_path, shown

Converter = Callable[[object, tuple], object]
_OMIT = object()


def _str(value: object, _path: tuple) -> object:
    return go_string(value) if value not in (None, "") else _OMIT


def _bool(value: object, path: tuple) -> object:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        value = value.lower() == "true"
    if not isinstance(value, bool):
        raise ConfigError(format_path(path), f"expected a boolean, got {shown(value)}", "use true or false")
    return value or _OMIT


def _bool_ptr(value: object, path: tuple) -> object:
    return _OMIT if value is None else (_bool(value, path) is not _OMIT)


def _int(value: object, path: tuple) -> object:
    if isinstance(value, str) and value.lstrip("+-").isdigit():
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(format_path(path), f"expected an integer, got {shown(value)}", "use a whole number")
    return value or _OMIT


def _int_ptr(value: object, path: tuple) -> object:
    return _OMIT if value is None else (_int(value, path) if value not in (0, "0") else 0)


def _float(value: object, path: tuple) -> object:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(format_path(path), f"expected a number, got {shown(value)}", "use a number") from None
    return number or _OMIT


def _strings(value: object, path: tuple) -> object:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ConfigError(format_path(path), f"expected a list of strings, got {shown(value)}", "use a list")
    return [go_string(item) for item in items] or _OMIT


def _bytes(value: object, path: tuple) -> object:
    result = to_bytes(value, path)
    return _OMIT if result == "0" else result


def _duration(value: object, path: tuple) -> object:
    return _OMIT if value is None else to_duration(value, path)


def _mapping(value: object, path: tuple) -> object:
    return string_map(value, path, keep_null=False) or _OMIT


def _struct(fields: dict[str, Converter], *, keep_empty: bool = False,
            always: tuple[str, ...] = ()) -> Converter:
    """A Go struct: `always` names its non-pointer struct fields, which JSON prints even when empty."""
    def convert(value: object, path: tuple) -> object:
        if value is None:
            return _OMIT
        if not isinstance(value, dict):
            raise ConfigError(format_path(path), f"expected a mapping, got {shown(value)}", "use key: value")
        result = {**dict.fromkeys(always, {}), **bind_fields(value, fields, path)}
        return result if result or keep_empty else _OMIT
    return convert


def bind_fields(value: dict, fields: dict[str, Converter], path: tuple) -> dict:
    result = {}
    for key, item in value.items():
        if key.startswith("x-"):
            continue
        converter = fields.get(key)
        converted = converter(item, (*path, key)) if converter else item
        if converted is not _OMIT:
            result[key] = converted
    return result


def _command(value: object, path: tuple) -> object:
    return shell_split(value, path)


def _healthcheck_test(value: object, path: tuple) -> object:
    if isinstance(value, str):
        return ["CMD-SHELL", value]
    return _strings(value, path)


def _ulimits(value: object, path: tuple) -> object:
    result = {}
    for name, limit in (value or {}).items():
        if isinstance(limit, dict):
            result[name] = {"soft": _int_ptr(limit.get("soft", 0), path), "hard": _int_ptr(limit.get("hard", 0), path)}
        else:
            result[name] = _int(limit, (*path, name))
    return result or _OMIT


def _extra_hosts(value: object, path: tuple) -> object:
    items = value.items() if isinstance(value, dict) else []
    pairs = [(k, v) for k, v in items] if isinstance(value, dict) else []
    for entry in value if isinstance(value, list) else []:
        for sep in ("=", ":"):
            host, found, ip = str(entry).partition(sep)
            if found:
                pairs.append((host, ip))
                break
        else:
            raise ConfigError(format_path(path), f"invalid additional host, missing IP: {entry}", "write host=ip")
    result = []
    for host, ips in pairs:
        for ip in (ips if isinstance(ips, list) else str(ips).split(",")):
            ip = str(ip)
            result.append(f"{host}={ip[1:-1] if ip.startswith('[') and ip.endswith(']') else ip}")
    return sorted(set(result)) or _OMIT  # the binary may repeat a pair, which it then cannot reload


def _port(value: object, path: tuple) -> object:
    port = dict(value)  # type: ignore[arg-type]
    if port.get("host_ip"):
        try:
            ipaddress.ip_address(port["host_ip"])
        except ValueError:
            raise ConfigError(format_path(path), f"invalid IP address: {port['host_ip']}", "") from None
    return bind_fields(port, {"target": _int, "published": _str, "host_ip": _str, "mode": _str,
                              "protocol": _str, "name": _str, "app_protocol": _str}, path)


def _list_of(converter: Converter) -> Converter:
    def convert(value: object, path: tuple) -> object:
        if value is None:
            return _OMIT
        return [converter(item, (*path, i)) for i, item in enumerate(value)] or _OMIT  # type: ignore[arg-type]
    return convert


def _file_mode(value: object, path: tuple) -> object:
    if isinstance(value, str):
        value = int(value, 8)
    return "0" + format(_int(value, path), "o") if value else _OMIT


_MOUNT = _struct({"source": _str, "target": _str, "uid": _str, "gid": _str, "mode": _file_mode})
_VOLUME = _struct({
    "type": _str, "source": _str, "target": _str, "read_only": _bool, "consistency": _str,
    "bind": _struct({"selinux": _str, "propagation": _str, "recursive": _str,
                     "create_host_path": lambda v, p: True if v is None or _bool(v, p) is not _OMIT else _OMIT},
                    keep_empty=True),
    "volume": _struct({"labels": _mapping, "nocopy": _bool, "subpath": _str}, keep_empty=True),
    "tmpfs": _struct({"size": _bytes, "mode": _int}, keep_empty=True),
    "image": _struct({"subpath": _str}, keep_empty=True),
})
_RESOURCE = _struct({"cpus": _float, "memory": _bytes, "pids": _int}, keep_empty=True)
_DEPLOY = _struct({
    "mode": _str, "replicas": _int_ptr, "labels": _mapping, "endpoint_mode": _str,
    "resources": _struct({"limits": _RESOURCE, "reservations": _RESOURCE}, keep_empty=True),
    "restart_policy": _struct({"condition": _str, "delay": _duration, "max_attempts": _int_ptr,
                               "window": _duration}, keep_empty=True),
    "placement": _struct({"constraints": _strings, "max_replicas_per_node": _int}, keep_empty=True),
}, keep_empty=True, always=("resources", "placement"))

SERVICE_FIELDS: dict[str, Converter] = {
    "profiles": _strings, "annotations": _mapping, "attach": _bool_ptr, "cap_add": _strings,
    "cap_drop": _strings, "cgroup_parent": _str, "cgroup": _str, "cpu_count": _int, "cpu_percent": _float,
    "cpu_period": _int, "cpu_quota": _int, "cpu_rt_period": _int, "cpu_rt_runtime": _int, "cpus": _float,
    "cpuset": _str, "cpu_shares": _int, "command": _command, "configs": _list_of(_MOUNT),
    "container_name": _str, "deploy": _DEPLOY, "device_cgroup_rules": _strings, "dns": _strings,
    "dns_opt": _strings, "dns_search": _strings, "domainname": _str, "entrypoint": _command,
    "environment": lambda v, p: string_map(v, p, keep_null=True) or _OMIT,
    "build": _struct({"args": lambda v, p: string_map(v, p, keep_null=True) or _OMIT, "labels": _mapping,
                      "extra_hosts": _extra_hosts, "tags": _strings, "platforms": _strings,
                      "cache_from": _strings, "cache_to": _strings, "shm_size": _bytes}, keep_empty=True),
    "expose": _strings, "external_links": _strings, "extra_hosts": _extra_hosts, "group_add": _strings,
    "hostname": _str, "image": _str, "init": _bool_ptr, "ipc": _str, "isolation": _str,
    "healthcheck": _struct({"test": _healthcheck_test, "timeout": _duration, "interval": _duration,
                            "retries": _int_ptr, "start_period": _duration, "start_interval": _duration,
                            "disable": _bool}, keep_empty=True),
    "labels": _mapping, "links": _strings,
    "logging": _struct({"driver": _str, "options": _mapping}, keep_empty=True),
    "mem_limit": _bytes, "mem_reservation": _bytes, "memswap_limit": _bytes, "mem_swappiness": _bytes,
    "mac_address": _str, "network_mode": _str, "oom_kill_disable": _bool, "oom_score_adj": _int,
    "pid": _str, "pids_limit": _int, "platform": _str, "ports": _list_of(_port), "privileged": _bool,
    "pull_policy": _str, "read_only": _bool, "restart": _str, "runtime": _str, "scale": _int_ptr,
    "secrets": _list_of(_MOUNT), "security_opt": _strings, "shm_size": _bytes, "stdin_open": _bool,
    "stop_grace_period": _duration, "stop_signal": _str, "sysctls": _mapping, "tmpfs": _strings,
    "tty": _bool, "ulimits": _ulimits, "user": _str, "userns_mode": _str, "uts": _str,
    "volume_driver": _str, "volumes": _list_of(_VOLUME), "volumes_from": _strings, "working_dir": _str,
}


def _gpus(value: object, path: tuple) -> object:
    if isinstance(value, str):
        value = [{"count": "all"}]
    if not isinstance(value, list):
        raise ConfigError(format_path(path), f"invalid type for gpus: {shown(value)}", "use gpus: all, or a list")
    return [{**d, "count": -1 if d.get("count") == "all" else _int(d["count"], path)} if "count" in d else d
            for d in value if isinstance(d, dict)] or _OMIT


_HOOK = _struct({"command": _command, "environment": lambda v, p: string_map(v, p, keep_null=True) or _OMIT})
SERVICE_FIELDS.update({"gpus": _gpus, "post_start": _list_of(_HOOK), "pre_stop": _list_of(_HOOK),
                       "storage_opt": _mapping, "pull_refresh_after": lambda _v, _p: _OMIT})


def bind_service(service: dict, path: tuple) -> dict:
    """One service as compose prints it; `command` and `entrypoint` always present."""
    result = bind_fields(service, SERVICE_FIELDS, path)
    result.setdefault("command", None)
    result.setdefault("entrypoint", None)
    return result


_RESOURCE_FIELDS: dict[str, Converter] = {
    "name": _str, "driver": _str, "driver_opts": _mapping, "external": _bool, "internal": _bool,
    "attachable": _bool, "labels": _mapping, "file": _str, "environment": _str, "content": _str,
    "template_driver": _str, "enable_ipv4": _bool_ptr, "enable_ipv6": _bool_ptr,
}


def bind_resource(kind: str, value: dict, path: tuple) -> dict:
    result = bind_fields(value or {}, _RESOURCE_FIELDS, path)
    if kind == "networks":  # types.IPAMConfig has only driver and config: `ipam.options` is dropped
        ipam = result.get("ipam") if isinstance(result.get("ipam"), dict) else {}
        result["ipam"] = {key: ipam[key] for key in ("driver", "config") if ipam.get(key) is not None}
    if kind == "secrets":
        result.pop("content", None)
    return result


# --- consistency (compose-go loader/validate.go) --------------------------------------------------


def used_resources(services: dict) -> dict[str, set[str]]:
    """Names of the top-level networks, volumes, secrets and configs the bound services use."""
    used: dict[str, set[str]] = {kind: set() for kind in ("networks", "volumes", "secrets", "configs")}
    for service in services.values():
        used["networks"].update(service.get("networks") or {})
        used["volumes"].update(v["source"] for v in service.get("volumes") or []
                               if v.get("type") == "volume" and v.get("source"))
        used["secrets"].update(s.get("source") for s in service.get("secrets") or [])
        used["configs"].update(c.get("source") for c in service.get("configs") or [])
    return used


def _f32(value: object) -> float:
    return struct.unpack("f", struct.pack("f", float(value)))[0]  # type: ignore[arg-type]


def _consistency_problem(key: str, service: dict, services: dict, resources: dict) -> str | None:
    """compose-go loader/validate.go checkConsistency, for one service."""
    if "image" not in service and "build" not in service and "provider" not in service:
        return f'service "{key}" has neither an image nor a build context specified'
    if service.get("network_mode") and service.get("networks"):
        return f"service {key} declares mutually exclusive `network_mode` and `networks`"
    for kind, names in used_resources({key: service}).items():
        for ref in sorted(names):
            if ref not in resources[kind]:
                return f'service "{key}" refers to undefined {kind[:-1]} {ref}'
    test = (service.get("healthcheck") or {}).get("test") or []
    if test and test[0] not in ("CMD", "CMD-SHELL", "NONE"):
        return 'healthcheck.test must start either by "CMD", "CMD-SHELL" or "NONE"'
    for dep, cfg in (service.get("depends_on") or {}).items():
        if dep not in services and (cfg or {}).get("required", True):
            return f'service "{key}" depends on undefined service "{dep}"'
    deploy = service.get("deploy") or {}
    limits = (deploy.get("resources") or {}).get("limits")
    reservations = (deploy.get("resources") or {}).get("reservations")
    if "scale" in service and "replicas" in deploy and service["scale"] != deploy["replicas"]:
        return f"services.{key}: can't set distinct values on 'scale' and 'deploy.replicas'"
    pairs = (("cpus", limits, "cpus", "deploy.resources.limits.cpus"),
             ("mem_limit", limits, "memory", "deploy.resources.limits.memory"),
             ("mem_reservation", reservations, "memory", "deploy.resources.reservations.memory"),
             ("pids_limit", limits, "pids", "deploy.resources.limits.pids"))
    for own, section, field, where in pairs:
        if own in service and "deploy" in service and section is not None:
            mine, theirs = service[own], section.get(field, 0)
            if (_f32(mine) != _f32(theirs or 0)) if own == "cpus" else str(mine) != str(theirs or 0):
                return f"services.{key}: can't set distinct values on '{own}' and '{where}'"
    mounts: dict[str, str] = {}
    targets = [(f"tmpfs[{i}]", t.split(":", 1)[0]) for i, t in enumerate(service.get("tmpfs") or [])]
    targets += [(f"volumes[{i}]", v.get("target", "")) for i, v in enumerate(service.get("volumes") or [])]
    for loc, target in targets:
        if target in mounts:
            return f"services.{key}.{loc}: target {target} already mounted as services.{key}.{mounts[target]}"
        mounts[target] = loc
    return None


def check_consistency(services: dict, resources: dict) -> None:
    """compose-go checkConsistency over the bound, profile-filtered services."""
    for key, service in services.items():
        problem = _consistency_problem(key, service, services, resources)
        if problem:
            raise ConfigError(f"services.{key}", problem, "fix the service definition")
    for key, secret in resources["secrets"].items():
        if not (secret or {}).get("external") and not (secret or {}).get("file") \
                and not (secret or {}).get("environment"):
            raise ConfigError(f"secrets.{key}", f'secret "{key}" must declare either `file` or `environment`',
                              "add file: or environment:")
    _check_cycles(services)


def _check_cycles(services: dict) -> None:
    state: dict[str, int] = {}

    def visit(name: str, chain: tuple) -> None:
        if state.get(name) == 2 or name not in services:
            return
        if state.get(name) == 1:
            raise ConfigError(f"services.{name}.depends_on", f"dependency cycle detected: {' -> '.join(chain)}",
                              "remove one of the depends_on entries")
        state[name] = 1
        for dep in services[name].get("depends_on") or {}:
            visit(dep, (*chain, dep))
        state[name] = 2

    for name in services:
        visit(name, (name,))
