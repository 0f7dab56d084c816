"""Fault injection on real lab hosts: each test file gets its own 3-host lab, v1 live, batches of 1.

`fl` (module fixture) drives `inv` in a copy of the project as a user would, injects faults for real
(sessions killed, links down, engines stopped, the registry gone, a full disk, signals, a new host
key, a reboot) and reads every host's final state over SSH, never from Gantry's own report. Each
scenario records a row; tests/conftest.py prints the table at the end of the run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.labtools import FAULT_ROWS_VARIABLE, copy_project, lab_or_skip

CANARY_DB = "canary-db-f4u1t5a9e1"
CANARY_API = "canary-api-f4u1t5b7c3"
BASE = "/srv/gantry/gantry-example/lab"
PROJECT = "gantry-example-lab"
RELEASE_FILES = ("compose.yaml", ".env", "manifest.json")
STEP_LINE = re.compile(r"^\s+(lab-\d+)\s+(\S+)\s+(\.\.\.|ok|FAILED)")

# Knobs for the app shapes of scenarios 6 and 7; the defaults render the example app unchanged in behaviour.
FAULT_COMPOSE = """\
# Fault-suite knobs: a command run before the web server starts, its restart policy, its start period.
services:
  web:
    command: ["/bin/sh", "-c", "${WEB_PRESTART:-true}; exec /bin/sh /entrypoint.sh"]
    restart: ${WEB_RESTART:-on-failure:3}
    healthcheck:
      start_period: ${WEB_START_PERIOD:-5s}
