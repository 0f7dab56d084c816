"""Compose project names on one lab host: `a`+`b-c` and `a-b`+`c` run side by side (they shared one name
before), and an environment still running under its old name is refused before any change (HOST-PROJECT-RENAMED),
while another environment that has that name today is not mistaken for it."""

from __future__ import annotations

import pytest

from tests.apptools import DEPLOY_PATH, inv, make_app, sh, ssh

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def lab(one_host_lab):
    return one_host_lab


def _projects(lab, host) -> dict[str, int]:
    out = ssh(lab, host, "docker", "ps", "--format", '{{.Label "com.docker.compose.project"}}').stdout.split()
    return {p: out.count(p) for p in set(out)}


def _env(app, name: str, project: str) -> None:
    text = (app.root / "environments" / "lab.yml").read_text().replace("project: nohealth\n", f"project: {project}\n")
    (app.root / "environments" / f"{name}.yml").write_text(text)


def test_e2e_namespaces_colliding_pair_and_an_old_copy(lab, apps_lab_root, tmp_path):
    host = lab.hosts[0]
    app = make_app(tmp_path, "nohealth", apps_lab_root)
    _env(app, "lab-two", "nohealth")  # project nohealth, env lab-two: nohealth-_lab_dtwo (was nohealth-lab-two)
    _env(app, "two", "nohealth-lab")  # project nohealth-lab, env two: nohealth-lab-two, as before
    inv(app, "deploy", "--env", "two", "--yes", check=0)
    inv(app, "deploy", "--env", "lab-two", "--yes", check=0)  # the other's containers are not its old copy
    assert _projects(lab, host) == {"nohealth-lab-two": 2, "nohealth-_lab_dtwo": 2}

    # a host that an older Gantry deployed lab-two to: its containers run as nohealth-lab-two, from its releases
    base = f"{DEPLOY_PATH}/nohealth/lab-two"
    rid = ssh(lab, host, "readlink", f"{base}/current").stdout.strip().rsplit("/", 1)[-1]
    rel = f"{base}/releases/{rid}"
    old = sh(lab, host, "docker compose -p nohealth-lab-two down && docker compose -p nohealth-_lab_dtwo down && "
                        f"docker compose -p nohealth-lab-two --project-directory {rel} -f {rel}/compose.yaml "
                        f"--env-file {rel}/.env up -d")
    assert old.returncode == 0, old.stderr
    before = _projects(lab, host)
    assert before == {"nohealth-lab-two": 2}

    proc = inv(app, "deploy", "--env", "lab-two", "--yes", env={"VERSION": "2"}, check=1)
    assert "HOST-PROJECT-RENAMED" in proc.stderr and "nohealth-lab-two-plain-1" in proc.stderr, proc.stderr
    assert "README" in proc.stderr and "Traceback" not in proc.stderr
    assert _projects(lab, host) == before  # nothing started beside it: no second copy
    assert ssh(lab, host, "test", "-e", f"{base}/lock").returncode != 0  # and the lock is free again
