"""Medians, spreads, the tables, the goals, the cost curve (slope and SVG plot), and bench/RESULTS.md."""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence

from bench.tools import CURVE_ENV, ENV, Sample

TOOLS = ("gantry", "gantry (max_parallel 10)", "ssh loop", "ansible", "ansible (pipelining)", "floor", "ssh true")
KINDS = ("changed", "no-change", "connect")
STEPS = ("connect", "facts", "lock", "upload", "up", "health", "switch", "finish")
BASELINE = "floor"
CURVE_TOOLS = ("gantry", "gantry (max_parallel 10)", "ssh loop", "floor")
COLOURS = {"gantry": "#1f77b4", "gantry (max_parallel 10)": "#9467bd", "ssh loop": "#ff7f0e", "floor": "#2ca02c"}


def _of(samples: Iterable[Sample], env: str) -> list[Sample]:
    return [s for s in samples if s.env == env]


def _groups(samples: Iterable[Sample]) -> dict[tuple[str, int, str], list[float]]:
    out: dict[tuple[str, int, str], list[float]] = defaultdict(list)
    for s in samples:
        out[(s.tool, s.hosts, s.kind)].append(s.seconds)
    return out


def medians(samples: Iterable[Sample]) -> dict[tuple[str, int, str], float]:
    return {k: statistics.median(v) for k, v in _groups(samples).items()}


def results_table(samples: Sequence[Sample], env: str = ENV) -> str:
    """tool × hosts × change: median wall time, spread, ratio to the floor and to the plain ssh loop."""
    samples = _of(samples, env)
    groups = _groups(samples)
    med = medians(samples)
    rows = ["| tool | hosts | deploy | median s | min–max s | runs | × floor | × ssh loop |",
            "|---|---:|---|---:|---:|---:|---:|---:|"]
    for n in sorted({s.hosts for s in samples}):
        for kind in KINDS:
            for tool in TOOLS:
                values = groups.get((tool, n, kind))
                if not values:
                    continue
                m = med[(tool, n, kind)]
                ratios = [f"{m / base:.2f}" if base else "–" for base in
                          (med.get((BASELINE, n, kind)), med.get(("ssh loop", n, kind)))]
                rows.append(f"| {tool} | {n} | {kind} | {m:.2f} | {min(values):.2f}–{max(values):.2f} | "
                            f"{len(values)} | {ratios[0]} | {ratios[1]} |")
    return "\n".join(rows)


