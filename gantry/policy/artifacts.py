"""What should not ship: an SSH server, and development settings (build, debuggers, dev modes)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from gantry.policy.findings import Hit, ServiceView
from gantry.policy.images import parse_image
from gantry.policy.ports import port_bindings
from gantry.policy.scalars import as_bool, command_tokens, environment

_SSH_IMAGE = re.compile(r"(^|[-_.])(openssh-server|sshd)($|[-_.])")
_DEV_FLAG = re.compile(r"^--(reload|debug|inspect)([-=].*)?$")
_ENV_NAMES = ("NODE_ENV", "APP_ENV", "RAILS_ENV")
_DEBUG_NAMES = ("DEBUG", "FLASK_DEBUG")


def check(view: ServiceView) -> Iterator[Hit]:
    yield from _ssh(view)
    yield from _dev(view)


def _ssh(view: ServiceView) -> Iterator[Hit]:
    svc, base = view.service, view.base
    for index in sorted({b.index for b in port_bindings(svc) if b.target == 22}):
        yield Hit("SSH-IN-CONTAINER", f"{base}.ports[{index}]", "container port 22 (SSH) is published")
    for key in ("command", "entrypoint"):
        if any(posixpath.basename(token) == "sshd" for token in command_tokens(svc.get(key))):
            yield Hit("SSH-IN-CONTAINER", f"{base}.{key}", f"{key} runs sshd")
    image = svc.get("image")
    if isinstance(image, str) and image.strip():
        name = parse_image(image).repository.rsplit("/", 1)[-1]
        if _SSH_IMAGE.search(name):
            yield Hit("SSH-IN-CONTAINER", f"{base}.image", f"image {image} is an SSH server image")


def _dev(view: ServiceView) -> Iterator[Hit]:
    svc, base = view.service, view.base
    if svc.get("build") is not None:
        yield Hit("PROD-DEV-ARTIFACTS", f"{base}.build", "build: is set; deploy a prebuilt image")
    for key in ("command", "entrypoint"):
        flags = sorted({t.split("=", 1)[0] for t in command_tokens(svc.get(key)) if _DEV_FLAG.match(t)})
        if flags:
            yield Hit("PROD-DEV-ARTIFACTS", f"{base}.{key}", f"{key} uses {', '.join(flags)}")
    env = environment(svc.get("environment"))
    for name in _ENV_NAMES:
        if str(env.get(name) or "").strip().lower() in ("development", "dev"):
            yield Hit("PROD-DEV-ARTIFACTS", f"{base}.environment.{name}", f"{name} is {env[name]}")
    for name in _DEBUG_NAMES:
        if env.get(name) is not None and as_bool(env[name]):
            yield Hit("PROD-DEV-ARTIFACTS", f"{base}.environment.{name}", f"{name} is {env[name]}")
