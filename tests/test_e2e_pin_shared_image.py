"""Two projects on one lab host run the same image tag; a rollback of one pins its digest in its own copy of
the release (compose.pinned.yaml) and never retags the image the other runs (checked with docker inspect)."""

from __future__ import annotations

import pytest

from tests.apptools import deploy, make_app, rollback, sh, ssh
from tests.labtools import lab_net

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def lab(one_host_lab):
    return one_host_lab


def _image_id(lab, host, ref: str) -> str:
    return ssh(lab, host, "docker", "image", "inspect", "--format", "{{.Id}}", "--", ref).stdout.strip()


def _containers(lab, host, project: str) -> dict[str, str]:
    """container name -> the image id it runs, for one compose project."""
    out = sh(lab, host, f"docker ps -aq --filter label=com.docker.compose.project={project} | xargs -r docker "
                        "inspect --format '{{.Name}} {{.Image}}'").stdout
    return dict(line.lstrip("/").split() for line in out.splitlines() if line.strip())


def test_e2e_pin_rollback_does_not_retag_another_projects_image(lab, apps_lab_root, tmp_path):
    host = lab.hosts[0]
    one = make_app(tmp_path / "one", "nohealth", apps_lab_root)
    other = make_app(tmp_path / "other", "nohealth", apps_lab_root)
    env_file = other.root / "environments" / "lab.yml"
    env_file.write_text(env_file.read_text().replace("project: nohealth\n", "project: other\n"))
    tag = f"{lab_net().registry}/gantry-example/worker:1.0.0"
    web = f"{lab_net().registry}/gantry-example/web:1.0.0"

    v1 = deploy(one, "1")[0]["release"]
    deploy(one, "2")
    deploy(other, "1")
    original = _image_id(lab, host, tag)
    theirs = _containers(lab, host, "other-lab")
    assert theirs and set(theirs.values()) == {original}
    # the tag moves on the host (a new push pulled by the other project, say): it now names another image
    moved = sh(lab, host, f"docker pull -q {web} >/dev/null && docker tag {web} {tag}")
    assert moved.returncode == 0, moved.stderr
    now = _image_id(lab, host, tag)
    assert now and now != original

    doc, proc = rollback(one)
    assert doc["release"] == v1, proc.stderr
    # the tag still names what the other project pulled: the rollback did not `docker tag` it back
    assert _image_id(lab, host, tag) == now
    # the rolled-back project runs the recorded digest's image, from its pinned copy
    mine = _containers(lab, host, "nohealth-lab")
    assert mine and set(mine.values()) == {original}, mine
    pinned = ssh(lab, host, "cat", f"{one.base}/compose.pinned.yaml").stdout
    assert pinned.startswith(f"# pinned copy of release {v1}\n") and "worker@sha256:" in pinned
    # the kept release is untouched: its own files only, and it still verifies (a dry-run rollback reads it)
    files = ssh(lab, host, "ls", "-A", f"{one.base}/releases/{v1}").stdout.split()
    assert sorted(files) == [".env", ".env.sha256", "compose.yaml", "manifest.json"]
    assert "worker@sha256" not in ssh(lab, host, "cat", f"{one.base}/releases/{v1}/compose.yaml").stdout
    # the other project's containers were not touched
    assert _containers(lab, host, "other-lab") == theirs
