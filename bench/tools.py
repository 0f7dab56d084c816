"""One deploy with each tool, timed: Gantry, Ansible (docker_compose_v2), the plain ssh loop, and the parts."""

from __future__ import annotations

import json
import os
import re
import resource
import shlex
import string
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.fleet import on_all, parallel, parallel_out, ssh_options
from gantry.lab import Lab

HERE = Path(__file__).resolve().parent
ENV = "bench"  # environments/bench.yml: the anchors' app at Gantry's defaults; the curve uses bench-light
CURVE_ENV = "bench-light"  # the cost curve's lighter app (web's health check every 5 s)
NARROW_ENV, NARROW_TOOL = "bench-light-p10", "gantry (max_parallel 10)"  # the old default, on the curve
SSH_DIR = "/srv/bench-ssh"
ANSIBLE_DIR = "/srv/bench-ansible"
FLOOR_MARK = "gantry-bench-floor"
UP_WAIT = ("up", "-d", "--remove-orphans", "--wait", "--wait-timeout", "120", "--quiet-pull")
_RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


class BenchError(Exception):
    """A deploy under test failed: the numbers would mean nothing."""


@dataclass(frozen=True)
class Sample:
    tool: str
    hosts: int
    kind: str  # changed | no-change | connect
    seconds: float
    steps: tuple[dict, ...] = ()  # gantry: per host {step: seconds}
    host_seconds: tuple[float, ...] = ()
    timeline: tuple[dict, ...] = ()  # gantry: the first host's spans {step, start, end} (s from the deploy's start)
    env: str = ENV  # which app: bench (the anchors' shape) or bench-light (the cost curve's)
    cpu: float = 0.0  # gantry: local CPU seconds of the whole command (interpreter, imports, threads, ssh)


@dataclass(frozen=True)
class Setup:
    root: Path
    work: Path
    lab: Lab
    inv: tuple[str, ...]
    ansible: str | None = None
    env: str = ENV
    registry: str = ""

    @property
    def count(self) -> int:
        return len(self.lab.hosts)

    @property
    def project(self) -> str:
        """The compose project: Gantry's `<project>-<env>`, which the rendered file names its network after,
        so every tool runs the same project name."""
        return f"gantry-example-{self.env}"

    def environ(self, **extra: str) -> dict[str, str]:
        return clean_env(REGISTRY=self.registry, **extra) if self.registry else clean_env(**extra)


def inv_command() -> tuple[str, ...]:
    """The `inv` next to this Python (skips a version manager's shim, which is not part of Gantry)."""
    beside = Path(sys.executable).with_name("inv")
    return (str(beside),) if beside.exists() else (sys.executable, "-m", "invoke")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the app's variables, and without PYTHONDONTWRITEBYTECODE: an
    installed Gantry has its bytecode cached, and compiling every module on each run costs ~0.2 s of CPU."""
    env = {k: v for k, v in os.environ.items() if k not in ("APP_VERSION", "FAIL_HEALTH", "PYTHONDONTWRITEBYTECODE")}
    return {**env, "NO_COLOR": "1", **extra}


def _tail(text: str, lines: int = 8) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


def render(root: Path, inv: tuple[str, ...], version: str, dest: Path, *, env: str = ENV, registry: str = "") -> None:
    """The release Gantry would deploy (compose.yaml, .env), for the other tools to copy."""
    extra = {"REGISTRY": registry} if registry else {}
    proc = subprocess.run([*inv, "render", "--env", env, "--out", str(dest)], cwd=root,
                          capture_output=True, text=True, env=clean_env(APP_VERSION=version, **extra), timeout=120)
    if proc.returncode != 0:
        raise BenchError(f"inv render failed (exit {proc.returncode}): {_tail(proc.stderr)}")


# ---------------------------------------------------------------- gantry


def gantry(setup: Setup, version: str, kind: str, *, tool: str = "gantry", env: str = "") -> Sample:
    """`inv deploy --env bench --yes --quiet --json` with APP_VERSION from the process environment."""
    argv = [*setup.inv, "deploy", "--env", env or setup.env, "--yes", "--quiet", "--json"]
    cpu0 = _children_cpu()
    t0 = time.monotonic()
    proc = subprocess.run(argv, cwd=setup.root, capture_output=True, text=True,
                          env=setup.environ(APP_VERSION=version), timeout=600)
    took = time.monotonic() - t0
    cpu = _children_cpu() - cpu0
    if proc.returncode != 0:
        raise BenchError(f"gantry deploy failed (exit {proc.returncode}): {_tail(proc.stderr)}")
    doc = json.loads(proc.stdout)
    want = {"changed": "ok", "no-change": "unchanged"}.get(kind)
    if want and doc["outcome"] != want:
        raise BenchError(f"gantry {kind} deploy: outcome {doc['outcome']}, expected {want}")
    hosts = doc.get("hosts", [])
    return Sample(tool, setup.count, kind, took, tuple(h.get("steps", {}) for h in hosts),
                  tuple(h.get("seconds", 0.0) for h in hosts), tuple(hosts[0].get("timeline", ())) if hosts else (),
                  setup.env, cpu)


def _children_cpu() -> float:
    """CPU seconds (user + system) used so far by this process's finished children: a deploy's local cost,
    whatever the machine's load (its wall time is not)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def sample_to_json(s: Sample) -> dict:
    return {"tool": s.tool, "hosts": s.hosts, "kind": s.kind, "seconds": round(s.seconds, 3), "env": s.env,
            "cpu": round(s.cpu, 3),
            "steps": list(s.steps), "host_seconds": list(s.host_seconds), "timeline": list(s.timeline)}


