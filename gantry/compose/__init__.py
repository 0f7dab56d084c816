"""Load, interpolate and merge compose files exactly like `docker compose config` (v2.40), in pure Python.

API (callers read files; nothing here touches the disk, the network or a subprocess):

    load_compose(files, lookup, *, project_dir, project_name=None, profiles=(), keep=frozenset(),
                 interpolate=True, read_file=None) -> ComposeModel
    render_yaml(model) -> str      # deterministic; `$` written as `$$`, kept variables as `${NAME}`
    render_json(model) -> str      # the same tree as JSON

`files` are `SourceFile(path, text)`; `path` is shown in errors and, resolved against `project_dir`,
locates relative paths. `lookup(name)` returns a variable's value or None. Variables in `keep` (secret
names) are not substituted: the output says `${NAME}` and the host's `--env-file` fills them in;
`model.references` lists every variable used, where, and whether it had a default.
`interpolate=False` gives the merged model without substitution (`config --no-interpolate`).
`read_file(path)` returns the text of a file named by `extends.file`, `env_file` or `label_file` (path
made absolute against `project_dir`, or against the directory of the file holding the `extends`) and
raises OSError (FileNotFoundError when it does not exist). `env_file` is inlined into `environment`
(`compose_envfile`); secret keys from env files stay `${NAME}`, their values in `model.env_file_secrets`.

Stage order per file (compose-go loader.go): parse (with `!reset`/`!override`) -> interpolate and cast
-> apply resets to the model so far -> resolve `extends` within the file -> merge (`compose_merge`
rule tables) -> enforce unique keys -> canonical long syntax -> unique keys again. Then defaults,
absolute paths, normalisation (default network, resource names), profiles, consistency, unused
top-level resources dropped, and typing (`compose_bind`). Errors are `gantry.errors` types; several
interpolation problems at once raise `ProblemList`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from gantry.compose import merge as merge
from gantry.compose.bind import bind_resource, bind_service, check_consistency, used_resources
from gantry.compose.envfile import EnvFiles, resolve_env_files
from gantry.compose.interpolate import SENTINEL_OPEN, Lookup, VarRef, interpolate_tree, path_matches
from gantry.compose.normalize import canonical, check_scalars, check_unique_items, implied_dependencies
from gantry.compose.render import render_json, render_yaml
from gantry.compose.schema import model_problems, schema_problems
from gantry.compose.validcache import ValidTrees
from gantry.errors import ConfigError, ProblemList
from gantry.yamlio import load_documents, shown

__all__ = ["ComposeModel", "SourceFile", "VarRef", "load_compose", "render_json", "render_yaml"]

_RESOURCES = ("networks", "volumes", "secrets", "configs")


@dataclass(frozen=True)
class SourceFile:
    path: str
    text: str


@dataclass(frozen=True)
class ComposeModel:
    """The merged project like `docker compose config --format json`; kept variables as sentinels."""

    data: dict
    warnings: tuple[str, ...]
    references: tuple[VarRef, ...]
    interpolated: bool = True  # False: `$` in values is still template text, rendered as is
    # secret keys read from env files: `${NAME}` in `data`, the values go to the release's .env only
    env_file_secrets: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass
class _Context:
    lookup: Lookup
    keep: frozenset[str]
    interpolate: bool
    read_file: Callable[[str], str] | None
    project_dir: str
    warnings: list[str]
    references: list[VarRef]
    errors: list
    kept: dict[str, str] = field(default_factory=dict, repr=False)
    marks: dict = field(default_factory=dict)  # path -> (file, line, column), the latest file wins
    schema: list = field(default_factory=list)  # schema problems, every one
    validate: bool = True  # check each merged model against the compose schema
    valid: ValidTrees | None = None  # trees that passed the schema before (validcache)


def load_compose(files: Sequence[SourceFile], lookup: Lookup, *, project_dir: str,
                 project_name: str | None = None, profiles: Sequence[str] = (),
                 keep: frozenset[str] = frozenset(), interpolate: bool = True,
                 read_file: Callable[[str], str] | None = None, validate: bool = True,
                 valid: ValidTrees | None = None) -> ComposeModel:
    """Merge `files` in order into one normalised project (see the module docstring).

    `validate=False` skips the schema (only for a second, uninterpolated load of files whose interpolated load
    passed it: a value such as `replicas: ${N}` is the wrong type only before interpolation). `valid` holds the
    trees that passed the schema in an earlier run; a tree found there is not validated again, a tree that passes
    is added."""
    if not files:
        raise ConfigError("", "no compose file given", "pass at least one compose file")
    ctx = _Context(lookup, keep, interpolate, read_file, project_dir, [], [], [], validate=validate, valid=valid)
    model: dict = {}
    for source in files:
        if SENTINEL_OPEN in source.text or "\ue001" in source.text:
            raise ConfigError(source.path, "contains a private-use character Gantry reserves",
                              "remove U+E000/U+E001 from the file")
        for document in load_documents(source.text, source.path):
            try:
                model = _merge_document(model, document, source.path, ctx)
            except ConfigError:
                if not ctx.schema:
                    raise
                break  # most likely a consequence of the schema problems, which are reported instead
    if not ctx.schema:
        ctx.schema.extend(model_problems(model, ctx.marks))
    problems = [e.problem for e in ctx.errors] + list(dict.fromkeys(ctx.schema))
    if problems:
        raise ctx.errors[0] if len(problems) == 1 and ctx.errors else ProblemList(problems)
    if not model:
        raise ConfigError(files[0].path, "empty compose file", "define at least one service")
    name = _project_name(model, project_name, project_dir)
    project = _finish(model, name, project_dir, frozenset(profiles), ctx)
    return ComposeModel(project, tuple(dict.fromkeys(ctx.warnings)), tuple(ctx.references), interpolate,
                        dict(ctx.kept))


def _merge_document(model: dict, document, filename: str, ctx: _Context, base_dir: str | None = None) -> dict:
    """Fold one YAML document into the model; `base_dir` is None for the project's own files."""
    data = document.data
    if not isinstance(data, dict):
        raise ConfigError(filename, "top-level object must be a mapping", "start the file with services:")
    if ctx.interpolate:
        result = interpolate_tree(data, ctx.lookup, filename=filename, keep=ctx.keep, marks=document.marks)
        data = result.data
        ctx.references.extend(result.references)
        ctx.warnings.extend(result.warnings)
        ctx.errors.extend(result.errors)
    if "include" in data:
        raise ConfigError(f"{filename}: include", "include is not supported by Gantry",
                          "list the files in the environment's compose files instead")
    resets = document.resets + document.overrides
    model = merge.apply_resets(model, resets)
    services = data.get("services")
    if services is not None and not isinstance(services, dict):
        raise ConfigError(f"{filename}: services", "services must be a mapping", "")
    if services and base_dir is None:
        source = _extends_source(services, resets, filename, ctx.project_dir, ctx)
        data = {**data, "services": merge.resolve_extends(source)}
    model = merge.enforce_unicity(merge.merge_mappings(model, data, ()))
    if base_dir is None:
        ctx.marks.update({path: (filename, *mark) for path, mark in {**document.marks, **document.key_marks}.items()})
        if ctx.validate:
            ctx.schema.extend(p for p in _schema_problems(model, ctx) if p not in ctx.schema)
        if ctx.schema:
            return model
    check_unique_items(model, filename)
    if "version" in model:
        ctx.warnings.append(f"{filename}: the attribute `version` is obsolete, it will be ignored")
        model = {k: v for k, v in model.items() if k != "version"}
    return merge.enforce_unicity(canonical(model, lenient=not ctx.interpolate))


