"""Resource rules: memory/CPU limits and the PIDs limit (reservations are not limits)."""

from __future__ import annotations

from collections.abc import Iterator

from gantry.policy.findings import Hit, ServiceView
from gantry.policy.scalars import as_bytes, as_number, dig


def check(view: ServiceView) -> Iterator[Hit]:
    svc, base = view.service, view.base
    limits = dig(svc, "deploy", "resources", "limits")
    memory = max(as_bytes(svc.get("mem_limit")), as_bytes(dig(limits, "memory")))
    cpus = max(as_number(svc.get("cpus")), as_number(svc.get("cpu_quota")), as_number(dig(limits, "cpus")))
    missing = [name for name, value in (("memory", memory), ("CPU", cpus)) if value <= 0]
    if missing:
        yield Hit("RES-LIMITS-MISSING", f"{base}.deploy.resources.limits",
                  f"no {' and no '.join(missing)} limit")
    pids = max(as_number(svc.get("pids_limit")), as_number(dig(limits, "pids")))
    if pids <= 0:
        yield Hit("RES-PIDS-LIMIT-MISSING", f"{base}.deploy.resources.limits.pids", "no PIDs limit")
