"""Rules see through Compose forms: models produced by the real `docker compose config` (v2.40.3)."""

import textwrap

import pytest

from gantry.policy import PolicySettings, check_policy
from tests.policy_cases import HAVE_COMPOSE, REPO, TODAY, compose_config

pytestmark = [pytest.mark.compose, pytest.mark.skipif(not HAVE_COMPOSE, reason="docker compose v2 not installed")]

EXAMPLE_ENV = {"REGISTRY": "registry.example.com", "DB_PASSWORD": "x", "API_TOKEN": "y"}


def check_files(files, level="prod", env=None, **settings):
    model = compose_config(files, env=env)
    raw = compose_config(files, env=env, interpolate=False)
    return check_policy(model, raw, PolicySettings(level=level, **settings), today=TODAY)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def hits(report):
    return sorted((f.rule, f.service, f.path, f.severity) for f in report.findings)


def test_compose_example_prod_passes():
    files = [REPO / "compose/docker-compose.yml", REPO / "compose/docker-compose.prod.yml"]
    report = check_files(files, env=EXAMPLE_ENV, allow_registries=("registry.example.com",))
    assert not report.blocking
    assert [f for f in report.findings if f.severity == "error"] == []
    assert not report.problems
    assert {f.rule for f in report.findings} <= {"IMG-DIGEST-MISSING"}


def test_compose_example_dev_file_blocks_prod_and_passes_dev():
    files = [REPO / "compose/docker-compose.yml", REPO / "compose/docker-compose.dev.yml"]
    prod = check_files(files, env=EXAMPLE_ENV)
    assert prod.blocking
    assert ("PROD-DEV-ARTIFACTS", "web", "services.web.environment.DEBUG", "error") in hits(prod)
    assert ("PORT-HOST-WILDCARD", "web", "services.web.ports[1]", "warn") in hits(prod)
    dev = check_files(files, level="dev", env=EXAMPLE_ENV)
    assert not dev.blocking
    assert ("PORT-HOST-WILDCARD", "web", "services.web.ports[1]", "info") in hits(dev)


def test_compose_privileged_through_default_interpolation(tmp_path):
    f = write(tmp_path, "c.yml", """
        services:
          a:
            image: app:1
            privileged: ${PRIV:-true}
    """)
    assert ("PRIV-PRIVILEGED", "a", "services.a.privileged", "error") in hits(check_files([f]))
    assert "PRIV-PRIVILEGED" not in {x[0] for x in hits(check_files([f], env={"PRIV": "false"}))}


def test_compose_reset_in_override_removes_finding(tmp_path):
    base = write(tmp_path, "base.yml", """
        services:
          a:
            image: app:1
            cap_add: [SYS_ADMIN]
            volumes: ["/var/run/docker.sock:/var/run/docker.sock"]
    """)
    override = write(tmp_path, "override.yml", """
        services:
          a:
            cap_add: !reset []
            volumes: !reset []
    """)
    assert {"CAP-ADD-DANGEROUS", "MOUNT-DOCKER-SOCK"} <= {x[0] for x in hits(check_files([base]))}
    assert not {"CAP-ADD-DANGEROUS", "MOUNT-DOCKER-SOCK"} & {x[0] for x in hits(check_files([base, override]))}


def test_compose_extends_inherits_settings(tmp_path):
    write(tmp_path, "common.yml", """
        services:
          risky:
            image: app:1
            pid: host
            security_opt: ["seccomp=unconfined"]
    """)
    f = write(tmp_path, "c.yml", """
        services:
          a:
            extends: {file: common.yml, service: risky}
    """)
    got = hits(check_files([f]))
    assert ("NS-HOST-PID", "a", "services.a.pid", "error") in got
    assert ("SECOPT-UNCONFINED", "a", "services.a.security_opt[0]", "error") in got


def test_compose_anchors_and_merge_keys(tmp_path):
    f = write(tmp_path, "c.yml", """
        x-danger: &danger
          network_mode: host
          user: root
        services:
          a:
            <<: *danger
            image: app:1
    """)
    got = hits(check_files([f]))
    assert ("NS-HOST-NETWORK", "a", "services.a.network_mode", "error") in got
    assert ("USER-ROOT", "a", "services.a.user", "warn") in got


