"""The app matrix: small compose projects under tests/apps/<shape>/, each deployed to lab hosts as a user would.

Each app is its own project directory (tasks.py, environments/lab.yml, compose/), pointed at a lab that a
test module brought up. Its services read VERSION and BROKEN from the process environment (which wins over
`variables:`), so one compose file gives v1, v2 and a broken v3. Hosts are checked directly over SSH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.labtools import REPO, lab_net

APPS = Path(__file__).resolve().parent / "apps"
DEPLOY_PATH = "/srv/apps"

ENV_TEMPLATE = """\
project: {shape}
deploy_path: {deploy_path}
inventory: {lab_root}/.gantry/lab/inventory.yml
compose_files: [{compose_files}]
variables:
  REGISTRY: {registry}
ssh:
  known_hosts: {lab_root}/.gantry/lab/known_hosts
  connect_timeout: 5
health:
  interval: 0.5
  settle: 2
keep_releases: {keep}
policy:
  level: lab
  allow_registries: [{registry}]
{extra}"""


@dataclass
class App:
    shape: str
    root: Path
    lab_root: Path
    keep: int = 5

    @property
    def project(self) -> str:
        return f"{self.shape}-lab"  # the compose project on the hosts: <project>-<env>

    @property
    def base(self) -> str:
        return f"{DEPLOY_PATH}/{self.shape}/lab"

    def configure(self, *, compose_files: tuple[str, ...] = ("compose/docker-compose.yml",), extra: str = "") -> None:
        """(Re)write environments/lab.yml, e.g. to change the compose files or the profiles between deploys."""
        (self.root / "environments" / "lab.yml").write_text(ENV_TEMPLATE.format(
            shape=self.shape, deploy_path=DEPLOY_PATH, lab_root=self.lab_root, registry=lab_net().registry,
            compose_files=", ".join(compose_files), keep=self.keep, extra=extra))


def make_app(tmp: Path, shape: str, lab_root: Path, *, keep: int = 5) -> App:
    root = tmp / shape
    (root / "environments").mkdir(parents=True)
    shutil.copy(REPO / "tasks.py", root / "tasks.py")
    shutil.copytree(APPS / shape, root / "compose")
    app = App(shape, root, lab_root, keep)
    app.configure()
    return app


def inv(app: App, *args: str, env: dict | None = None, check: int | None = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("VERSION", "BROKEN")}
    full.update(env or {}, NO_COLOR="1")
    proc = subprocess.run(["inv", *args], cwd=app.root, capture_output=True, text=True, env=full, timeout=600)
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def deploy(app: App, version: str, *, broken: bool = False, check: int = 0) -> tuple[dict, str]:
    proc = inv(app, "deploy", "--env", "lab", "--yes", "--json",
               env={"VERSION": version, "BROKEN": "1" if broken else "0"}, check=check)
    return json.loads(proc.stdout), proc.stderr


def rollback(app: App, *args: str, check: int = 0) -> tuple[dict | None, subprocess.CompletedProcess]:
    proc = inv(app, "rollback", "--env", "lab", "--yes", "--json", *args, check=check)
    return (json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else None), proc


def ssh(lab, host, *argv: str) -> subprocess.CompletedProcess:
    from gantry.lab import ssh_argv
    from gantry.shell import render

    return subprocess.run(ssh_argv(lab, host, render(tuple(argv))), capture_output=True, text=True, timeout=60)


def sh(lab, host, script: str) -> subprocess.CompletedProcess:
    from gantry.lab import ssh_argv

    return subprocess.run(ssh_argv(lab, host, "sh -s"), input=script, capture_output=True, text=True, timeout=60)


@dataclass(frozen=True)
class Seen:
    """One container as the host's own `docker inspect` shows it."""

    service: str
    name: str
    state: str
    health: str
    version: str
    image: str
    restarts: int


def containers(lab, host, app: App) -> list[Seen]:
    out = sh(lab, host, f"docker ps -aq --filter label=com.docker.compose.project={app.project} "
                        "| xargs -r docker inspect").stdout
    docs = json.loads(out) if out.strip() else []
    seen = []
    for d in docs:
        env = dict(e.split("=", 1) for e in d["Config"].get("Env") or [] if "=" in e)
        seen.append(Seen(d["Config"]["Labels"].get("com.docker.compose.service", ""), d["Name"].lstrip("/"),
                         d["State"]["Status"], (d["State"].get("Health") or {}).get("Status", ""),
                         env.get("VERSION", ""), d["Config"]["Image"], d.get("RestartCount", 0)))
    return sorted(seen, key=lambda s: (s.service, s.name))


def by_service(seen: list[Seen]) -> dict[str, list[Seen]]:
    out: dict[str, list[Seen]] = {}
    for s in seen:
        out.setdefault(s.service, []).append(s)
    return out


def live_release(lab, host, app: App) -> str:
    return ssh(lab, host, "readlink", f"{app.base}/current").stdout.strip().rsplit("/", 1)[-1]


def assert_host_runs(lab, host, app: App, release: str, version: str, services: dict[str, int]) -> dict:
    """The host's `current` is the release, its files are there, and each long-running service has the given
    number of containers, running, healthy when it has a healthcheck, all of this version."""
    assert live_release(lab, host, app) == release, host.name
    rel = f"{app.base}/releases/{release}"
    files = ssh(lab, host, "ls", "-A", rel).stdout.split()
    assert sorted(files) == [".env", ".env.sha256", "compose.yaml", "manifest.json"], (host.name, files)
    seen = by_service(containers(lab, host, app))
    for service, count in services.items():
        mine = seen.get(service, [])
        assert len(mine) == count, (host.name, service, mine)
        for c in mine:
            assert c.state == "running" and c.health in ("", "healthy") and c.version == version, (host.name, c)
    return seen


def story(app: App, lab, services: dict[str, int], *, failing: str, says: str = "",
          check=lambda stage, seen: None, v2_services: dict[str, int] | None = None) -> dict[str, str]:
    """Deploy v1, v2, a broken v3 (exit 3, every host back on v2, healthy), then `inv rollback` (back to v1),
    checking every host directly after each step. `check(stage, {host name: containers by service})` adds the
    shape's own assertions; returns the release ids by stage."""
    ids: dict[str, str] = {}

    def on_hosts(stage: str, release: str, version: str, want: dict[str, int]) -> None:
        seen = {h.name: assert_host_runs(lab, h, app, release, version, want) for h in lab.hosts}
        check(stage, seen)

    doc, _ = deploy(app, "1")
    assert doc["outcome"] == "ok" and {h["outcome"] for h in doc["hosts"]} == {"deployed"}
    ids["v1"] = doc["release"]
    on_hosts("v1", ids["v1"], "1", services)
    doc, _ = deploy(app, "2")
    assert doc["outcome"] == "ok"
    ids["v2"] = doc["release"]
    on_hosts("v2", ids["v2"], "2", v2_services or services)
    doc, err = deploy(app, "3", broken=True, check=3)
    assert doc["outcome"] == "failed" and {h["release"] for h in doc["hosts"]} == {ids["v2"]}, doc
    assert failing in {h["failing_service"] for h in doc["hosts"]}, doc
    assert f"(service {failing})" in err and says in err and "Traceback" not in err, err
    ids["v3"] = doc["release"]
    on_hosts("v3", ids["v2"], "2", v2_services or services)
    doc, _ = rollback(app)
    assert doc["outcome"] == "ok" and doc["release"] == ids["v1"], doc
    on_hosts("rollback", ids["v1"], "1", services)
    return ids
