"""Medians, spreads, the results table, the parts table, the targets, and bench/RESULTS.md."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence

from bench.tools import Sample

TOOLS = ("gantry", "ssh loop", "ansible", "ansible (pipelining)", "floor", "ssh true")
KINDS = ("changed", "no-change", "connect")
STEPS = ("connect", "lock", "upload", "pull", "up", "health", "finish")
BASELINE = "ssh loop"


def _groups(samples: Iterable[Sample]) -> dict[tuple[str, int, str], list[float]]:
    out: dict[tuple[str, int, str], list[float]] = defaultdict(list)
    for s in samples:
        out[(s.tool, s.hosts, s.kind)].append(s.seconds)
    return out


def medians(samples: Iterable[Sample]) -> dict[tuple[str, int, str], float]:
    return {k: statistics.median(v) for k, v in _groups(samples).items()}


def results_table(samples: Sequence[Sample]) -> str:
    """tool × hosts × change: median wall time, spread, ratio to the plain ssh loop."""
    groups = _groups(samples)
    med = medians(samples)
    rows = ["| tool | hosts | deploy | median s | min–max s | runs | × ssh loop |",
            "|---|---:|---|---:|---:|---:|---:|"]
    counts = sorted({s.hosts for s in samples})
    for n in counts:
        for kind in KINDS:
            for tool in TOOLS:
                values = groups.get((tool, n, kind))
                if not values:
                    continue
                base = med.get((BASELINE, n, kind))
                ratio = f"{med[(tool, n, kind)] / base:.2f}" if base else "–"
                rows.append(f"| {tool} | {n} | {kind} | {med[(tool, n, kind)]:.2f} | "
                            f"{min(values):.2f}–{max(values):.2f} | {len(values)} | {ratio} |")
    return "\n".join(rows)


def parts_table(samples: Sequence[Sample], startup: Sequence[float]) -> str:
    """Gantry's steps per host (median over hosts and runs; slowest host in brackets), and local time."""
    rows = ["| hosts | deploy | " + " | ".join(STEPS) + " | local (wall − slowest host) |",
            "|---:|---|" + "---:|" * (len(STEPS) + 1)]
    for n in sorted({s.hosts for s in samples if s.tool == "gantry"}):
        for kind in ("changed", "no-change"):
            runs = [s for s in samples if s.tool == "gantry" and s.hosts == n and s.kind == kind]
            if not runs:
                continue
            cells = []
            for step in STEPS:
                per_host = [h.get(step, 0.0) for s in runs for h in s.steps]
                slowest = [max((h.get(step, 0.0) for h in s.steps), default=0.0) for s in runs]
                cells.append(f"{statistics.median(per_host):.2f} ({statistics.median(slowest):.2f})"
                             if any(per_host) else "–")
            local = statistics.median([s.seconds - max(s.host_seconds, default=0.0) for s in runs])
            rows.append(f"| {n} | {kind} | " + " | ".join(cells) + f" | {local:.2f} |")
    note = (f"\n\n`inv --list` (interpreter + imports + Invoke start): median {statistics.median(startup):.2f} s "
            f"over {len(startup)} runs." if startup else "")
    return "\n".join(rows) + note


def targets(samples: Sequence[Sample]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met); met is None when the rows it needs were not run."""
    med = medians(samples)
    counts = sorted({s.hosts for s in samples})
    out: list[tuple[str, str, bool | None]] = []
    for n in counts:
        g, b = med.get(("gantry", n, "changed")), med.get((BASELINE, n, "changed"))
        if g and b:
            out.append((f"changed deploy ≤ 1.3× the plain loop at {n} host(s) (aim ≤ 1.0×)",
                        f"{g / b:.2f}× ({g:.2f} s vs {b:.2f} s)", g / b <= 1.3))
    top = max(counts, default=0)
    g = med.get(("gantry", top, "changed"))
    for tool in ("ansible", "ansible (pipelining)"):
        a = med.get((tool, top, "changed"))
        if g and a:
            out.append((f"≥ 2× faster than {tool} at {top} hosts (changed)", f"{a / g:.2f}× ({a:.2f} s vs {g:.2f} s)",
                        a / g >= 2))
        a = med.get((tool, top, "no-change"))
        gn = med.get(("gantry", top, "no-change"))
        if gn and a:
            out.append((f"≥ 2× faster than {tool} at {top} hosts (no-change)",
                        f"{a / gn:.2f}× ({a:.2f} s vs {gn:.2f} s)", a / gn >= 2))
    g1 = med.get(("gantry", 1, "changed"))
    if g and g1 and top > 1:
        out.append((f"{top} hosts ≤ 1.5× the time of 1 host (changed)", f"{g / g1:.2f}× ({g:.2f} s vs {g1:.2f} s)",
                    g / g1 <= 1.5))
    gn = med.get(("gantry", top, "no-change"))
    if gn:
        out.append((f"no-change deploy ≤ 2 s at {top} host(s)", f"{gn:.2f} s", gn <= 2.0))
    return out


def targets_text(samples: Sequence[Sample]) -> str:
    lines = ["| target | measured | met |", "|---|---|---|"]
    for what, measured, met in targets(samples):
        lines.append(f"| {what} | {measured} | {'yes' if met else 'NO' if met is False else '–'} |")
    return "\n".join(lines)


def results_md(samples: Sequence[Sample], startup: Sequence[float], machine: dict[str, str], *, date: str,
               command: str, notes: str = "") -> str:
    machine_lines = "\n".join(f"- {k}: {v}" for k, v in machine.items())
    return f"""# Benchmark: Gantry, Ansible and a plain ssh loop, 1 to 10 hosts

Written by `{command}` on {date}. Re-run it to refresh this file (the Notes section at the end is kept).

## Machine

{machine_lines}

The hosts are lab hosts on this one machine (`gantry.lab`: a network + mount namespace each, with its own
sshd and Docker Engine), so every host shares the machine's CPUs: 10 hosts starting containers at once
compete for the same cores, which a real fleet would not.

## What is measured

Every row deploys the same release (`inv render --env bench --out DIR`: the same compose.yaml and .env that
Gantry uploads) of the example app (web with an HTTP health check, worker with a file health check;
interval 1 s, start period 5 s) and waits until every container is healthy. *changed* changes `APP_VERSION`
(every container is recreated); *no-change* deploys the same values again. Before each tool, every container
on every host is removed and the tool deploys once untimed, so each timed run starts from that tool's own
running release (Ansible's pipelining row goes on from the first row's last release). Wall time of the
whole command, from this machine.

- **gantry**: `inv deploy --env bench --yes --quiet --json` (environments/bench.yml, `health.interval` 0.2 s).
- **ssh loop**: bench/ssh-loop.sh: per host in parallel, `scp` compose.yaml and .env, then
  `ssh host docker compose … up -d --wait`. A new ssh connection for each of the two commands.
- **ansible**: `ansible-playbook bench/playbook.yml` (file, copy ×2, `community.docker.docker_compose_v2`
  with `state: present`, `wait: true`), forks = hosts, `gather_facts: false`, Ansible's default
  ControlPersist; the second row with `ANSIBLE_PIPELINING=True`.
- **floor**: only `docker compose up -d --wait` on every host at once, over already-open ssh connections
  (ControlMaster), the release already on the hosts.
- **ssh true**: `ssh host true` to every host at once (a bare connection each).

## Results

{results_table(samples)}

## Gantry's steps per host (seconds)

Median over hosts and runs; in brackets the median over runs of the slowest host.

{parts_table(samples, startup)}

## Targets (issue 7)

{targets_text(samples)}
{notes}"""
