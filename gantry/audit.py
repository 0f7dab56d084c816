"""Audit records: one JSON object per deploy or rollback per host, appended to deploys.jsonl."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class AuditRecord:
    event: str  # deploy | rollback
    environment: str
    project: str
    release: str
    previous: str
    outcome: str  # deployed | unchanged | rolled-back | failed | interrupted | rolled-back-fleet
    who: str
    origin: str  # the machine the deploy ran from
    git_commit: str
    started: str
    ended: str
    failing_service: str = ""
    detail: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


def merge_histories(per_host: Mapping[str, Iterable[Mapping]], *, limit: int = 0) -> list[dict]:
    """All hosts' records, newest first, each tagged with its host."""
    rows = [dict(rec, host=host) for host, recs in per_host.items() for rec in recs]
    rows.sort(key=lambda r: (str(r.get("started", "")), r["host"]), reverse=True)
    return rows[:limit] if limit > 0 else rows
