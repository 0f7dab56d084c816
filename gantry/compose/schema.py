"""The Compose Specification JSON schema, and compose-go's own checks, over the merged tree.

`compose-spec.json` is vendored verbatim from compose-go v2.9.1 (`schema/compose-spec.json`), the
compose-go that Docker Compose v2.40.3 is built with. compose-go validates the tree merged so far
after each file (loader.go `loadYamlFile`), after interpolation and before the canonical long syntax,
then runs `validation.Validate` on the whole model; so do we. Unlike the binary, which prints the one
most specific error, every problem is returned, each located `file:line:col` from the YAML marks.

jsonschema is imported on the first validation, not with this module: it costs about as much CPU as the
interpreter's own start, and most tasks (`inv --list`, status, releases, lab) never validate a compose file.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from gantry.errors import Problem
from gantry.yamlio import format_path

if TYPE_CHECKING:
    import jsonschema

SCHEMA_FILE = Path(__file__).with_name("compose-spec.json")
COMPOSE_GO_VERSION = "v2.9.1"

Marks = dict  # path tuple -> (filename, line, column)


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft7Validator:
    import jsonschema

    return jsonschema.Draft7Validator(json.loads(SCHEMA_FILE.read_text()))


@functools.lru_cache(maxsize=1)
def schema_digest() -> str:
    """The vendored schema's SHA-256 (a tree that passed one schema is validated again under another)."""
    return hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest()


def _located(path: tuple, marks: Marks) -> str:
    for end in range(len(path), -1, -1):
        mark = marks.get(path[:end])
        if mark:
            return f"{mark[0]}:{mark[1]}:{mark[2]}: "
    return ""


def _specific(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """compose-go schema.getMostSpecificError: the deepest cause; unknown keys count one deeper."""
    best, score = error, (-1, False)
    if not error.context:
        return error
    for cause in error.context:
        cause = _specific(cause)
        # at equal depth, a cause that is not "wrong type" says more (a mapping missing a key, ...)
        rank = (len(cause.absolute_path) + (cause.validator == "additionalProperties"), cause.validator != "type")
        if rank > score:
            best, score = cause, rank
    return best


_TYPES = {"object": "mapping", "array": "list", "string": "string", "integer": "integer", "number": "number",
          "boolean": "boolean", "null": "null"}


def _type_names(want: object) -> str:
    names = sorted(_TYPES.get(w, w) for w in (want if isinstance(want, list) else [want]))
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")


def _shown(key: object) -> str:
    """A key for a message: a plain name as it is, anything else (a line of some other file read as YAML,
    `NAME=value`) only described, so an error never echoes file content."""
    text = str(key)
    return text if isinstance(key, int) or _PLAIN_KEY.match(text) else f"(a key of {len(text)} characters)"


def _message(error: jsonschema.ValidationError) -> str:
    """jsonschema's message without the offending value (it may be a secret): the value is only described."""
    instance = error.instance
    described = (f'"{instance}"' if isinstance(instance, str) and _PLAIN_KEY.match(instance)
                 else f"a text of {len(instance)} characters" if isinstance(instance, str)
                 else f"this {type(instance).__name__}")
    return error.message.replace(repr(instance), described) if repr(instance) in error.message else error.message


def _problems_of(error: jsonschema.ValidationError, marks: Marks) -> list[Problem]:
    error = _specific(error)
    path = tuple(error.absolute_path)
    where = format_path(tuple(_shown(k) for k in path)) if path else "(top level)"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = list(error.schema.get("properties") or {})
        patterns = list(error.schema.get("patternProperties") or {})
        problems = []
        for key in error.instance:
            if key in known or any(type(_validator())({"pattern": p}).is_valid(key) for p in patterns):
                continue
            close = difflib.get_close_matches(key, known, n=1)
            hint = (f'did you mean "{close[0]}"?' if close else f"known keys: {', '.join(sorted(known))}" if known
                    else f"names here must match {' or '.join(patterns)}")
            suffix = f' (did you mean "{close[0]}"?)' if close else ""
            named = f'"{key}"' if _PLAIN_KEY.match(str(key)) else _shown(key)
            problems.append(Problem(f"{_located((*path, key), marks)}{where}", f"unknown key {named}{suffix}",
                                    "" if close else hint))
        return problems
    if error.validator == "type":
        names = _type_names(error.validator_value)
        what = f"must be {'an' if names[0] in 'aeiou' else 'a'} {names}"
    elif error.validator == "required":
        what = error.message.replace(" is a required property", "") + " is required"
    elif error.validator == "enum":
        what = f"must be one of {', '.join(json.dumps(v) for v in error.validator_value)}"
    elif error.validator == "uniqueItems":
        what = "has duplicate items"
    else:
        what = _message(error)
    return [Problem(f"{_located(path, marks)}{where}", what, "see the Compose Specification for this key")]


def schema_problems(tree: dict, marks: Marks) -> list[Problem]:
    """Every way `tree` breaks the compose schema, in document order of the paths."""
    errors = sorted(_validator().iter_errors(tree), key=lambda e: [str(p) for p in e.absolute_path])
    return [p for error in errors for p in _problems_of(error, marks)]


def _external_conflict(value: dict) -> str | None:
    if value.get("external") is not True:
        return None
    for field in value:
        if field not in ("name", "external") and not field.startswith("x-"):
            return f'conflicting parameters "external" and "{field}" specified'
    return None


def _file_object(value: dict, fields: tuple[str, ...]) -> str | None:
    count = sum(f in value for f in fields)
    if count > 1:
        return f"{'|'.join(fields)} attributes are mutually exclusive"
    if count == 0 and "driver" not in value and "external" not in value:
        return f"one of {'|'.join(fields)} must be set"
    return None


def model_problems(tree: dict, marks: Marks) -> list[Problem]:
    """compose-go `validation.Validate` on the merged model (before profiles are applied)."""
    found: list[tuple[tuple, str]] = []
    for kind, fields in (("volumes", None), ("configs", ("file", "environment", "content")),
                         ("secrets", ("file", "environment"))):
        for key, value in (tree.get(kind) or {}).items():
            if not isinstance(value, dict):
                continue
            problem = _external_conflict(value) if fields is None else _file_object(value, fields)
            if problem:
                found.append(((kind, key), problem))
    for name, service in (tree.get("services") or {}).items():
        devices = (((service or {}).get("deploy") or {}).get("resources") or {}).get("reservations") or {}
        for i, device in enumerate(devices.get("devices") or [] if isinstance(devices, dict) else []):
            if isinstance(device, dict) and "count" in device and "device_ids" in device:
                path = ("services", name, "deploy", "resources", "reservations", "devices", i)
                found.append((path, '"count" and "device_ids" attributes are exclusive'))
    return [Problem(f"{_located(path, marks)}{format_path(path)}", what, "see the Compose Specification for this key")
            for path, what in found]
