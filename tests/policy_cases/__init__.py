"""Shared helpers for the policy tests: build a one-service model, run the check, pick one rule."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
from pathlib import Path

import yaml

from gantry.policy import PolicyReport, PolicySettings, check_policy

TODAY = datetime.date(2026, 3, 1)
REPO = Path(__file__).resolve().parents[2]
HAVE_COMPOSE = shutil.which("docker") is not None and subprocess.run(
    ["docker", "compose", "version"], capture_output=True, check=False
).returncode == 0


def run(service: str | dict, *, top: str | dict | None = None, raw: str | dict | None = None,
        image_facts: dict | None = None, **settings) -> PolicyReport:
    """Check a model with one service `s` (YAML or dict); `raw` defaults to the same service."""
    svc = yaml.safe_load(service) if isinstance(service, str) else service
    extra = (yaml.safe_load(top) if isinstance(top, str) else top) or {}
    raw_svc = svc if raw is None else (yaml.safe_load(raw) if isinstance(raw, str) else raw)
    model = {"services": {"s": svc}, **extra}
    return check_policy(model, {"services": {"s": raw_svc}}, PolicySettings(**settings),
                        today=TODAY, image_facts=image_facts)


def fired(rule: str, service: str | dict, **kwargs) -> list[tuple[str, str]]:
    """(path without `services.s.`, severity) for each finding of `rule`."""
    return [(f.path.removeprefix("services.s."), f.severity) for f in run(service, **kwargs).findings
            if f.rule == rule]


def compose_config(files: list[Path], *, env: dict[str, str] | None = None, interpolate: bool = True) -> dict:
    """`docker compose -f ... config --format json` (tests only: the policy package never runs it)."""
    args = ["docker", "compose"]
    for f in files:
        args += ["-f", str(f)]
    args += ["config", "--format", "json"] + ([] if interpolate else ["--no-interpolate"])
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    full_env.update(env or {})
    out = subprocess.run(args, capture_output=True, text=True, env=full_env, check=True, cwd=files[0].parent)
    return json.loads(out.stdout)


# A service that passes every prod rule: tests add one bad setting to it.
HARDENED = {
    "image": "registry.example.com/app:1.0@sha256:" + "0" * 64,
    "user": "65534:65534",
    "read_only": True,
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges:true"],
    "restart": "on-failure:3",
    "healthcheck": {"test": ["CMD", "true"]},
    "logging": {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}},
    "deploy": {"resources": {"limits": {"cpus": "0.5", "memory": "67108864", "pids": 64}}},
}