"""


def _fault_project(root: Path) -> Path:
    copy_project(root)
    (root / "secrets.lab.env").write_text(f"DB_PASSWORD={CANARY_DB}\nAPI_TOKEN={CANARY_API}\n")
    (root / "secrets.lab.env").chmod(0o600)
    (root / "compose" / "fault.yml").write_text(FAULT_COMPOSE)
    env_file = root / "environments" / "lab.yml"
    data = yaml.safe_load(env_file.read_text())
    data["compose_files"] = [*data["compose_files"], "compose/fault.yml"]
    data["rollout"] = dict(data.get("rollout") or {}, batch_size=1)
    # Every release a file's story makes stays kept, so "history intact" is not confused with pruning.
    data["keep_releases"] = 50
    data["ssh"] = dict(data.get("ssh") or {}, connect_timeout=3, connect_retries=2)
    env_file.write_text(yaml.safe_dump(data, sort_keys=False))
    return root


@dataclass
class HostState:
    """One host as read over SSH: what `current` names, kept releases, lock, audit, containers."""

    name: str
    reachable: bool = True
    current: str = ""
    releases: dict[str, set[str]] = field(default_factory=dict)  # release id -> files in it
    hidden: list[str] = field(default_factory=list)  # half-made entries (.incoming-*) under releases/
    lock: str = ""
    audit: list[dict] = field(default_factory=list)
    audit_broken: int = 0
    services: dict[str, str] = field(default_factory=dict)  # service -> docker ps status
    version: str = ""

    @property
    def healthy(self) -> bool:
        return set(self.services) == {"web", "worker"} and all("(healthy)" in s for s in self.services.values())

    def incomplete(self) -> list[str]:
        return [rid for rid, files in self.releases.items() if not set(RELEASE_FILES) <= files]


class Faults:
    """The fault suite's hands: run `inv`, inject faults, read hosts, record rows."""

    def __init__(self, project: Path, lab) -> None:
        self.project = project
        self.lab = lab
        self.outputs: list[str] = []
        self.labels: dict[str, str] = {}  # release id -> the version label a test deployed it as

    # -- driving inv ----------------------------------------------------------------------------

    def _env(self, env: dict | None) -> dict:
        full = {k: v for k, v in os.environ.items()
                if k not in ("APP_VERSION", "FAIL_HEALTH", "WEB_TAG", "WEB_PRESTART", "WEB_RESTART",
                             "WEB_START_PERIOD", "GANTRY_USER")}
        full.update(env or {})
        full["NO_COLOR"] = "1"
        return full

    def _seen(self, text: str) -> str:
        self.outputs.append(text)
        assert CANARY_DB not in text and CANARY_API not in text, "a secret value reached the output"
        return text

    def inv(self, *args: str, env: dict | None = None, check: int | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run(["inv", *args], cwd=self.project, capture_output=True, text=True,
                              env=self._env(env), timeout=600)
        self._seen(proc.stdout + proc.stderr)
        assert "Traceback" not in proc.stderr, proc.stderr
        if check is not None:
            assert proc.returncode == check, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def deploy(self, version: str, *, check: int | None = 0, env: dict | None = None,
               extra: tuple[str, ...] = ()) -> tuple[subprocess.CompletedProcess, dict | None]:
        proc = self.inv("deploy", "--env", "lab", "--yes", "--json", *extra,
                        env={"APP_VERSION": version, **(env or {})}, check=check)
        doc = json.loads(proc.stdout) if proc.stdout.strip() else None
        if doc and doc.get("release"):
            self.labels.setdefault(doc["release"], f"v{version}")
        return proc, doc

    def deploy_until(self, version: str, when: Callable[[str, str, str], bool],
                     action: Callable[[subprocess.Popen], object], *, env: dict | None = None,
                     extra: tuple[str, ...] = ()) -> Run:
        """Deploy, and run `action` (in a thread) the first time a progress line (host, step, status) matches.

        --verbose prints each step's start at once, so a fault can land inside a given step."""
        proc = subprocess.Popen(["inv", "deploy", "--env", "lab", "--yes", "--json", "--verbose", *extra],
                                cwd=self.project, env=self._env({"APP_VERSION": version, **(env or {})}),
                                text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        run = Run(proc)
        threads: list[threading.Thread] = []
        for line in proc.stderr:
            run.lines.append(line)
            m = STEP_LINE.match(line)
            if m and not run.fired and when(*m.groups()):
                run.fired = f"{m[1]} {m[2]} {'start' if m[3] == '...' else m[3]}"
                threads.append(threading.Thread(target=action, args=(proc,), daemon=True))
                threads[-1].start()
        run.stdout = proc.stdout.read()
        run.code = proc.wait(timeout=600)
        for t in threads:
            t.join(timeout=120)
        self._seen(run.stdout + run.stderr)
        assert "Traceback" not in run.stderr, run.stderr
        assert run.fired, f"the trigger never matched:\n{run.stderr}"
        doc = run.doc
        if doc and doc.get("release"):
            self.labels.setdefault(doc["release"], f"v{version}")
        return run

    def deploy_signalled(self, version: str, when: Callable[[str, str, str], bool], sig: int, *,
                         env: dict | None = None) -> Run:
        """Deploy and send `sig` to `inv deploy` when a progress line matches."""
        return self.deploy_until(version, when, lambda proc: proc.send_signal(sig), env=env)

    # -- reading hosts over SSH -------------------------------------------------------------------

    def ssh(self, i: int, script: str, timeout: float = 30) -> subprocess.CompletedProcess:
        from gantry.lab import ssh_argv

        out = subprocess.run(ssh_argv(self.lab, self.lab.hosts[i - 1], script), capture_output=True,
                             text=True, timeout=timeout)
        self._seen(out.stdout + out.stderr)
        return out

    def host(self, i: int) -> HostState:
        fmt = '{{.Label "com.docker.compose.service"}}\t{{.Status}}'
        script = "; ".join([
            "echo @current", f"readlink {BASE}/current",
            "echo @files", f"find {BASE}/releases -mindepth 1 -maxdepth 2 2>/dev/null",
            "echo @lock", f"if test -d {BASE}/lock; then cat {BASE}/lock/info.json 2>/dev/null || echo held; fi",
            "echo @audit", f"cat {BASE}/deploys.jsonl 2>/dev/null",
            "echo @ps", f"docker ps -a --filter label=com.docker.compose.project={PROJECT} --format '{fmt}'",
            "echo @end"])
        host = self.lab.hosts[i - 1]
        state = HostState(host.name)
        out = self.ssh(i, script)
        if "@end" not in out.stdout:
            state.reachable = False
            return state
        sections: dict[str, list[str]] = {}
        key = ""
        for line in out.stdout.splitlines():
            if line.startswith("@"):
                key = line[1:]
                sections[key] = []
            elif line.strip():
                sections[key].append(line)
        state.current = "".join(sections.get("current", [])).removeprefix("releases/")
        for path in sections.get("files", []):
            rel = path.removeprefix(f"{BASE}/releases/").split("/")
            if rel[0].startswith("."):
                state.hidden.append(rel[0])
            else:
                files = state.releases.setdefault(rel[0], set())
                if len(rel) > 1:
                    files.add(rel[1])
        state.hidden = sorted(set(state.hidden))
        state.lock = "\n".join(sections.get("lock", []))
        for line in sections.get("audit", []):
            try:
                state.audit.append(json.loads(line))
            except ValueError:
                state.audit_broken += 1
        for line in sections.get("ps", []):
            service, _, status = line.partition("\t")
            state.services[service] = status
        try:
            with urllib.request.urlopen(f"http://{host.address}:8080/version", timeout=3) as resp:
                state.version = resp.read().decode().strip()
        except OSError:
            state.version = ""
        return state

    def hosts(self) -> list[HostState]:
        return [self.host(i) for i in range(1, len(self.lab.hosts) + 1)]

    def converged(self, release: str | None = None, *, history: dict[str, set[str]] | None = None,
                  damaged: tuple[str, ...] = ()) -> str:
        """Every host healthy on one release, unlocked, nothing half-made, audit readable; returns the release.

        With `history` (host -> releases kept before the fault), none of those releases is lost or damaged."""
        states = self.hosts()
        for s in states:
            assert s.reachable, f"{s.name} is unreachable"
            assert s.healthy, f"{s.name}: {s.services}"
            assert not s.lock, f"{s.name} is still locked: {s.lock}"
            half = [r for r in s.incomplete() if r not in damaged]  # `damaged`: broken on purpose by a test
            assert not half and not s.hidden, f"{s.name}: half-made releases {half} {s.hidden}"
            assert s.current in s.releases and s.audit_broken == 0, s
            if history is not None:
                assert history[s.name] <= set(s.releases), f"{s.name} lost {history[s.name] - set(s.releases)}"
        currents = {s.current for s in states}
        assert len(currents) == 1, f"the fleet runs several releases: {currents}"
        if release is not None:
            assert currents == {release}
        assert len({s.version for s in states}) == 1, [s.version for s in states]
        return currents.pop()

    def kept(self) -> dict[str, set[str]]:
        return {s.name: set(s.releases) for s in self.hosts()}

    # -- faults ---------------------------------------------------------------------------------

    def node(self, i: int):
        from gantry.lab import _net_of, state_dir
        from gantry.lab.node import _node

        state = state_dir(self.project)
        return _node(state, i, _net_of(state))

    def veth(self, i: int) -> str:
        from gantry.lab.network import _veth

        node = self.node(i)
        return _veth(node.net, node.netns)

    def link(self, i: int, up: bool) -> None:
        subprocess.run(["ip", "link", "set", self.veth(i), "up" if up else "down"], check=True)

    def kill_sessions(self, i: int) -> list[int]:
        """SIGKILL every sshd child of host i's sshd: the deploy's SSH connection to it drops."""
        master = int((self.node(i).dir / "sshd.pid").read_text())
        kids = [int(p) for p in subprocess.run(["pgrep", "-P", str(master)], capture_output=True,
                                               text=True).stdout.split()]
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return kids

    def dockerd_pid(self, i: int) -> int:
        return int((self.node(i).dir / "docker" / "docker.pid").read_text())

    def stop_dockerd(self, i: int, sig: int = signal.SIGTERM) -> None:
        pid = self.dockerd_pid(i)
        os.kill(pid, sig)
        for _ in range(300):  # dockerd stops its containers first (shutdown-timeout 5 s)
            if not Path(f"/proc/{pid}").exists() or "zombie" in _proc_state(pid):
                return
            time.sleep(0.1)

    def reboot(self, i: int) -> None:
        """Restart host i like a reboot: engine and sshd (and their namespaces) afresh, disks kept."""
        from gantry.lab import _wait_host
        from gantry.lab.node import _start_node

        node = self.node(i)
        client_pub = (node.dir.parent / "id_ed25519.pub").read_text()
        dockerd = _start_node(node, client_pub, lambda m: None)
        _wait_host(self.lab, node, self.lab.hosts[i - 1], dockerd)

    def registry(self, up: bool) -> None:
        from gantry.lab import _net_of, state_dir
        from gantry.lab.images import _ensure_registry
        from gantry.lab.procs import _kill, _pids_mentioning

        state = state_dir(self.project)
        if up:
            _ensure_registry(_net_of(state), state, lambda m: None)
        else:
            _kill(_pids_mentioning(f"{state / 'registry'}/"), grace=2)

    def push_tag(self, tag: str) -> str:
        """Give the registry the example web image under a new tag (every host will have to pull it)."""
        image = f"{self.lab.registry}/gantry-example/web"
        out = self.ssh(1, f"docker tag {image}:1.0.0 {image}:{tag} && docker push -q {image}:{tag} >/dev/null"
                          f" && docker rmi {image}:{tag} >/dev/null")
        assert out.returncode == 0, out.stderr
        return f"{image}:{tag}"

    def in_mount_ns(self, i: int, *argv: str) -> subprocess.CompletedProcess:
        holder = int((self.node(i).dir / "holder.pid").read_text())
        return subprocess.run(["nsenter", f"--mount=/proc/{holder}/ns/mnt", *argv], capture_output=True,
                              text=True, check=True)

    # -- the table ------------------------------------------------------------------------------

    def label(self, rid: str) -> str:
        return self.labels.get(rid, rid[-10:] if rid else "(none)")

    def record(self, scenario: str, fault: str, code: int | str, *, release: str = "", after: str = "",
               note: str = "") -> None:
        """One row of the table: hosts read over SSH now; audit = hosts with a line for `release`."""
        states = self.hosts()
        hosts = ", ".join(
            f"{s.name}={self.label(s.current)}/{'healthy' if s.healthy else 'UNHEALTHY'}" if s.reachable
            else f"{s.name}=unreachable" for s in states)
        locks = [s.name for s in states if s.lock]
        audited = sum(1 for s in states if any(r.get("release") == release for r in s.audit)) if release else 0
        row = {"scenario": scenario, "fault": fault, "exit": str(code), "after": after, "hosts": hosts,
               "lock": "held: " + ",".join(locks) if locks else "free",
               "audit": f"{audited}/{len(states)}" if release else "-", "note": note}
        rows_dir = os.environ.get(FAULT_ROWS_VARIABLE)
        if rows_dir:
            name = f"{scenario}-{os.getpid()}-{time.monotonic_ns()}.json"
            Path(rows_dir, name).write_text(json.dumps(row))


@dataclass
class Run:
    proc: subprocess.Popen
    lines: list[str] = field(default_factory=list)
    stdout: str = ""
    code: int = -1
    fired: str = ""

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    @property
    def doc(self) -> dict | None:
        try:
            return json.loads(self.stdout) if self.stdout.strip() else None
        except ValueError:
            return None


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "zombie"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return _fault_project(tmp_path_factory.mktemp("faults"))


@pytest.fixture(scope="module")
def lab(project):
    yield from lab_or_skip(project, 3)


@pytest.fixture(scope="module")
def fl(project, lab):
    """The fault suite's hands, with v1 live on every host."""
    faults = Faults(project, lab)
    _, doc = faults.deploy("1")
    assert doc["outcome"] == "ok"
    yield faults
    text = "\n".join(faults.outputs)
    assert CANARY_DB not in text and CANARY_API not in text
    for s in faults.hosts():
        assert all(CANARY_DB not in json.dumps(r) and CANARY_API not in json.dumps(r) for r in s.audit)