def issue_table(samples: Sequence[Sample]) -> str:
    """The issue's table, re-measured: medians in seconds."""
    med = medians(_of(samples, ENV))
    cols = ("gantry", "ssh loop", "floor", "ansible (pipelining)", "ansible")
    rows = ["| hosts | deploy | Gantry | plain ssh loop (scp + `up -d --wait`) | in-host `up -d --wait` (the floor) "
            "| Ansible `docker_compose_v2` + pipelining | Ansible, no pipelining |",
            "|---|---|---:|---:|---:|---:|---:|"]
    for kind in ("changed", "no-change"):
        for n in sorted({k[1] for k in med}):
            cells = [f"{med[(t, n, kind)]:.2f}" if (t, n, kind) in med else "–" for t in cols]
            if any(c != "–" for c in cells):
                rows.append(f"| {n} | {kind.replace('-', ' ')} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def parts_table(samples: Sequence[Sample], startup: Sequence[float], env: str = ENV) -> str:
    """Gantry's steps per host (median over hosts and runs; slowest host in brackets), and local time."""
    samples = _of(samples, env)
    rows = ["| hosts | deploy | " + " | ".join(STEPS) + " | local (wall − slowest host) | local CPU s |",
            "|---:|---|" + "---:|" * (len(STEPS) + 2)]
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
            cpu = [s.cpu for s in runs if s.cpu]
            rows.append(f"| {n} | {kind} | " + " | ".join(cells) + f" | {local:.2f} | "
                        + (f"{statistics.median(cpu):.2f} |" if cpu else "– |"))
    note = (f"\n\n`inv --list` (interpreter + imports + Invoke start): median {statistics.median(startup):.2f} s "
            f"over {len(startup)} runs." if startup else "")
    return "\n".join(rows) + note


def timeline_table(samples: Sequence[Sample]) -> str:
    """One changed deploy at 1 host, step by step: median start and end over the runs (s from its start)."""
    runs = [s for s in _of(samples, ENV) if s.tool == "gantry" and s.hosts == 1 and s.kind == "changed"
            and s.timeline]
    if not runs:
        return "(no timeline: run the table part)"
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    order: list[str] = []
    for s in runs:
        for span in s.timeline:
            step = re.sub(r" \(poll \d+\)$", "", span["step"])  # which poll it was differs between runs
            if step not in spans:
                order.append(step)
            spans[step].append((span["start"], span["end"]))
    rows = ["| step | start s | end s | took s |", "|---|---:|---:|---:|"]
    for step in order:
        start = statistics.median(a for a, _ in spans[step])
        end = statistics.median(b for _, b in spans[step])
        rows.append(f"| {step} | {start:.3f} | {end:.3f} | {end - start:.3f} |")
    wall = statistics.median(s.seconds for s in runs)
    return "\n".join(rows) + (f"\n\nWall time of the whole command (interpreter start to exit): median {wall:.2f} s; "
                              "the spans start when the deploy task starts.")


def goals(samples: Sequence[Sample]) -> list[tuple[str, str, bool | None]]:
    """The issue's goals: (goal, measured, met); met is None when the rows it needs were not run."""
    med = medians(_of(samples, ENV))
    out: list[tuple[str, str, bool | None]] = []

    def ratio(goal: str, a: float | None, b: float | None, ok) -> None:
        if a and b:
            out.append((goal, f"{a / b:.2f}× ({a:.2f} s vs {b:.2f} s)", ok(a / b)))
        else:
            out.append((goal, "not measured", None))

    for n in (1, 10):
        ratio(f"changed deploy ≤ 1.1× the in-host floor at {n} host(s)", med.get(("gantry", n, "changed")),
              med.get(("floor", n, "changed")), lambda r: r <= 1.1)
    for n, times in ((1, 2), (10, 3)):
        ratio(f"≥ {times}× faster than Ansible + pipelining at {n} host(s) (changed)",
              med.get(("ansible (pipelining)", n, "changed")), med.get(("gantry", n, "changed")),
              lambda r, t=times: r >= t)
    gn = med.get(("gantry", 10, "no-change"))
    out.append(("no-change ≤ 0.6 s at 10 hosts", f"{gn:.2f} s" if gn else "not measured",
                None if gn is None else gn <= 0.6))
    return out


def targets_text(samples: Sequence[Sample]) -> str:
    lines = ["| goal | measured | met |", "|---|---|---|"]
    for what, measured, met in goals(samples):
        lines.append(f"| {what} | {measured} | {'yes' if met else 'NO' if met is False else '–'} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- the cost curve


def curve_points(samples: Sequence[Sample]) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """(tool, kind) -> [(hosts, median seconds)] for the curve's app."""
    med = medians(_of(samples, CURVE_ENV))
    out: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    for (tool, n, kind), m in sorted(med.items(), key=lambda kv: kv[0][1]):
        out[(tool, kind)].append((n, m))
    return out


def slope(points: Sequence[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares line through the points: (seconds per extra host, intercept)."""
    if len(points) < 2:
        return 0.0, points[0][1] if points else 0.0
    fit = statistics.linear_regression([float(n) for n, _ in points], [m for _, m in points])
    return fit.slope, fit.intercept


def curve_table(samples: Sequence[Sample]) -> str:
    points = curve_points(samples)
    counts = sorted({n for pts in points.values() for n, _ in pts})
    if not counts:
        return "(no curve: run the curve part)"
    rows = ["| tool | deploy | " + " | ".join(f"{n} host(s)" for n in counts) + " | slope s/host | intercept s |",
            "|---|---|" + "---:|" * (len(counts) + 2)]
    for kind in ("changed", "no-change", "connect"):
        for tool in (*CURVE_TOOLS, "ssh true"):
            pts = dict(points.get((tool, kind), []))
            if not pts:
                continue
            a, b = slope(sorted(pts.items()))
            rows.append(f"| {tool} | {kind} | " + " | ".join(f"{pts[n]:.2f}" if n in pts else "–" for n in counts)
                        + f" | {a:.3f} | {b:.2f} |")
    return "\n".join(rows)


def curve_svg(samples: Sequence[Sample], width: int = 720, height: int = 420) -> str:
    """Time against hosts for Gantry, the plain loop and the floor (solid: changed, dashed: no-change)."""
    points = {k: v for k, v in curve_points(samples).items() if k[0] in CURVE_TOOLS}
    if not points:
        return ""
    left, right, top, bottom = 60, 270, 30, 50
    xmax = max(n for pts in points.values() for n, _ in pts)
    ymax = max(m for pts in points.values() for _, m in pts) * 1.1
    step = _nice_step(ymax)

    def x(n: float) -> float:
        return left + (width - left - right) * n / xmax

    def y(v: float) -> float:
        return height - bottom - (height - top - bottom) * v / ymax

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="18" font-size="14">Deploy time against hosts (bench-light app, 2-core lab)</text>']
    tick = 0.0
    while tick <= ymax:
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:g}</text>')
        tick += step
    counts = sorted({n for pts in points.values() for n, _ in pts})
    for n in counts:
        out.append(f'<text x="{x(n):.1f}" y="{height - bottom + 16}" text-anchor="middle">{n}</text>')
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="black"/>')
    out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{y(0):.1f}" stroke="black"/>')
    out.append(f'<text x="{(left + width - right) / 2:.0f}" y="{height - 12}" text-anchor="middle">hosts</text>')
    out.append(f'<text x="16" y="{(top + height - bottom) / 2:.0f}" transform="rotate(-90 16 '
               f'{(top + height - bottom) / 2:.0f})" text-anchor="middle">seconds (median)</text>')
    legend_y = top + 10
    for (tool, kind), pts in sorted(points.items()):
        colour = COLOURS[tool]
        dash = ' stroke-dasharray="6 4"' if kind == "no-change" else ""
        path = " ".join(f"{x(n):.1f},{y(m):.1f}" for n, m in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        out += [f'<circle cx="{x(n):.1f}" cy="{y(m):.1f}" r="3" fill="{colour}"/>' for n, m in pts]
        a, _ = slope(pts)
        out.append(f'<line x1="{width - right + 10}" x2="{width - right + 34}" y1="{legend_y}" y2="{legend_y}" '
                   f'stroke="{colour}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{width - right + 40}" y="{legend_y + 4}">{tool}, {kind} ({a:.2f} s/host)</text>')
        legend_y += 18
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _nice_step(span: float) -> float:
    for s in (0.5, 1, 2, 5, 10, 20, 50, 100):
        if span / s <= 8:
            return float(s)
    return 200.0


def results_md(samples: Sequence[Sample], startup: Sequence[float], machine: dict[str, str], *, date: str,
               command: str, notes: str = "") -> str:
    machine_lines = "\n".join(f"- {k}: {v}" for k, v in machine.items())
    return f"""# Benchmark: Gantry against the in-host floor, a plain ssh loop and Ansible; a cost curve to 50 hosts

Written by `{command}` on {date}. Re-run it to refresh this file (the Notes section at the end is kept).
The raw samples are in `bench/samples.json`, the plot in `bench/curve.svg`.

## Machine

{machine_lines}

The hosts are lab hosts on this one machine (`gantry.lab`: a network + mount namespace each, with its own
sshd and Docker Engine, and its own clean `/root`, as lean as a server's shell), so every host shares the
machine's CPUs: many hosts starting containers at once compete for the same cores, which a real fleet would not.
Other engineers' labs and tests ran on the same 2 cores; the load averages above say how busy it was.

## What is measured

Every row deploys the same release (`inv render --env bench --out DIR`: the same compose.yaml and .env that
Gantry uploads) of the bench app (`bench/compose/app.yml`, the anchors' shape: `web` with an HTTP health
check every second, `worker` with none, both `init: true`) and waits until it is up. *changed* changes
`APP_VERSION` (both containers are recreated); *no-change* deploys the same values again. Before each tool,
every container on every host is removed and the tool deploys once untimed, so each timed run starts from that
tool's own running release. Wall time of the whole command, from this machine, except the floor.

- **gantry**: `inv deploy --env bench --yes --quiet --json` (environments/bench.yml: Gantry's shipped defaults
  for `health` and `rollout`).
- **ssh loop**: bench/ssh-loop.sh: per host in parallel, `scp` compose.yaml and .env, then
  `ssh host docker compose … up -d --wait`. A new ssh connection for each of the two commands.
- **floor**: `docker compose up -d --wait` alone, started on every host at once (over already-open ssh
  connections) and timed *on the host* with `date` around it, the release already there: from the first host's
  start to the last host's end (the lab's hosts share one clock). No ssh, no local process start.
- **ansible**: `ansible-playbook bench/playbook.yml` (file, copy ×2, `community.docker.docker_compose_v2`
  with `state: present`, `wait: true`), forks = hosts, `gather_facts: false`, Ansible's default
  ControlPersist; with and without `ANSIBLE_PIPELINING=True`.
- **ssh true**: `ssh host true` to every host at once (a bare connection each).

## The issue's table, re-measured (medians, seconds)

{issue_table(samples)}

## Results

{results_table(samples)}

## Gantry's steps per host (seconds)

Median over hosts and runs; in brackets the median over runs of the slowest host.

{parts_table(samples, startup)}

## Timeline of one changed deploy at 1 host (`inv deploy --verbose` prints it)

{timeline_table(samples)}

## Goals (issue 15)

{targets_text(samples)}

Each ratio divides medians as measured; rows measured under different machine loads (see the Notes) do not
compare. Why each goal is met or not, with what was measured to tell: the Notes, one paragraph per goal.

## Cost curve: 1 to 50 hosts (`bench-light`: web's health check every 5 s)

![deploy time against hosts](curve.svg)

{curve_table(samples)}

The slope is a least-squares line through the medians (seconds per extra host).

{results_table(samples, CURVE_ENV)}

Gantry's steps per host on the curve:

{parts_table(samples, (), CURVE_ENV)}
{notes}"""
