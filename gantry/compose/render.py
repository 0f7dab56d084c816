"""Render a ComposeModel: YAML for the release bundle, or the output of `docker compose config`.

Values: `$` is written `$$` (the host's compose interpolates again) and kept variables `${NAME}`.
Keys are never interpolated, so the bundle writes them as they are: it loads back with the same
meaning. `docker compose config` escapes keys too (its output then loads with other keys);
`like_binary=True` reproduces that, for `inv compose.config`.
"""

from __future__ import annotations

import json

import yaml

from gantry.compose.interpolate import SENTINEL_RE
from gantry.yamlio import YamlTimestamp, resolve_plain


def _escape(value: object, keys: bool) -> object:
    if isinstance(value, dict):
        return {(_escape(key, False) if keys else key): _escape(item, keys) for key, item in value.items()}
    if isinstance(value, list):
        return [_escape(item, keys) for item in value]
    if isinstance(value, str):
        return SENTINEL_RE.sub(r"${\1}", value.replace("$", "$$"))
    return value


class _Dumper(yaml.SafeDumper):
    pass


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    typed = resolve_plain(value)
    ambiguous = not isinstance(typed, str) or isinstance(typed, YamlTimestamp)
    style = '"' if ambiguous else ("|" if "\n" in value else None)
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _tree(model, like_binary: bool) -> object:
    return _escape(model.data, like_binary) if model.interpolated else model.data


def render_yaml(model, *, like_binary: bool = False) -> str:
    """The model as YAML that `docker compose` loads back to the same project (byte-stable)."""
    return yaml.dump(_tree(model, like_binary), Dumper=_Dumper, sort_keys=True, default_flow_style=False,
                     allow_unicode=True, width=1 << 16)


def render_json(model, *, like_binary: bool = True) -> str:
    """The model as `docker compose config --format json` prints it."""
    return json.dumps(_tree(model, like_binary), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