def _schema_problems(model: dict, ctx: _Context) -> list:
    digest = ctx.valid.digest(model) if ctx.valid is not None else None
    if digest is not None and digest in ctx.valid:
        return []
    problems = schema_problems(model, ctx.marks)
    if digest is not None and not problems:
        ctx.valid.add(digest)
    return problems


def _extends_source(services: dict, resets: tuple, filename: str, base_dir: str,
                    ctx: _Context) -> merge.ExtendsSource:
    def open_file(path: str) -> merge.ExtendsSource:
        return _load_extends_file(_abs(path, base_dir, ctx.lookup("HOME")), filename, ctx)
    return merge.ExtendsSource(services, resets, filename, open_file if ctx.read_file else None)


def _load_extends_file(path: str, referrer: str, ctx: _Context) -> merge.ExtendsSource:
    """A file named by `extends.file`: loaded like a compose file, its relative paths made absolute."""
    assert ctx.read_file is not None
    try:
        text = ctx.read_file(path)
    except OSError as exc:
        raise ConfigError(f"{referrer}: extends", f"cannot read {path}: {exc.strerror or exc}",
                          "check extends.file; it is relative to the project directory") from None
    base_dir = posixpath.dirname(path)
    model: dict = {}
    resets: tuple = ()
    for document in load_documents(text, path):
        model = _merge_document(model, document, path, ctx, base_dir)
        resets = document.resets + document.overrides
    home = ctx.lookup("HOME")
    services = {key: _defaults_and_paths(service or {}, base_dir, home)
                for key, service in (model.get("services") or {}).items()}
    return _extends_source(services, resets, path, base_dir, ctx)


