"""The hosts the benchmark runs on: the lab (waiting out another project's), ssh helpers, the machine."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from gantry.lab import Lab, LabError, lab_down, lab_status, lab_up

LAB_POLL = 20.0  # seconds between tries while another project's lab is up


def log(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def load() -> str:
    """The machine's load averages (1, 5, 15 min): other engineers share its 2 cores."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def acquire_lab(root: Path, count: int, *, wait: float) -> Lab:
    """lab_up, waiting up to `wait` seconds while another project's lab is on this machine."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return lab_up(root, count, log=lambda m: log(m) if "up in" in m or "pushed" in m else None)
        except LabError as exc:
            if "already on this machine" not in exc.what or time.monotonic() + LAB_POLL > deadline:
                raise
            log(f"{exc.what}; retrying in {LAB_POLL:.0f} s")
            time.sleep(LAB_POLL)


class LabHold:
    """Brings the lab up (resizing as asked) and down again, unless it was already up before us."""

    def __init__(self, root: Path, wait: float) -> None:
        self.root = root
        self.wait = wait
        before = lab_status(root)
        self.count_before = len(before.hosts) if before else 0

    def resize(self, count: int) -> Lab:
        return acquire_lab(self.root, count, wait=self.wait)

    def release(self) -> None:
        try:
            if self.count_before:
                lab_up(self.root, self.count_before, log=lambda m: None)
            else:
                lab_down(self.root, log=lambda m: None)
        except LabError as exc:
            log(f"could not restore the lab: {exc}")


def ssh_options(lab: Lab) -> list[str]:
    """Options for ssh and scp to lab hosts: key auth only, strict host key checking."""
    return ["-F", "/dev/null", "-i", str(lab.identity_file), "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={lab.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5"]


def parallel(argvs: Sequence[Sequence[str]], *, timeout: float = 300) -> tuple[float, list[str]]:
    """Start every command at once, wait for all; (wall seconds, error lines of the failed ones)."""
    took, errors, _ = parallel_out(argvs, timeout=timeout)
    return took, errors


def parallel_out(argvs: Sequence[Sequence[str]], *, timeout: float = 300) -> tuple[float, list[str], list[str]]:
    """parallel, also returning each command's output (stdout and stderr together), in order."""
    t0 = time.monotonic()
    procs = [subprocess.Popen(list(a), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for a in argvs]
    errors, outs = [], []
    for argv, proc in zip(argvs, procs):
        out, _ = proc.communicate(timeout=timeout)
        outs.append(out)
        if proc.returncode != 0:
            errors.append(f"`{' '.join(argv[-4:])}` exit {proc.returncode}: {out.strip()[-300:]}")
    return time.monotonic() - t0, errors, outs


def on_all(lab: Lab, command: str, *, timeout: float = 300) -> None:
    """Run one shell command on every host (set-up between rows; not timed)."""
    _, errors = parallel([["ssh", *ssh_options(lab), f"root@{h.address}", command] for h in lab.hosts],
                         timeout=timeout)
    if errors:
        raise RuntimeError("; ".join(errors))


def clear_containers(lab: Lab) -> None:
    """Remove every container on every host, so the next tool starts from the same state."""
    on_all(lab, "docker ps -aq | xargs -r docker rm -f >/dev/null")


def _out(argv: Sequence[str], env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=30,
                              env={**os.environ, **(env or {})})
    except (OSError, subprocess.SubprocessError):
        return "?"
    return done.stdout.strip() if done.returncode == 0 else "?"


def describe_machine(lab: Lab, ansible: str | None) -> dict[str, str]:
    mem_kb = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:")), 0)
    engine = {"DOCKER_HOST": lab.hosts[0].docker_host}
    desc = {
        "cpus": f"{os.cpu_count()} ({_cpu_model()})",
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "os": _os_name(),
        "docker": f"CLI {_out(['docker', 'version', '--format', '{{.Client.Version}}'], engine)}, engine "
                  f"{_out(['docker', 'version', '--format', '{{.Server.Version}}'], engine)}",
        "compose": _out(["docker", "compose", "version", "--short"]),
        "openssh": _out(["sh", "-c", "ssh -V 2>&1"]),
        "python": platform.python_version(),
        "gantry": _out(["git", "-C", str(lab.root), "describe", "--always", "--dirty"]),
        "load average at start": load(),
    }
    if ansible:
        first = _out([str(Path(ansible).with_name("ansible")), "--version"]).splitlines()[:1]
        desc["ansible"] = first[0] if first else "?"
        desc["community.docker"] = _collection_version(ansible)
    return desc


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "?"


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return "?"


def _collection_version(ansible_playbook: str) -> str:
    python = Path(ansible_playbook).with_name("python")
    code = ("import json, ansible_collections.community.docker as d, pathlib; "
            "print(json.loads((pathlib.Path(d.__path__[0]) / 'MANIFEST.json').read_text())"
            "['collection_info']['version'])")
    return _out([str(python) if python.exists() else "python3", "-c", code])
