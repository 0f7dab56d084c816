"""Compose spec "Merge and override" as data: path pattern -> merge rule, path pattern -> unique key.

Rules and keys follow compose-go `override/merge.go` and `override/uncity.go` (what `docker compose`
v2.40 runs). Every function here returns new containers and leaves its arguments untouched.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

from gantry.compose.gostr import go_string
from gantry.compose.interpolate import path_matches
from gantry.compose.normalize import parse_volume  # parsing lives with the canonical forms
from gantry.errors import ConfigError
from gantry.yamlio import format_path, shown

Tree = dict


# --- merge rules -------------------------------------------------------------------------------

Merger = Callable[[object, object, tuple], object]


def _to_sequence(value: object) -> list:
    if isinstance(value, dict):
        seq = []
        for key, item in value.items():
            if item is None:
                seq.append(key)
            elif isinstance(item, list):
                seq.extend(f"{key}={go_string(v)}" for v in item)
            else:
                seq.append(f"{key}={go_string(item)}")
        return sorted(seq)
    if isinstance(value, list):
        return list(value)
    if isinstance(value, str):
        return [value]
    return []


def _to_mapping(value: object, default: dict | None) -> dict:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return {item: (dict(default) if default is not None else None) for item in value}
    return {}


def merge_to_sequence(base: object, other: object, _path: tuple) -> object:
    return _to_sequence(base) + _to_sequence(other)


def merge_extra_hosts(base: object, other: object, _path: tuple) -> object:
    left = _to_sequence(base)
    return left + [item for item in _to_sequence(other) if item not in left]


def override(_base: object, other: object, _path: tuple) -> object:
    return other


def merge_logging(base: object, other: object, path: tuple) -> object:
    if not isinstance(base, dict) or not isinstance(other, dict):
        return other if other is not None else base
    if "driver" not in other or "driver" not in base or other["driver"] == base["driver"]:
        return merge_mappings(base, other, path)
    return other


def merge_build(base: object, other: object, path: tuple) -> object:
    def as_map(value: object) -> dict:
        return {"context": value} if isinstance(value, str) else dict(value or {})
    return merge_mappings(as_map(base), as_map(other), path)


def merge_ipam_config(base: object, other: object, path: tuple) -> object:
    """compose-go mergeIPAMConfig, by subnet, including its way of merging into the base entry it holds.

    The Go code merges each override into the base entry in place, so one base entry can take the
    subnets of several overrides in turn; the binary's output shows that, and so does ours.
    """
    if not isinstance(base, list) or not isinstance(other, list):
        raise ConfigError(format_path(path), f"unexpected type for {format_path(path)}", "use a list of pools")
    pools: list = []
    overrides = [dict(o) if isinstance(o, dict) else {} for o in other]
    for original in base:
        right = dict(original) if isinstance(original, dict) else {}
        for left in overrides:
            if left.get("subnet") != right.get("subnet") and \
                    not any(p.get("subnet") == left.get("subnet") for p in pools):
                pools.append(left)
                continue
            for key, value in left.items():
                right[key] = merge_values(right[key], value, (*path, key)) if key in right else value
            at = next((i for i, p in enumerate(pools) if p.get("subnet") == right.get("subnet")), -1)
            if at >= 0:
                pools[at] = right
            else:
                pools.append(right)
    return pools


_DEPENDENCY = {"condition": "service_started", "required": True}


def merge_depends_on(base: object, other: object, path: tuple) -> object:
    return merge_mappings(_to_mapping(base, _DEPENDENCY), _to_mapping(other, _DEPENDENCY), path)


def merge_as_mapping(base: object, other: object, path: tuple) -> object:
    return merge_mappings(_to_mapping(base, None), _to_mapping(other, None), path)


MERGE_RULES: tuple[tuple[tuple[str, ...], Merger], ...] = tuple(
    (tuple(pattern.split(".")), rule) for pattern, rule in (
        ("networks.*.ipam.config", merge_ipam_config),
        ("networks.*.labels", merge_to_sequence),
        ("volumes.*.labels", merge_to_sequence),
        ("services.*.annotations", merge_to_sequence),
        ("services.*.build", merge_build),
        ("services.*.build.args", merge_to_sequence),
        ("services.*.build.additional_contexts", merge_to_sequence),
        ("services.*.build.extra_hosts", merge_extra_hosts),
        ("services.*.build.labels", merge_to_sequence),
        ("services.*.command", override),
        ("services.*.depends_on", merge_depends_on),
        ("services.*.deploy.labels", merge_to_sequence),
        ("services.*.dns", merge_to_sequence),
        ("services.*.dns_opt", merge_to_sequence),
        ("services.*.dns_search", merge_to_sequence),
        ("services.*.entrypoint", override),
        ("services.*.env_file", merge_to_sequence),
        ("services.*.label_file", merge_to_sequence),
        ("services.*.environment", merge_to_sequence),
        ("services.*.extra_hosts", merge_extra_hosts),
        ("services.*.healthcheck.test", override),
        ("services.*.labels", merge_to_sequence),
        ("services.*.volumes.*.volume.labels", merge_to_sequence),
        ("services.*.logging", merge_logging),
        ("services.*.models", merge_as_mapping),
        ("services.*.networks", merge_as_mapping),
        ("services.*.sysctls", merge_to_sequence),
        ("services.*.tmpfs", merge_to_sequence),
        ("services.*.ulimits.*", override),
    )
)


def merge_values(base: object, other: object, path: tuple) -> object:
    """Merge `other` (a later file) onto `base` at `path` by the first matching rule."""
    for pattern, rule in MERGE_RULES:
        if path_matches(path, pattern):
            return rule(base, other, path)
    if other is None:
        return base
    if isinstance(base, dict):
        if not isinstance(other, dict):
            raise ConfigError(format_path(path), f"cannot override {format_path(path)}",
                              "a mapping can only be overridden by a mapping")
        return merge_mappings(base, other, path)
    if isinstance(base, list):
        if not isinstance(other, list):
            raise ConfigError(format_path(path), f"cannot override {format_path(path)}",
                              "a sequence can only be overridden by a sequence")
        return base + other
    return other


def merge_mappings(base: dict, other: dict, path: tuple) -> dict:
    merged = dict(base)
    for key, value in other.items():
        merged[key] = merge_values(merged[key], value, (*path, key)) if key in merged else value
    return merged


# --- uniqueness --------------------------------------------------------------------------------


def _go_s(value: object) -> str:
    """Go's `%s` verb applied to a non-string, as compose-go's port key does."""
    if isinstance(value, str):
        return value
    if value is None:
        return "%!s(<nil>)"
    kind = "bool" if isinstance(value, bool) else "int" if isinstance(value, int) else "float64"
    return f"%!s({kind}={go_string(value)})"


def key_value_key(item: object, path: tuple) -> str:
    if not isinstance(item, str):
        raise ConfigError(format_path(path), f"unexpected type {type(item).__name__}",
                          "entries here must be strings")
    return item.split("=", 1)[0]


def volume_key(item: object, path: tuple) -> str:
    if isinstance(item, dict):
        target = item.get("target")
        if not isinstance(target, str):
            raise ConfigError(format_path(path), "service volume is missing a mount target",
                              "add target: /path/in/container")
        return target
    if isinstance(item, str):
        return parse_volume(item, path).get("target", "")
    return ""


def device_key(item: object, _path: tuple) -> str:
    if isinstance(item, dict):
        return str(item.get("target"))
    if isinstance(item, str):
        parts = item.split(":")
        return parts[0] if len(parts) == 1 else parts[1]
    return ""


def expose_key(item: object, path: tuple) -> str:
    if isinstance(item, (str, int)) and not isinstance(item, bool):
        return str(item)
    raise ConfigError(format_path(path), f"unsupported expose value {shown(item)}", "use a port number")


def mount_key(default: str) -> Callable[[object, tuple], str]:
    def key(item: object, path: tuple) -> str:
        if isinstance(item, str):
            return f"{default}/{item}"
        if isinstance(item, dict):
            return str(item["target"]) if "target" in item else f"{default}/{_go_s(item.get('source'))}"
        raise ConfigError(format_path(path), f"unsupported value {shown(item)}", "use a name or a mapping")
    return key


def port_key(item: object, path: tuple) -> str:
    if isinstance(item, int) and not isinstance(item, bool):
        return str(item)
    if isinstance(item, dict):
        if "target" not in item:
            raise ConfigError(format_path(path), "service port is missing a target port", "add target:")
        target = item["target"]
        target_text = str(target) if isinstance(target, int) else f"%!d(string={target})"
        return (f"{_go_s(item.get('host_ip', '0.0.0.0'))}:{_go_s(item.get('published'))}:"
                f"{target_text}/{_go_s(item.get('protocol', 'tcp'))}")
    return item if isinstance(item, str) else ""


def env_file_key(item: object, path: tuple) -> str:
    if isinstance(item, dict):
        if "path" not in item:
            raise ConfigError(format_path(path), "env_file entry is missing path", "add path:")
        return str(item["path"])
    return item if isinstance(item, str) else ""


UNIQUE_KEYS: tuple[tuple[tuple[str, ...], Callable[[object, tuple], str]], ...] = tuple(
    (tuple(pattern.split(".")), key) for pattern, key in (
        ("networks.*.labels", key_value_key),
        ("networks.*.ipam.options", key_value_key),
        ("services.*.annotations", key_value_key),
        ("services.*.build.args", key_value_key),
        ("services.*.build.additional_contexts", key_value_key),
        ("services.*.build.platform", key_value_key),
        ("services.*.build.tags", key_value_key),
        ("services.*.build.labels", key_value_key),
        ("services.*.cap_add", key_value_key),
        ("services.*.cap_drop", key_value_key),
        ("services.*.configs", mount_key("")),
        ("services.*.deploy.labels", key_value_key),
        ("services.*.dns", key_value_key),
        ("services.*.dns_opt", key_value_key),
        ("services.*.dns_search", key_value_key),
        ("services.*.environment", key_value_key),
        ("services.*.env_file", env_file_key),
        ("services.*.expose", expose_key),
        ("services.*.labels", key_value_key),
        ("services.*.links", key_value_key),
        ("services.*.networks.*.aliases", key_value_key),
        ("services.*.networks.*.link_local_ips", key_value_key),
        ("services.*.ports", port_key),
        ("services.*.profiles", key_value_key),
        ("services.*.secrets", mount_key("/run/secrets")),
        ("services.*.sysctls", key_value_key),
        ("services.*.tmpfs", key_value_key),
        ("services.*.volumes", volume_key),
        ("services.*.devices", device_key),
    )
)


def enforce_unicity(value: object, path: tuple = ()) -> object:
    """Drop earlier entries of keyed sequences redefined later (the later one keeps the first slot)."""
    if isinstance(value, dict):
        return {key: enforce_unicity(item, (*path, key)) for key, item in value.items()}
    if isinstance(value, list):
        for pattern, indexer in UNIQUE_KEYS:
            if path_matches(path, pattern):
                seq: list = []
                slots: dict[str, int] = {}
                for i, entry in enumerate(value):
                    key = indexer(entry, (*path, i))
                    if key in slots:
                        seq[slots[key]] = entry
                    else:
                        slots[key] = len(seq)
                        seq.append(entry)
                return seq
    return value


# --- !reset / !override and extends -------------------------------------------------------------


def apply_resets(tree: object, paths: tuple, path: tuple = ()) -> object:
    """Remove the mapping keys a later file marked `!reset` or `!override`."""
    if not paths or not isinstance(tree, (dict, list)):
        return tree
    if isinstance(tree, list):
        return [apply_resets(item, paths, (*path, i)) for i, item in enumerate(tree)]
    return {key: apply_resets(item, paths, (*path, key))
            for key, item in tree.items() if (*path, key) not in paths}


@dataclass(frozen=True)
class ExtendsSource:
    """One file's services as `extends` sees them, and how to open the files it names."""

    services: dict
    resets: tuple
    filename: str
    open_file: Callable[[str], ExtendsSource] | None = None


