"""Parsers of the day-2 reads' output (status, releases, drift, diagnose): pure, like facts.py beside it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from gantry.engines.hosts.commands import MARK, RELEASE_FILES, Layout


def damaged_releases(find_lines: Sequence[str], layout: Layout, releases: Sequence[str]) -> dict[str, list[str]]:
    """Kept releases missing one of their files, with the missing names, from `release_files` output."""
    have: dict[str, set[str]] = {rid: set() for rid in releases}
    for line in find_lines:
        rid, _, name = line.strip().removeprefix(layout.releases + "/").partition("/")
        if rid in have:
            have[rid].add(name)
    return {rid: [f for f in RELEASE_FILES if f not in files] for rid, files in have.items()
            if not set(RELEASE_FILES) <= files}


def audit_part(text: str) -> str:
    """The audit log part of `read_releases` output (what follows its `audit` marker)."""
    return text.split(f"{MARK}audit", 1)[-1]


def live_compose(sections: Mapping[str, list[str]]) -> str:
    """The live release's compose.yaml text from a read with the `live-compose` section ('' when missing)."""
    return "".join(f"{x}\n" for x in sections.get("live-compose", []))


def live_files(sections: Mapping[str, list[str]]) -> tuple[str, dict]:
    """The live release's compose.yaml text and manifest ({} when missing or unreadable) from `read_live`."""
    try:
        manifest = json.loads("\n".join(sections.get("live-manifest", [])) or "{}")
    except ValueError:
        manifest = {}
    return live_compose(sections), manifest if isinstance(manifest, dict) else {}


def parse_health_log(text: str) -> list[Mapping]:
    """The last three health-check results from `inspect_health` output ("<name> <state json>")."""
    _, _, state = text.partition(" ")
    try:
        data = json.loads(state)
    except ValueError:
        return []
    return list(((data or {}).get("Health") or {}).get("Log") or [])[-3:]