def test_compose_port_range_expanded(tmp_path):
    f = write(tmp_path, "c.yml", """
        services:
          a:
            image: app:1
            ports: ["1022-1025:1022-1025", "127.0.0.1:2222:22"]
    """)
    got = hits(check_files([f]))
    priv = [x for x in got if x[0] == "PORT-PRIVILEGED"]
    assert [x[2] for x in priv] == ["services.a.ports[0]", "services.a.ports[1]"]
    assert ("SSH-IN-CONTAINER", "a", "services.a.ports[4]", "error") in got
    assert "services.a.ports[4]" not in [x[2] for x in got if x[0] == "PORT-HOST-WILDCARD"]


def test_compose_relative_and_home_binds(tmp_path):
    f = write(tmp_path, "c.yml", """
        services:
          a:
            image: app:1
            volumes:
              - ./data:/data
              - ~/.ssh:/keys:ro
              - /etc/localtime:/etc/localtime:ro
    """)
    got = [x for x in hits(check_files([f])) if x[0].startswith("MOUNT-")]
    assert got == [("MOUNT-HOST-SENSITIVE", "a", "services.a.volumes[1].source", "warn")]


def test_compose_secret_literal_uses_raw_model(tmp_path):
    f = write(tmp_path, "c.yml", """
        services:
          a:
            image: app:1
            environment:
              DB_PASSWORD: ${DB_PASSWORD}
              ADMIN_PASSWORD: ${ADMIN_PASSWORD:-admin}
              DATABASE_URL: postgres://app:hunter2@db/app
    """)
    got = [x for x in hits(check_files([f], env={"DB_PASSWORD": "s3cret"})) if x[0] == "SECRET-ENV-LITERAL"]
    assert [x[2] for x in got] == ["services.a.environment.ADMIN_PASSWORD", "services.a.environment.DATABASE_URL"]


def test_compose_top_level_volume_and_secret_files(tmp_path):
    f = write(tmp_path, "c.yml", """
        services:
          a:
            image: app:1
            volumes: ["hostrun:/host-run"]
            secrets: [sock]
        volumes:
          hostrun:
            driver_opts: {type: none, o: bind, device: /var/run}
        secrets:
          sock:
            file: /var/run/docker.sock
    """)
    got = [x[2] for x in hits(check_files([f])) if x[0] == "MOUNT-DOCKER-SOCK"]
    assert got == ["secrets.sock.file", "volumes.hostrun.driver_opts.device"]


DIFFERENTIAL = {
    "example-prod": ["compose/docker-compose.yml", "compose/docker-compose.prod.yml"],
    "example-dev": ["compose/docker-compose.yml", "compose/docker-compose.dev.yml"],
}
RISKY = """
    x-risky: &risky
      privileged: ${PRIV:-true}
      cap_add: [cap_sys_admin, NET_ADMIN]
      security_opt: ["seccomp=unconfined"]
    services:
      a:
        <<: *risky
        image: registry:5000/app
        ports: ["8000-8002:8000-8002", "127.0.0.1:2222:22", "80"]
        volumes: ["/var/run/docker.sock:/var/run/docker.sock:ro", "./data:/data:rshared", "/etc:/host-etc"]
        environment: [DB_PASSWORD=literal, "TOKEN=${TOKEN:-dflt}", DEBUG=true]
        mem_limit: 512m
        logging: {options: {max-file: 3}}
        command: node --inspect app.js
"""


@pytest.mark.parametrize("files", list(DIFFERENTIAL.values()) + [None], ids=[*DIFFERENTIAL, "risky"])
def test_compose_stage_and_binary_give_same_findings(files, tmp_path):
    """gantry.compose.load_compose and `docker compose config` lead to the same policy report."""
    compose = pytest.importorskip("gantry.compose")
    paths = [REPO / f for f in files] if files else [write(tmp_path, "c.yml", RISKY)]
    sources = [compose.SourceFile(str(p), p.read_text()) for p in paths]
    project_dir = str(paths[0].parent)
    ours = [compose.load_compose(sources, EXAMPLE_ENV.get, project_dir=project_dir, interpolate=i).data
            for i in (True, False)]
    theirs = [compose_config(paths, env=EXAMPLE_ENV, interpolate=i) for i in (True, False)]
    settings = PolicySettings()
    assert hits(check_policy(*ours, settings, today=TODAY)) == hits(check_policy(*theirs, settings, today=TODAY))