def sample_from_json(d: dict) -> Sample:
    return Sample(d["tool"], d["hosts"], d["kind"], d["seconds"], tuple(d.get("steps", ())),
                  tuple(d.get("host_seconds", ())), tuple(d.get("timeline", ())), d.get("env", ENV), d.get("cpu", 0.0))


def inv_startup(root: Path, inv: tuple[str, ...]) -> float:
    """`inv --list`: interpreter start, imports of gantry.cli and Invoke's own start."""
    t0 = time.monotonic()
    subprocess.run([*inv, "--list"], cwd=root, capture_output=True, check=True, timeout=60, env=clean_env())
    return time.monotonic() - t0


# ---------------------------------------------------------------- the plain ssh loop and the floor


def prepare_ssh(setup: Setup) -> None:
    on_all(setup.lab, f"mkdir -p -m 0700 {SSH_DIR}")


def ssh_loop(setup: Setup, release: Path, kind: str) -> Sample:
    argv = ["bash", str(HERE / "ssh-loop.sh"), str(release), SSH_DIR, setup.project,
            *(h.address for h in setup.lab.hosts)]
    t0 = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600,
                          env=clean_env(SSH_OPTS=" ".join(ssh_options(setup.lab))))
    took = time.monotonic() - t0
    if proc.returncode != 0:
        raise BenchError(f"ssh loop failed: {_tail(proc.stdout + proc.stderr)}")
    return Sample("ssh loop", setup.count, kind, took, env=setup.env)


def ssh_true(setup: Setup) -> Sample:
    """`ssh host true` to every host at once: what connecting alone costs."""
    took, errors = parallel([["ssh", *ssh_options(setup.lab), f"root@{h.address}", "true"]
                             for h in setup.lab.hosts])
    if errors:
        raise BenchError("; ".join(errors))
    return Sample("ssh true", setup.count, "connect", took, env=setup.env)


