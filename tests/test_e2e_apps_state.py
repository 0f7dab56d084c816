"""App matrix on two lab hosts: a named volume whose data outlives every release, service churn, profiles.
Each app: deploy v1, v2, a broken v3 (exit 3, hosts stay on v2), rollback to v1, hosts checked over SSH."""

from __future__ import annotations

import pytest

from tests.apptools import deploy, make_app, rollback, ssh, story

pytestmark = pytest.mark.e2e


def test_e2e_app_named_volume_data_survives_everything(apps_lab, apps_lab_root, tmp_path):
    """v1's data is there after v2, the failed v3 and the rollback; no deploy, rollback or prune removes it."""
    app = make_app(tmp_path, "volume", apps_lab_root, keep=2)
    volume = f"{app.project}_data"

    def data(host) -> list[str]:
        out = ssh(apps_lab, host, "docker", "run", "--rm", "-v", f"{volume}:/data:ro", "--entrypoint", "cat",
                  f"{apps_lab.registry}/gantry-example/worker:1.0.0", "/data/log")
        assert out.returncode == 0, out.stderr
        return out.stdout.splitlines()

    want = {"v1": ["written by v1"], "v2": ["written by v1", "written by v2"],
            "v3": ["written by v1", "written by v2", "written by v3", "written by v2"],
            "rollback": ["written by v1", "written by v2", "written by v3", "written by v2", "written by v1"]}

    def check(stage, seen):
        for host in apps_lab.hosts:
            assert data(host) == want[stage], (stage, host.name)

    ids = story(app, apps_lab, {"store": 1}, failing="store", check=check)
    # keep_releases: 2 prunes old releases on later deploys; the volume and its data stay
    deploy(app, "4")
    doc, _ = deploy(app, "5")
    for host in apps_lab.hosts:
        kept = ssh(apps_lab, host, "ls", f"{app.base}/releases").stdout.split()
        assert ids["v1"] not in kept and doc["release"] in kept, kept
        assert ssh(apps_lab, host, "docker", "volume", "inspect", volume).returncode == 0
        assert data(host)[:2] == ["written by v1", "written by v2"] and data(host)[-1] == "written by v5"


def test_e2e_app_service_churn(apps_lab, apps_lab_root, tmp_path):
    """v2 drops `legacy` and adds `fresh`: after v2 legacy's containers are gone; after the rollback to v1
    legacy is back and fresh is gone."""
    app = make_app(tmp_path, "churn", apps_lab_root)

    def check(stage, seen):
        for by_service in seen.values():
            assert set(by_service) == ({"app", "legacy"} if stage in ("v1", "rollback") else {"app", "fresh"}), stage

    def switching_check(stage, seen):
        check(stage, seen)
        if stage == "v1":
            app.configure(compose_files=("compose/docker-compose.v2.yml",))

    story(app, apps_lab, {"app": 1, "legacy": 1}, failing="app", check=switching_check,
          v2_services={"app": 1, "fresh": 1})


def test_e2e_app_profiles(apps_lab, apps_lab_root, tmp_path):
    """`debug` is in a profile: never started until the environment's `profiles:` names it."""
    app = make_app(tmp_path, "profiles", apps_lab_root)

    def check(stage, seen):
        for by_service in seen.values():
            assert ("debug" in by_service) == (stage in ("v2", "v3")), (stage, sorted(by_service))
        if stage == "v1":
            app.configure(extra="profiles: [debug]\n")

    story(app, apps_lab, {"app": 1}, failing="app", check=check, v2_services={"app": 1, "debug": 1})
    doc, _ = rollback(app, check=0)  # back to v2, with its profile
    for host in apps_lab.hosts:
        out = ssh(apps_lab, host, "docker", "ps", "--filter", f"label=com.docker.compose.project={app.project}",
                  "--format", "{{.Label \"com.docker.compose.service\"}}").stdout.split()
        assert sorted(out) == ["app", "debug"], out


def test_e2e_app_env_file_values_reach_the_containers(apps_lab, apps_lab_root, tmp_path):
    """env_file values are inlined as Compose inlines them; a key that secrets.example.env names stays ${NAME}
    in the host's compose.yaml and its value lives only in the release's 0600 .env; a changed env file is a new
    release, and a rollback brings the old values back."""
    import json

    app = make_app(tmp_path, "envfile", apps_lab_root)
    (app.root / "secrets.example.env").write_text("DB_PASSWORD=change-me\n")
    secret = "envfile-secret-5c2e81d7"

    def env_on(host) -> dict[str, str]:
        out = ssh(apps_lab, host, "docker", "inspect", "--", f"{app.project}-app-1")
        assert out.returncode == 0, out.stderr
        return dict(e.split("=", 1) for e in json.loads(out.stdout)[0]["Config"]["Env"])

    first, err = deploy(app, "1")
    assert secret not in err
    for host in apps_lab.hosts:
        env = env_on(host)
        assert (env["LOG_LEVEL"], env["GREETING"], env["QUOTED"], env["DB_PASSWORD"], env["VERSION"]) == \
            ("debug", "hello world", "a b#c", secret, "1"), (host.name, env)
        rel = f"{app.base}/releases/{first['release']}"
        text = ssh(apps_lab, host, "cat", f"{rel}/compose.yaml").stdout
        assert "${DB_PASSWORD}" in text and secret not in text and "LOG_LEVEL: debug" in text, text
        assert ssh(apps_lab, host, "stat", "-c", "%a", f"{rel}/.env").stdout.strip() == "600"
    (app.root / "compose" / "optional.env").write_text("LOG_LEVEL=warn\n")  # a later file wins
    second, _ = deploy(app, "1")
    assert second["release"] != first["release"] and second["outcome"] == "ok", second
    assert {env_on(h)["LOG_LEVEL"] for h in apps_lab.hosts} == {"warn"}
    doc, _ = rollback(app)
    assert doc["release"] == first["release"], doc
    assert {env_on(h)["LOG_LEVEL"] for h in apps_lab.hosts} == {"debug"}
