"""Offline: images.transfer (what a host must receive) and gantry build (specs, tags, build-tool findings)."""

from __future__ import annotations

import datetime

import pytest

from gantry import build
from gantry.config import bind_environment
from gantry.engines.hosts import commands
from gantry.errors import ConfigError, ProblemList
from gantry.remote import transfer
from gantry.shell import render

BASE = "project: app\ndeploy_path: /srv/app\n"
WEB, WORKER = "10.0.0.1:5000/app/web:1.0", "10.0.0.1:5000/app/worker:1.0"
A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


@pytest.mark.parametrize("text, want", [
    (f"{WEB} {A}\n{WORKER} -\n", {WEB: A}),
    (f"{WEB} {A}\n{WORKER} {B}\n", {WEB: A, WORKER: B}),
    ("\nnoise\n", {}),
    (f"{WEB} not-an-id\n", {}),
], ids=["one-absent", "both", "junk", "bad-id"])
def test_transfer_parse_image_ids(text, want):
    assert transfer.parse_image_ids(text) == want


@pytest.mark.parametrize("present, want", [
    ({}, [WEB, WORKER]),
    ({WEB: A}, [WORKER]),
    ({WEB: A, WORKER: B}, []),
    ({WEB: B, WORKER: B}, [WEB]),
], ids=["host-empty", "one-missing", "all-present", "same-tag-other-id"])
def test_transfer_sends_only_what_the_host_lacks(present, want):
    assert transfer.to_send({WEB: A, WORKER: B}, present) == want


def test_transfer_image_ids_command_never_fails_and_quotes_each_ref():
    text = render(transfer.image_ids(["reg/a b:1"]))
    assert text == ("{ docker image inspect --format 'reg/a b:1 {{.Id}}' 'reg/a b:1' 2> /dev/null"
                    " || echo 'reg/a b:1' -; }")


@pytest.mark.parametrize("docker_host, environ, want", [
    ("", {"DOCKER_HOST": "unix:///x.sock"}, "unix:///x.sock"),
    ("ssh://root@b", {"DOCKER_HOST": "unix:///x.sock"}, "ssh://root@b"),
    ("", {}, "the local Docker Engine"),
], ids=["process-env", "config-wins", "default"])
def test_transfer_engine_is_the_config_then_docker_host_then_local(docker_host, environ, want):
    assert transfer.engine_name(docker_host, environ) == want


@pytest.mark.parametrize("text, want", [
    (BASE + "images: {transfer: rsync}\n", "images.transfer: unknown transfer 'rsync'"),
    (BASE + "images: {tranfser: ssh}\n", "did you mean 'transfer'?"),
    (BASE + "images: {size_budget_mb: big}\n", 'images.size_budget_mb: expected a number, got "big"'),
], ids=["unknown-transfer", "misspelt", "budget-type"])
def test_config_images_keys_are_checked(text, want):
    with pytest.raises(ProblemList) as exc:
        bind_environment(text, "environments/prod.yml")
    assert any(want in str(p) for p in exc.value.problems), exc.value.problems


def test_config_images_defaults_pull_from_a_registry():
    env = bind_environment(BASE, "environments/prod.yml")
    assert env.images.transfer == "registry" and env.images.push and not env.images.size_budget_mb


SERVICES = {
    "web": {"image": "reg/shop/web:2", "build": {"context": "/src/web", "dockerfile": "Dockerfile", "target": "prod"}},
    "db": {"image": "postgres:16"},
    "job": {"build": {"context": "/src/job", "dockerfile": "/src/job/Containerfile"}},
}


@pytest.mark.parametrize("target, want", [
    ("", [build.BuildSpec("job", "shop-prod-job", "/src/job", "/src/job/Containerfile", ""),
          build.BuildSpec("web", "reg/shop/web:2", "/src/web", "Dockerfile", "prod")]),
    ("release", [build.BuildSpec("job", "shop-prod-job", "/src/job", "/src/job/Containerfile", "release"),
                 build.BuildSpec("web", "reg/shop/web:2", "/src/web", "Dockerfile", "release")]),
], ids=["service-targets", "environment-target-wins"])
def test_build_specs_only_services_with_build(target, want):
    assert build.build_specs(SERVICES, "shop-prod", target, "environments/prod.yml") == want


def test_build_specs_refuse_an_inline_dockerfile():
    with pytest.raises(ConfigError, match="dockerfile_inline"):
        build.build_specs({"x": {"build": {"context": "/c", "dockerfile_inline": "FROM scratch"}}}, "p", "", "e.yml")


@pytest.mark.parametrize("image, rid, want", [
    ("reg:5000/shop/web:2", "20261201T101010Z-ab12", "reg:5000/shop/web:20261201T101010Z-ab12"),
    ("reg:5000/shop/web", "r1", "reg:5000/shop/web:r1"),
    ("shop/web@sha256:" + "c" * 64, "r+1", "shop/web:r-1"),
], ids=["tagged-with-port", "untagged", "digest-and-bad-char"])
def test_build_release_tag(image, rid, want):
    assert build.release_tag(image, rid) == want