class Masters:
    """One open ssh connection (ControlMaster) per host, for the floor: `up -d --wait` and nothing else."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.dir = Path(f"/tmp/gantry-bench-{os.getpid()}")
        self.dir.mkdir(mode=0o700, exist_ok=True)
        self.opts = {h.address: [*ssh_options(setup.lab), "-o", f"ControlPath={self.dir}/{h.name}"]
                     for h in setup.lab.hosts}

    def __enter__(self) -> Masters:
        _, errors = parallel([["ssh", *o, "-o", "ControlMaster=yes", "-o", "ControlPersist=yes", "-fN",
                               f"root@{a}"] for a, o in self.opts.items()])
        if errors:
            self.__exit__()
            raise BenchError("; ".join(errors))
        return self

    def __exit__(self, *exc: object) -> None:
        parallel([["ssh", *o, "-O", "exit", f"root@{a}"] for a, o in self.opts.items()])
        for sock in self.dir.iterdir():
            sock.unlink(missing_ok=True)
        self.dir.rmdir()

    def upload(self, release: Path) -> None:
        _, errors = parallel([["scp", *o, "-q", f"{release}/compose.yaml", f"{release}/.env",
                               f"root@{a}:{SSH_DIR}/"] for a, o in self.opts.items()])
        if errors:
            raise BenchError("; ".join(errors))

    def up(self, kind: str) -> Sample:
        """The floor: `up -d --wait` started on every host at once and timed on the host itself (the lab's
        hosts share this machine's clock: from the first host's start to the last host's end), so neither
        ssh nor this machine's process starts are in it."""
        compose = shlex.join(["docker", "compose", "-p", self.setup.project, "--project-directory", SSH_DIR,
                              "-f", f"{SSH_DIR}/compose.yaml", "--env-file", f"{SSH_DIR}/.env", *UP_WAIT])
        timed = (f"s=$(date +%s.%N); {compose}; rc=$?; e=$(date +%s.%N); "
                 f"echo {FLOOR_MARK} $s $e; exit $rc")
        argvs = [["ssh", *o, f"root@{a}", timed] for a, o in self.opts.items()]
        _, errors, outs = parallel_out(argvs)
        if errors:
            raise BenchError("; ".join(errors))
        spans = [tuple(map(float, m)) for out in outs for m in re.findall(rf"^{FLOOR_MARK} (\S+) (\S+)$", out, re.M)]
        if len(spans) != self.setup.count:
            raise BenchError(f"floor: {len(spans)} of {self.setup.count} hosts reported their times")
        return Sample("floor", self.setup.count, kind, max(e for _, e in spans) - min(s for s, _ in spans),
                      env=self.setup.env)


# ---------------------------------------------------------------- ansible


def write_inventory(setup: Setup) -> Path:
    lab = setup.lab
    hosts = "\n".join(f"{h.name} ansible_host={h.address} ansible_port={h.ssh_port}" for h in lab.hosts)
    text = string.Template((HERE / "inventory.ini.tmpl").read_text()).substitute(
        hosts=hosts, identity_file=lab.identity_file, known_hosts=lab.known_hosts)
    path = setup.work / "inventory.ini"
    path.write_text(text)
    return path


def ansible(setup: Setup, release: Path, kind: str, *, pipelining: bool) -> Sample:
    """ansible-playbook bench/playbook.yml, one fork per host, with or without pipelining."""
    assert setup.ansible
    cp = Path(f"/tmp/gantry-bench-cp-{os.getpid()}")  # short: ssh's control socket paths are limited
    cp.mkdir(mode=0o700, exist_ok=True)
    env = clean_env(ANSIBLE_PIPELINING=str(pipelining), ANSIBLE_HOST_KEY_CHECKING="True", ANSIBLE_NOCOLOR="1",
                    ANSIBLE_RETRY_FILES_ENABLED="False", ANSIBLE_SSH_CONTROL_PATH_DIR=str(cp),
                    ANSIBLE_LOCAL_TEMP=str(setup.work / "ansible-tmp"), ANSIBLE_DEPRECATION_WARNINGS="False")
    argv = [setup.ansible, "-i", str(setup.work / "inventory.ini"), "-f", str(max(5, setup.count)),
            "-e", json.dumps({"release_dir": str(release), "project_dir": ANSIBLE_DIR,
                              "project_name": setup.project}),
            str(HERE / "playbook.yml")]
    t0 = time.monotonic()
    proc = subprocess.run(argv, cwd=setup.work, capture_output=True, text=True, env=env, timeout=600)
    took = time.monotonic() - t0
    recap = _RECAP.findall(proc.stdout)
    if proc.returncode != 0 or len(recap) != setup.count:
        raise BenchError(f"ansible-playbook failed (exit {proc.returncode}): {_tail(proc.stdout + proc.stderr, 15)}")
    changed = sum(int(r[2]) for r in recap)
    if kind == "no-change" and changed:
        raise BenchError(f"ansible no-change run reported changed={changed}")
    return Sample("ansible (pipelining)" if pipelining else "ansible", setup.count, kind, took, env=setup.env)