def _project_name(model: dict, explicit: str | None, project_dir: str) -> str:
    if explicit:
        name = explicit
    else:
        candidate = model.get("name") if isinstance(model.get("name"), str) else ""
        raw = candidate or posixpath.basename(posixpath.normpath(project_dir))
        name = re.sub(r"[^a-z0-9_-]", "", raw.lower()).lstrip("_-")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name or ""):
        raise ConfigError("name", f"invalid project name {shown(name)}",
                          "use lowercase letters, digits, dashes and underscores, starting with a letter or digit")
    return name


def _abs(path: str, base: str, home: str | None) -> str:
    if re.match(r"[A-Za-z]:", path):  # a Windows drive path is left alone, as compose does
        return path
    if path.startswith("~") and home and (path == "~" or path.startswith("~/")):
        path = home + path[1:]
    return posixpath.normpath(posixpath.join(base, path)) if not path.startswith("/") else path


def _defaults_and_paths(service: dict, base: str, home: str | None) -> dict:
    service = dict(service)
    if isinstance(service.get("ports"), list):
        service["ports"] = [{"protocol": "tcp", "mode": "ingress", **p} if isinstance(p, dict) else p
                            for p in service["ports"]]
    for key in ("secrets", "configs"):
        if isinstance(service.get(key), list):
            prefix = "/run/secrets/" if key == "secrets" else "/"
            service[key] = [{**m, "target": m.get("target", f"{prefix}{m.get('source')}")}
                            if isinstance(m, dict) and key == "secrets" else m for m in service[key]]
    if isinstance(service.get("volumes"), list):
        volumes = []
        for volume in service["volumes"]:
            if isinstance(volume, dict):
                volume = dict(volume)
                if isinstance(volume.get("bind"), dict):
                    volume["bind"] = {"create_host_path": True, **volume["bind"]}
                if volume.get("type") == "bind" and isinstance(volume.get("source"), str):
                    volume["source"] = _abs(volume["source"], base, home)
                if isinstance(volume.get("target"), str) and volume["target"]:
                    volume["target"] = posixpath.normpath(volume["target"]).replace("//", "/")
            volumes.append(volume)
        service["volumes"] = volumes
    extends = service.get("extends")
    if isinstance(extends, dict) and isinstance(extends.get("file"), str):
        service["extends"] = {**extends, "file": _abs(extends["file"], base, home)}
    if isinstance(service.get("build"), dict):
        build = dict(service["build"])
        context = str(build.get("context", "."))
        if "://" not in context and not context.startswith(("git@", "github.com/")):
            build["context"] = _abs(context, base, home)
        if "dockerfile" not in build and "dockerfile_inline" not in build:
            build["dockerfile"] = "Dockerfile"
        service["build"] = build
    if isinstance(service.get("env_file"), list):
        service["env_file"] = [{**e, "path": _abs(e["path"], base, home)} if isinstance(e, dict) else e
                               for e in service["env_file"]]
    if isinstance(service.get("label_file"), list):
        service["label_file"] = [_abs(f, base, home) if isinstance(f, str) else f for f in service["label_file"]]
    return service


def _enabled(service: dict, profiles: frozenset[str]) -> bool:
    wanted = service.get("profiles") or []
    return not wanted or "*" in profiles or any(p in profiles for p in wanted)