def test_build_argv_with_target_and_a_path_with_spaces():
    spec = build.BuildSpec("web", "reg/web:1", "/my app", "Dockerfile", "prod")
    assert build.build_argv(spec, ("reg/web:1", "reg/web:r1")) == [
        "docker", "build", "--quiet", "--file", "/my app/Dockerfile", "--tag", "reg/web:1", "--tag", "reg/web:r1",
        "--target", "prod", "/my app"]


@pytest.mark.parametrize("paths, want", [
    (["bin/busybox", "app.sh", "etc/"], []),
    (["usr/bin/gcc-12", "usr/bin/make"], ["a C compiler (gcc)", "make"]),
    (["./var/cache/apt/archives/libc6_2.36.deb", "/root/.cache/pip/http/x"],
     ["the apt package cache", "the pip cache"]),
    (["var/cache/apt/archives/partial/"], []),
], ids=["clean", "compiler-and-make", "caches-with-prefixes", "empty-cache-dir"])
def test_build_finds_build_tools_in_image_files(paths, want):
    assert build.find_build_tools(paths) == want


def _built(size: int, tools: tuple[str, ...] = ()) -> build.Built:
    return build.Built(build.BuildSpec("web", "reg/web:1", "/c", "Dockerfile", "prod"), ("reg/web:1",), size, 2, tools)


@pytest.mark.parametrize("built, budget, prod, want", [
    ([_built(2_000_000)], 50, True, []),
    ([_built(60_000_000)], 50, True,
     ["e.yml: images.size_budget_mb: web: reg/web:1 is 60.0 MB, over the budget of 50 MB"]),
    ([_built(60_000_000)], 0, True, []),
    ([_built(1, ("make",))], 0, True, ["web: reg/web:1 (target prod) contains make: build in a stage and copy only "
                                        "the result into the prod stage"]),
    ([_built(1, ("make",))], 0, False, []),
], ids=["within", "over", "no-budget", "tools-in-prod", "tools-outside-prod"])
def test_build_policy_warnings(built, budget, prod, want):
    assert build.budget_warnings(built, budget, prod=prod, source="e.yml") == want


@pytest.mark.parametrize("policy, built, want", [
    ("{image_size_budget: 50MB}", [_built(60_000_000)],
     ["e.yml: policy.image_size_budget: web: reg/web:1 is 60.0 MB, over the budget of 50 MB"]),
    ("{image_size_budget: 100MiB}", [_built(60_000_000)], []),
    ("{level: lab}", [_built(1, ("make",))], []),
    ("{waivers: [{rule: IMG-BUILD-TOOLS, service: web, reason: a debug image}]}", [_built(1, ("make",))], []),
    ("{rules: {IMG-BUILD-TOOLS: info}}", [_built(1, ("make",))], []),
], ids=["budget-in-decimal-MB", "budget-in-MiB", "lab-skips-tools", "waived", "lowered-to-info"])
def test_build_policy_warnings_from_the_environment(policy, built, want):
    """`gantry build` judges with the environment's policy: its budget key, level, overrides and waivers."""
    from gantry.policy import settings_for
    from gantry.policy.built import check_built

    env = bind_environment(BASE + f"policy: {policy}\n", "e.yml")
    report = check_built(build.judged(built), settings_for(env), today=datetime.date(2026, 12, 1))
    assert build.policy_lines(report, "e.yml") == want


def test_build_policy_override_to_error_blocks():
    from gantry.policy import settings_for
    from gantry.policy.built import check_built

    env = bind_environment(BASE + "policy: {image_size_budget: 1MB, rules: {IMG-SIZE-BUDGET: error}}\n", "e.yml")
    report = check_built(build.judged([_built(2_000_000)]), settings_for(env), today=datetime.date(2026, 12, 1))
    assert report.blocking and build.policy_lines(report, "e.yml", "error") == [
        "e.yml: policy.image_size_budget: web: reg/web:1 is 2.0 MB, over the budget of 1 MB"]


@pytest.mark.parametrize("text, want", [
    (BASE + "policy: {image_size_budget: huge}\n", 'policy.image_size_budget: "huge" is not a size'),
    (BASE + "policy: {image_size_budget: 200MB}\nimages: {size_budget_mb: 50}\n",
     "images.size_budget_mb: is set, and so is policy.image_size_budget"),
], ids=["not-a-size", "both-keys"])
def test_config_image_size_budget_is_checked(text, want):
    with pytest.raises(ProblemList) as exc:
        bind_environment(text, "environments/prod.yml")
    assert any(want in str(p) for p in exc.value.problems), exc.value.problems


def test_shell_command_is_compose_exec_with_a_tty_on_the_release():
    layout = commands.Layout("/srv/g/app/prod")
    assert render(commands.shell_in_service("app-prod", layout, "r1", "web", ("sh", "-l"))) == (
        "docker compose -p app-prod --project-directory /srv/g/app/prod/releases/r1 -f "
        "/srv/g/app/prod/releases/r1/compose.yaml --env-file /srv/g/app/prod/releases/r1/.env exec -- web sh -l")