def resolve_extends(source: ExtendsSource, chain: tuple = ()) -> dict:
    """Resolve `extends` in one file's services before the file is merged (compose loader/extends.go).

    A base from another file comes from `source.open_file(path)`; without it such an extends fails.
    """
    resolved: dict = dict(source.services)
    where = source.filename

    def resolve(name: str, seen: tuple) -> object:
        service = resolved.get(name)
        if not isinstance(service, dict) or "extends" not in service:
            return service
        extends = service["extends"]
        ref = extends if isinstance(extends, str) else (extends or {}).get("service")
        if not isinstance(ref, str):
            raise ConfigError(f"{where}: services.{name}.extends", "extends.service is required",
                              "name the service to extend")
        if (where, name) in seen:
            cycle = " -> ".join(f"{f}:{n}" for f, n in (*seen, (where, name)))
            raise ConfigError(f"{where}: services.{name}.extends", f"extends cycle: {cycle}", "break the cycle")
        file = extends.get("file") if isinstance(extends, dict) else None
        if file is not None:
            if source.open_file is None:
                raise ConfigError(f"{where}: services.{name}.extends",
                                  f"this command does not read other files, so extends.file {file} is not loaded",
                                  "run it through inv validate, inv render or inv compose.config, "
                                  "or move the base service into this file")
            other = source.open_file(str(file))
            if ref not in (other.services or {}):
                raise ConfigError(f"{where}: services.{name}.extends",
                                  f'cannot extend service "{name}": service "{ref}" not found in {other.filename}',
                                  f"define services.{ref} in {other.filename}")
            base = resolve_extends(other, (*seen, (where, name)))[ref]
        else:
            if ref not in resolved:
                raise ConfigError(f"{where}: services.{name}.extends",
                                  f'cannot extend service "{name}": service "{ref}" not found',
                                  f"define services.{ref} in {where}")
            base = resolve(ref, (*seen, (where, name)))
        if base is None:
            return service
        copied = apply_resets({"services": {name: copy.deepcopy(base)}}, source.resets)["services"][name]
        merged = merge_values(copied, service, ("services", "x"))
        merged.pop("extends", None)
        resolved[name] = merged
        return merged

    for name in source.services:
        resolve(name, chain)
    return resolved
