"""`gantry build` on a lab host's engine (the deploying side's engine): targets, tags, size, layers, push, policy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.labtools import lab_or_skip, run_gantry

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests/fixtures/build-app"

pytestmark = pytest.mark.e2e

ENV = """project: shop
deploy_path: /srv/gantry
inventory: .gantry/lab/inventory.yml
compose_files: [compose.yaml]
variables: {{REGISTRY: "{registry}"}}
ssh: {{known_hosts: .gantry/lab/known_hosts}}
policy: {{level: prod, allow_registries: ["{registry}"]}}
images: {images}
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("shop")
    shutil.copytree(FIXTURE, root, dirs_exist_ok=True)
    shutil.copy2("/bin/busybox", root / "app/busybox")
    for up in lab_or_skip(root, 1):
        (root / "environments").mkdir()
        for name, images in (("prod", "{size_budget_mb: 50}"),
                             ("fat", "{target: build, size_budget_mb: 0.5, push: false}")):
            (root / f"environments/{name}.yml").write_text(ENV.format(registry=up.registry, images=images))
        strict = ENV.format(registry=up.registry, images="{target: build}").replace(
            "policy: {level: prod, ", "policy: {level: prod, image_size_budget: 500kB, "
            "rules: {IMG-SIZE-BUDGET: error}, waivers: [{rule: IMG-BUILD-TOOLS, service: app, reason: debug}], ")
        (root / "environments/strict.yml").write_text(strict)
        yield root, up


def gantry(root, up, *args):
    return run_gantry(root, *args, env={"DOCKER_BUILDKIT": "0", "DOCKER_HOST": up.hosts[0].docker_host})


def in_registry(registry: str, repo: str, tag: str) -> bool:
    req = urllib.request.Request(f"http://{registry}/v2/{repo}/manifests/{tag}", method="HEAD", headers={
        "Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as answer:
            return answer.status == 200
    except OSError:
        return False


def test_e2e_build_the_prod_target_reports_size_and_layers_tags_by_release_and_pushes(lab):
    root, up = lab
    proc = gantry(root, up, "build", "--env", "prod", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout[proc.stdout.index("{"):])
    (image,) = doc["images"]
    assert image["service"] == "app" and image["target"] == "prod" and doc["pushed"] is True
    assert image["layers"] == 2 and image["build_tools"] == [] and doc["warnings"] == []
    ref, by_release = image["tags"]
    assert ref == f"{up.registry}/shop/app:1.0.0" and by_release.endswith(":" + doc["release"].replace(":", "-"))
    assert "app: built" in proc.stdout and "2 layers" in proc.stdout
    assert in_registry(up.registry, "shop/app", "1.0.0")
    assert in_registry(up.registry, "shop/app", by_release.rsplit(":", 1)[1])
    files = subprocess.run(["docker", "run", "--rm", "--entrypoint", "/bin/busybox", ref, "ls", "/usr/bin", "/src"],
                           capture_output=True, text=True, env={**os.environ, "DOCKER_HOST": up.hosts[0].docker_host})
    assert files.returncode != 0  # the prod stage has neither the compiler nor the sources


def test_e2e_build_warns_on_build_tools_and_the_size_budget(lab):
    root, up = lab
    proc = gantry(root, up, "build", "--env", "fat")
    assert proc.returncode == 0, proc.stderr
    assert "(target build)" in proc.stdout and "pushed" not in proc.stdout
    assert "a C compiler (gcc)" in proc.stderr and "build in a stage" in proc.stderr
    assert "environments/fat.yml: images.size_budget_mb: app:" in proc.stderr and "over the budget of 0.5 MB" in \
        proc.stderr


def test_e2e_build_findings_as_sarif_and_an_error_stops_the_push(lab):
    root, up = lab
    proc = gantry(root, up, "build", "--env", "strict", "--sarif")
    assert proc.returncode == 1, proc.stderr
    run = json.loads(proc.stdout)["runs"][0]
    assert [(r["ruleId"], r["level"], "suppressions" in r) for r in run["results"]] == [
        ("IMG-SIZE-BUDGET", "error", False), ("IMG-BUILD-TOOLS", "warning", True)]
    assert "policy.image_size_budget: app:" in proc.stderr and "over the budget of 0.5 MB" in proc.stderr
    assert "nothing was pushed" in proc.stderr and "pushed" not in proc.stderr.replace("nothing was pushed", "")
    assert "Traceback" not in proc.stderr
