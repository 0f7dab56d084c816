"""The prod policy blocks a bad deploy before any host is touched; a valid waiver lets it through.

Real lab hosts. The lab's engines have no AppArmor/SELinux (this sandbox), so the prod-level
environment here lowers HOST-MAC-MISSING to a warning, as a team would for such hosts, with a comment.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.labtools import copy_project, lab_net, lab_or_skip

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e

PRIVILEGED = "services:\n  worker:\n    privileged: true\n"
SOCKET = "services:\n  worker:\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("policy-project")
    copy_project(root)
    (root / "compose/docker-compose.privileged.yml").write_text(PRIVILEGED)
    (root / "compose/docker-compose.socket.yml").write_text(SOCKET)
    return root


@pytest.fixture(scope="module")
def lab(project):
    yield from lab_or_skip(project, 1)


def write_env(project, name, extra_file, waivers=(), hooks=None):
    data = yaml.safe_load((project / "environments/lab.yml").read_text())
    data["compose_files"] = ["compose/docker-compose.yml", "compose/docker-compose.prod.yml", extra_file]
    data["variables"]["WEB_PORT"] = "8081"
    data["policy"] = {"level": "prod", "allow_registries": [lab_net().registry],
                      "rules": {"HOST-MAC-MISSING": "warn"}, "waivers": list(waivers)}
    if hooks:
        data["hooks"] = hooks
    (project / f"environments/{name}.yml").write_text(yaml.safe_dump(data))
    secrets = project / f"secrets.{name}.env"
    secrets.write_text("DB_PASSWORD=policy-db-secret\nAPI_TOKEN=policy-api-secret\n")
    secrets.chmod(0o600)


def inv(project, *args):
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(["inv", *args], cwd=project, capture_output=True, text=True, env=env, timeout=300)


def host_dirs(lab):
    from gantry.lab import ssh_argv

    out = subprocess.run(ssh_argv(lab, lab.hosts[0], "ls /srv/gantry/gantry-example 2>/dev/null || true"),
                         capture_output=True, text=True, timeout=30)
    return out.stdout.split()


@pytest.mark.parametrize("name, extra, rule, path", [
    ("privileged", "compose/docker-compose.privileged.yml", "PRIV-PRIVILEGED", "services.worker.privileged"),
    ("socket", "compose/docker-compose.socket.yml", "MOUNT-DOCKER-SOCK", "services.worker.volumes[0].source"),
], ids=["privileged", "docker-socket"])
def test_e2e_policy_blocks_before_touching_any_host(project, lab, name, extra, rule, path):
    write_env(project, name, extra)
    proc = inv(project, "deploy", "--env", name, "--yes")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert rule in proc.stderr and path in proc.stderr and "worker" in proc.stderr
    assert "not deployed" in proc.stderr and "Traceback" not in proc.stderr
    assert name not in host_dirs(lab)  # nothing was created on the host


def test_e2e_policy_valid_waiver_deploys(project, lab):
    waiver = {"rule": "PRIV-PRIVILEGED", "service": "worker", "reason": "needs raw sockets for the probe (TICKET-42)",
              "expires": "2099-12-31"}
    hooks = {"post_deploy": ['echo "$GANTRY_ENV $GANTRY_OUTCOME $GANTRY_RELEASE" > hook-ran.txt']}
    write_env(project, "waived", "compose/docker-compose.privileged.yml", [waiver], hooks)
    check = inv(project, "check", "--env", "waived", "--format", "json")
    findings = [f for f in json.loads(check.stdout) if f["rule"] == "PRIV-PRIVILEGED"]
    assert check.returncode == 0 and findings and findings[0]["waived"] is True
    proc = inv(project, "deploy", "--env", "waived", "--yes", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["outcome"] == "ok"
    assert "HOST-MAC-MISSING" in proc.stderr  # the lowered host rule still shows as a warning
    assert (project / "hook-ran.txt").read_text().split() == ["waived", "ok", doc["release"]]


def test_e2e_policy_expired_waiver_blocks(project, lab):
    waiver = {"rule": "PRIV-PRIVILEGED", "service": "worker", "reason": "temporary", "expires": "2020-01-01"}
    write_env(project, "expired", "compose/docker-compose.privileged.yml", [waiver])
    proc = inv(project, "deploy", "--env", "expired", "--yes")
    assert proc.returncode == 1 and "expired" in proc.stderr.lower()
    assert "expired" not in host_dirs(lab)


def test_e2e_policy_image_user_read_on_the_host_blocks_before_any_change(project, lab):
    """The worker's compose user is reset, so only the image (present on the host since the waived deploy)
    can tell it runs as root; with USER-ROOT raised to error the deploy stops at preflight."""
    from gantry.lab import ssh_argv

    (project / "compose/docker-compose.rootworker.yml").write_text("services:\n  worker:\n    user: !reset null\n")
    write_env(project, "rootimage", "compose/docker-compose.rootworker.yml")
    env_file = project / "environments/rootimage.yml"
    data = yaml.safe_load(env_file.read_text())
    data["policy"]["rules"]["USER-ROOT"] = "error"
    env_file.write_text(yaml.safe_dump(data))
    proc = inv(project, "deploy", "--env", "rootimage", "--yes")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "USER-ROOT: services.worker" in proc.stderr and "read from the image on the hosts" in proc.stderr
    releases = subprocess.run(ssh_argv(lab, lab.hosts[0], "ls -A /srv/gantry/gantry-example/rootimage/releases"),
                              capture_output=True, text=True, timeout=30)
    assert releases.stdout.strip() == ""  # locked, judged, unlocked: no release was uploaded
    lock = subprocess.run(ssh_argv(lab, lab.hosts[0], "test -e /srv/gantry/gantry-example/rootimage/lock"),
                          capture_output=True, timeout=30)
    assert lock.returncode != 0
