"""Blue/green on two lab hosts: a bounded request loop against every host's proxy port during `inv deploy` of
v2, a failed v3 and `inv rollback` counts zero failed requests, and the answers switch v1 -> v2 -> v1; the
same loop against the same app deployed in place (the hosts engine) is printed beside it, not asserted."""

from __future__ import annotations

import json
import shutil

import pytest

from bench.loop import RequestLoop
from tests.apptools import APPS, App, deploy, inv, rollback, ssh
from tests.labtools import REPO

pytestmark = pytest.mark.e2e

PUBLISH = 8081  # the proxy's port; the in-place copy publishes 8080 itself


def _app(tmp_path, name: str, lab_root, extra: str) -> App:
    root = tmp_path / name
    (root / "environments").mkdir(parents=True)
    shutil.copy(REPO / "tasks.py", root / "tasks.py")
    shutil.copytree(APPS / "bluegreen", root / "compose")
    app = App(name, root, lab_root)
    app.configure(extra=extra)
    return app


def _state(lab, host, app: App) -> dict:
    out = ssh(lab, host, "cat", f"{app.base}/proxy/state.json")
    return json.loads(out.stdout) if out.returncode == 0 else {}


def _colours(lab, host, app: App) -> dict[str, str]:
    """colour -> the state of its web container, read on the host."""
    out = {}
    for colour in ("blue", "green"):
        names = ssh(lab, host, "docker", "ps", "-a", "--filter", f"label=com.docker.compose.project={app.project}-_"
                    f"{colour}", "--format", "{{.State}}").stdout.split()
        out[colour] = ",".join(names) or "none"
    return out


def test_e2e_bluegreen_deploys_and_rolls_back_without_a_failed_request(apps_lab, apps_lab_root, tmp_path, capsys):
    from gantry.lab.images import proxy_image

    image = proxy_image(apps_lab.registry)
    if not image:
        pytest.skip("no proxy image in the lab registry (install Debian's caddy: scripts/setup.sh does)")
    app = _app(tmp_path, "bluegreen", apps_lab_root, "engine: bluegreen\n"
               f"proxy_image: {image}\nproxy:\n  web: {{port: 8080, publish: {PUBLISH}, drain: 1s}}\n")
    addresses = [h.address for h in apps_lab.hosts]
    doc, _ = deploy(app, "1")
    assert doc["outcome"] == "ok", doc
    v1 = doc["release"]
    for host in apps_lab.hosts:
        assert _state(apps_lab, host, app) == {"colour": "blue", "release": v1}
        # a reload hands the connections queued on Caddy's old listener to the new one (no reset)
        migrate = ssh(apps_lab, host, "docker", "compose", "-p", f"{app.project}-_proxy", "exec", "-T", "proxy",
                      "cat", "/proc/sys/net/ipv4/tcp_migrate_req")
        assert migrate.stdout.strip() == "1", migrate

    with RequestLoop(addresses, PUBLISH) as loop:
        doc, _ = deploy(app, "2")
    assert doc["outcome"] == "ok", doc
    v2 = doc["release"]
    lines = [loop.line("blue/green deploy v2")]
    assert loop.failed == 0 and all(t.answers == ["1", "2"] for t in loop.tallies.values()), lines
    for host in apps_lab.hosts:
        assert _state(apps_lab, host, app) == {"colour": "green", "release": v2}
        assert _colours(apps_lab, host, app) == {"blue": "exited", "green": "running"}

    with RequestLoop(addresses, PUBLISH) as loop:
        doc, err = deploy(app, "3", broken=True, check=3)
    lines.append(loop.line("blue/green failed v3"))
    assert {h["failing_service"] for h in doc["hosts"]} == {"web"} and "Traceback" not in err, doc
    assert loop.failed == 0 and all(t.answers == ["2"] for t in loop.tallies.values()), lines
    for host in apps_lab.hosts:  # the proxy never moved; the failed colour is gone, the stopped one stays
        assert _state(apps_lab, host, app) == {"colour": "green", "release": v2}
        assert _colours(apps_lab, host, app) == {"blue": "none", "green": "running"}

    with RequestLoop(addresses, PUBLISH) as loop:
        doc, _ = rollback(app)
    lines.append(loop.line("blue/green rollback"))
    assert doc["outcome"] == "ok" and doc["release"] == v1, doc
    assert loop.failed == 0 and all(t.answers == ["2", "1"] for t in loop.tallies.values()), lines
    for host in apps_lab.hosts:
        assert _state(apps_lab, host, app) == {"colour": "blue", "release": v1}
        log = ssh(apps_lab, host, "docker", "run", "--rm", "-v", f"{app.project}_data:/data:ro", "--entrypoint",
                  "cat", f"{apps_lab.registry}/gantry-example/worker:1.0.0", "/data/log").stdout.split("\n")
        assert log[:2] == ["written by v1", "written by v2"], log  # the in-place store kept its data

    status = inv(app, "status", "--env", "lab", "--json", check=0)
    hosts = json.loads(status.stdout)["hosts"]
    assert {h.get("colour") for h in hosts} == {"blue"} and all(str(PUBLISH) in h.get("proxy", "") for h in hosts)
    logs = inv(app, "logs", "--env", "lab", "--service", "web", "--lines", "3", check=0).stdout
    live = [part.partition(f"-- {app.project}-_blue --")[2].partition("-- ")[0] for part in logs.split("== ")[1:]]
    assert len(live) == len(apps_lab.hosts) and all("gantry example web 1: listening" in t for t in live), logs
    # exec finds a proxied service in its live colour's project, an unproxied one in the base project
    web = inv(app, "exec", "--env", "lab", "--service", "web", "--", "cat", "/tmp/www/version", check=0).stdout
    assert [part.split("\n", 1)[1].strip() for part in web.split("== ")[1:]] == ["1"] * len(apps_lab.hosts), web
    store = inv(app, "exec", "--env", "lab", "--service", "store", "--", "cat", "/data/log", check=0).stdout
    assert store.count("(exit 0) ==") == len(apps_lab.hosts) and "written by v1" in store, store

    # The same app deployed in place (the hosts engine), v1 then v2, under the same loop: printed, not asserted.
    plain = _app(tmp_path, "inplace", apps_lab_root, "")
    deploy(plain, "1")
    with RequestLoop(addresses, 8080) as loop:
        deploy(plain, "2")
    lines.append(loop.line("in place deploy v2 (for comparison)"))
    with capsys.disabled():
        print("\n" + "\n".join(lines))