def _finish(model: dict, name: str, project_dir: str, profiles: frozenset[str], ctx: _Context) -> dict:
    home = ctx.lookup("HOME")
    check_scalars(model, ())
    services = {key: _defaults_and_paths(s or {}, project_dir, home)
                for key, s in (model.get("services") or {}).items()}
    if ctx.interpolate:  # `config --no-interpolate` prints every service, whatever its profiles
        services = {key: s for key, s in services.items() if _enabled(s, profiles)}
    resources = {kind: dict(model.get(kind) or {}) for kind in _RESOURCES}
    for kind in ("secrets", "configs"):
        for key, res in resources[kind].items():
            if isinstance(res, dict) and isinstance(res.get("file"), str):
                resources[kind][key] = {**res, "file": _abs(res["file"], project_dir, home)}
    for key, service in services.items():
        if ctx.interpolate:
            service = implied_dependencies(_resolve_environment(service, key, ctx))
        if "network_mode" not in service and "provider" not in service and not service.get("networks"):
            service = {**service, "networks": {"default": None}}
        services[key] = service
    if not ctx.interpolate:
        return _raw_model(model, name, services, resources)
    env_files = EnvFiles(ctx.lookup, ctx.keep, ctx.read_file, project_dir)
    services = {key: resolve_env_files(service, key, env_files) for key, service in services.items()}
    ctx.kept.update(env_files.kept)
    bound = {key: bind_service(service, ("services", key)) for key, service in services.items()}
    used = used_resources(bound)
    if "default" in used["networks"] and "default" not in resources["networks"]:
        resources["networks"]["default"] = None
    check_consistency(bound, resources)
    for key, service in bound.items():
        for ref in service.get("models") or {}:
            if ref not in (model.get("models") or {}):
                raise ConfigError(f"services.{key}", f'service "{key}" refers to undefined model {ref}',
                                  "define it under the top-level models:")
    project: dict = {"name": name, "services": bound}
    for kind in _RESOURCES:
        kept = {}
        for key, res in resources[kind].items():
            if key not in used[kind]:
                continue
            res = dict(res or {})
            if res.get("name") is None:
                res["name"] = key if res.get("external") is True else f"{name}_{key}"
            kept[key] = bind_resource(kind, res, (kind, key))
        if kept:
            project[kind] = kept
    project.update({k: v for k, v in model.items() if k.startswith("x-")})
    return project


def _raw_model(model: dict, name: str, services: dict, resources: dict) -> dict:
    """The merged model before typing, like `config --no-interpolate`: nothing pruned or converted."""
    if any("default" in (s.get("networks") or {}) for s in services.values()):
        resources["networks"].setdefault("default", None)
    raw = _null_empty_lists({**model, "name": name, "services": services}, ())
    for kind in _RESOURCES:
        named = {}
        for key, res in resources[kind].items():
            res = dict(res or {})
            if res.get("name") is None:
                res["name"] = key if res.get("external") is True else f"{name}_{key}"
            named[key] = res
        if named:
            raw[kind] = named
    return raw


def _null_empty_lists(value: object, path: tuple) -> object:
    """Uninterpolated, compose keeps `[]` only where its unique-key pass rebuilt the list.

    go-yaml reads `[]` as a nil slice that JSON prints as null; interpolation (skipped here) and the
    unique-key pass are what make them real lists again; environment is rebuilt as nil once more.
    """
    if isinstance(value, dict):
        return {key: _null_empty_lists(item, (*path, key)) for key, item in value.items()}
    if isinstance(value, list):
        if value:
            return [_null_empty_lists(item, (*path, i)) for i, item in enumerate(value)]
        rebuilt = any(path_matches(path, pattern) for pattern, _ in merge.UNIQUE_KEYS)
        return [] if rebuilt and path[-1] != "environment" else None
    return value


def _resolve_environment(service: dict, name: str, ctx: _Context) -> dict:
    """Entries without a value take the variable's value (compose loader/normalize.go `resolve`).

    An unset one stays null in `environment` and is dropped from `build.args`; a kept (secret)
    variable is never resolved here, so the host fills it in.
    """
    service = dict(service)
    if service.get("environment") is not None:
        service["environment"] = _resolve_entries(service["environment"], f"services.{name}.environment",
                                                  ctx, keep_unset=True)
    build = service.get("build")
    if isinstance(build, dict) and build.get("args") is not None:
        service["build"] = {**build, "args": _resolve_entries(build["args"], f"services.{name}.build.args",
                                                              ctx, keep_unset=False)}
    return service


def _resolve_entries(entries: object, where: str, ctx: _Context, *, keep_unset: bool) -> object:
    def value_of(key: str) -> str | None:
        found = ctx.lookup(key)
        ctx.references.append(VarRef(key, f"{where}.{key}", False, found is not None))
        return None if key in ctx.keep else found

    if isinstance(entries, dict):
        resolved = {}
        for key, value in entries.items():
            value = value if value is not None else value_of(key)
            if value is not None or keep_unset:
                resolved[key] = value
        return resolved
    if isinstance(entries, list):
        result = []
        for entry in entries:
            if isinstance(entry, str) and "=" not in entry:
                found = value_of(entry)
                if found is None and not keep_unset and entry not in ctx.keep:
                    continue
                entry = entry if found is None else f"{entry}={found}"
            result.append(entry)
        return result
    return entries
