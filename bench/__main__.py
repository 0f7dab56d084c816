"""`python -m bench`: Gantry against the in-host floor, a plain ssh loop and Ansible, and a cost curve to 50 hosts.

Brings up the lab (waiting while another project's lab is up), then for each host count deploys the
same release with every tool, several runs of a changed and of a no-change deploy each, and prints the
table (median, spread, ratio to the floor). Then the cost curve: the lighter app (bench-light) at 1, 10, 25
and 50 hosts, Gantry, the plain loop and the floor, with a plot (bench/curve.svg) and the slope.
`--smoke`: 1 host, 1 run, Gantry and the ssh loop only, no curve.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import secrets
import shutil
import sys
import time
from pathlib import Path

from bench import fleet, report, tools
from bench.tools import BenchError, Sample, Setup
from gantry.lab.model import requested_net

REPO = Path(__file__).resolve().parent.parent
SECRET_NAMES = ("DB_PASSWORD", "API_TOKEN")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="1 host, 1 run, gantry + ssh loop (for CI)")
    p.add_argument("--hosts", default="1,10", help="host counts of the table, comma separated (default 1,10)")
    p.add_argument("--runs", type=int, default=5, help="timed runs per tool, host count and kind (default 5)")
    p.add_argument("--curve-hosts", default="1,10,25,50", help="host counts of the cost curve (default 1,10,25,50)")
    p.add_argument("--curve-runs", type=int, default=2, help="timed runs per point of the curve (default 2)")
    p.add_argument("--only", choices=("table", "curve"), help="measure only the table or only the curve (at its "
                   "--hosts or --curve-hosts); every other row is read back from bench/samples.json")
    p.add_argument("--root", default=str(REPO), help="project root holding tasks.py (default: this repo)")
    p.add_argument("--ansible-runs", type=int, default=2, help="timed runs per Ansible row (default 2: it is slow)")
    p.add_argument("--ansible", help="ansible-playbook to use (default: on PATH or in .gantry/bench/ansible-venv)")
    p.add_argument("--no-ansible", action="store_true", help="skip the Ansible rows")
    p.add_argument("--lab-wait", type=float, default=900, help="wait this long for another project's lab (s)")
    p.add_argument("--out", help="write the results here (default bench/RESULTS.md; none with --smoke)")
    args = p.parse_args(argv)
    if args.smoke:
        args.hosts, args.runs, args.no_ansible, args.only = "1", 1, True, "table"
    return args


def find_ansible(root: Path, given: str | None) -> str | None:
    for candidate in (given, shutil.which("ansible-playbook"),
                      str(root / ".gantry/bench/ansible-venv/bin/ansible-playbook")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def write_secrets(root: Path) -> None:
    """secrets.bench.env with random values (git-ignored, 0600), unless it is there already."""
    path = root / "secrets.bench.env"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("".join(f"{name}={secrets.token_urlsafe(18)}\n" for name in SECRET_NAMES))
    path.chmod(0o600)


def record(samples: list[Sample], sample: Sample) -> Sample:
    samples.append(sample)
    fleet.log(f"{sample.tool:<20} {sample.hosts:>2} host(s) {sample.kind:<9} {sample.seconds:6.2f} s")
    return sample


def bench_hosts(setup: Setup, releases: list[Path], runs: int, ansible_runs: int, smoke: bool,
                samples: list[Sample]) -> None:
    """Every tool on the current lab: an untimed first deploy, then `runs` × (changed, no-change).

    The curve (setup.env bench-light) has no Ansible rows: Gantry, the plain loop, the floor, `ssh true`."""
    versions = [p.name for p in releases]
    fleet.clear_containers(setup.lab)
    tools.gantry(setup, versions[0], "warm-up")
    for k in range(1, runs + 1):
        record(samples, tools.gantry(setup, versions[k], "changed"))
        record(samples, tools.gantry(setup, versions[k], "no-change"))

    if setup.env == tools.CURVE_ENV and setup.count > 10:  # beyond 10 hosts: ten at a time too
        fleet.clear_containers(setup.lab)
        tools.gantry(setup, versions[0], "warm-up", env=tools.NARROW_ENV)
        for k in range(1, runs + 1):
            record(samples, tools.gantry(setup, versions[k], "changed", tool=tools.NARROW_TOOL, env=tools.NARROW_ENV))
            record(samples, tools.gantry(setup, versions[k], "no-change", tool=tools.NARROW_TOOL, env=tools.NARROW_ENV))

    fleet.clear_containers(setup.lab)
    tools.prepare_ssh(setup)
    tools.ssh_loop(setup, releases[0], "warm-up")
    for k in range(1, runs + 1):
        record(samples, tools.ssh_loop(setup, releases[k], "changed"))
        record(samples, tools.ssh_loop(setup, releases[k], "no-change"))
    if smoke:
        return
    with tools.Masters(setup) as masters:  # the hosts run releases[runs]; go back and forth from there
        for k in range(runs):
            masters.upload(releases[k])
            record(samples, masters.up("changed"))
            record(samples, masters.up("no-change"))
    for _ in range(runs):
        record(samples, tools.ssh_true(setup))

    if setup.ansible and setup.env == tools.ENV:
        fleet.clear_containers(setup.lab)
        tools.write_inventory(setup)
        tools.ansible(setup, releases[0], "warm-up", pipelining=False)
        # 1..n without pipelining, then n-1..0 with: each run changes from the one before, no second warm-up
        for pipelining, order in ((False, range(1, ansible_runs + 1)), (True, range(ansible_runs - 1, -1, -1))):
            for k in order:
                record(samples, tools.ansible(setup, releases[k], "changed", pipelining=pipelining))
                record(samples, tools.ansible(setup, releases[k], "no-change", pipelining=pipelining))
    fleet.clear_containers(setup.lab)


def kept_notes(path: Path) -> str:
    try:
        text = path.read_text()
    except OSError:
        return ""
    at = text.find("\n## Notes")
    return text[at:] if at >= 0 else ""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(args.root).resolve()
    counts = [int(n) for n in args.hosts.split(",")]
    work = root / ".gantry" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    write_secrets(root)
    ansible = None if args.no_ansible else find_ansible(root, args.ansible)
    if not args.no_ansible and not ansible:
        fleet.log("ansible-playbook not found: no Ansible rows "
                  "(python3 -m venv .gantry/bench/ansible-venv && .gantry/bench/ansible-venv/bin/pip install ansible)")
    inv = tools.inv_command()
    registry = requested_net().registry  # this lab slot's registry (the env files name slot 0's)
    stamp = datetime.datetime.now().strftime("%H%M%S")
    parts = [("table", tools.ENV, counts, args.runs), ("curve", tools.CURVE_ENV,
                                                       [int(n) for n in args.curve_hosts.split(",")], args.curve_runs)]
    parts = [p for p in parts if args.only in (None, p[0])]
    releases: dict[str, list[Path]] = {}
    for _, env, _, runs in parts:  # offline, before the lab is taken
        releases[env] = [work / "releases" / f"{env}-{stamp}-{k}" for k in range(runs + 1)]
        for rel in releases[env]:
            tools.render(root, inv, rel.name.replace(f"{env}-", "b"), rel, env=env, registry=registry)
    startup = [] if args.smoke else [tools.inv_startup(root, inv) for _ in range(3)]

    store = REPO / "bench" / "samples.json"
    measured = {(env, n) for _, env, host_counts, _ in parts for n in host_counts}
    samples: list[Sample] = [] if args.smoke or not args.only else [  # rows this run does not measure again
        s for s in load_samples(store) if (s.env, s.hosts) not in measured or (s.tool.startswith("ansible")
                                                                             and not ansible)]
    hold = fleet.LabHold(root, args.lab_wait)
    started = time.monotonic()
    machine: dict[str, str] = {}
    try:
        for name, env, host_counts, runs in parts:
            for n in host_counts:
                lab = hold.resize(n)
                setup = Setup(root, work, lab, inv, ansible, env, registry)
                if not machine:
                    machine = fleet.describe_machine(lab, ansible)
                fleet.log(f"{name}: {n} host(s), load {fleet.load()}")
                bench_hosts(setup, releases[env], runs, min(args.ansible_runs, runs), args.smoke, samples)
                if not args.smoke:
                    save_samples(store, samples)
    except BenchError as exc:
        fleet.log(f"FAILED: {exc}")
        return 1
    finally:
        hold.release()
        shutil.rmtree(work / "releases", ignore_errors=True)
        shutil.rmtree(f"/tmp/gantry-bench-cp-{os.getpid()}", ignore_errors=True)
    fleet.log(f"done in {time.monotonic() - started:.0f} s, load {fleet.load()}")
    machine["load average at end"] = fleet.load()

    print(report.results_table(samples))
    if not args.smoke:
        print()
        print(report.parts_table(samples, startup))
        print()
        print(report.targets_text(samples))
    out = Path(args.out) if args.out else (None if args.smoke else REPO / "bench" / "RESULTS.md")
    if out:
        date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
        svg = report.curve_svg(samples)
        if svg:
            (out.parent / "curve.svg").write_text(svg)
        out.write_text(report.results_md(samples, startup, machine, date=date, command=command.strip(),
                                         notes=kept_notes(out)))
        fleet.log(f"results written to {out}")
    return 0


def save_samples(path: Path, samples: list[Sample]) -> None:
    path.write_text(json.dumps([tools.sample_to_json(s) for s in samples], indent=1) + "\n")


def load_samples(path: Path) -> list[Sample]:
    """The samples of an earlier run (with --only, those of the rows not measured again are kept)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [tools.sample_from_json(d) for d in data]


if __name__ == "__main__":
    sys.exit(main())
