"""Property suite for issue 12: generated environment files, compose files, env files and flags.

For any input, every offline task ends with exit 0, 1 or 2, prints no traceback, never prints a secret
canary, and writes nothing outside the paths the user named (a bundle's --out directory, and the
environment's fingerprint key under .gantry/keys). Tasks run in-process (tests/hostiletools.py).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import hostiletools
from tests.hostiletools import CANARY_API, CANARY_DB, run_task, snapshot

project = hostiletools.project  # the fixture: a copy of the example project with its secrets

# Derandomized so CI runs the same examples every time; GANTRY_HOSTILE_EXAMPLES=500 explores further by hand.
EXAMPLES = int(os.environ.get("GANTRY_HOSTILE_EXAMPLES", "0"))
SETTINGS = settings(max_examples=EXAMPLES or 20, deadline=None, derandomize=not EXAMPLES,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
# what a task may create: the fingerprint key, the schema cache (compose.validcache); the --out the test names
ALLOWED = (".gantry/keys", ".gantry/cache", "out")

TRICKY = ["1.10", "0777", "1:30", "yes", "off", "~", "null", ".nan", "-.inf", "1e400", "-1", "0", "2026-13-45",
          "!!int abc", "!!python/object/apply:os.system [id]", "!!binary aGk=", "*nope", "&a x", "[1, 2]",
          "{a: 1}", "'q'", '"\\0"', '"\\x00"', "\t", "${DB_PASSWORD}", "- x", "../../x", "-x", "|", ">", "%x",
          "@x", "`x`", "!reset", "!override x", "<<: *a", "? x", "é", "\U0001f600", "'", '"', "#", "a: b: c"]
KEYS = ["project", "deploy_path", "compose_files", "profiles", "variables", "secrets_file", "ssh", "health",
        "rollout", "keep_releases", "confirm", "policy", "hooks", "inventory", "x-extra"]
NESTED = {"ssh": ["known_hosts", "connect_timeout", "command_timeout", "connect_retries"],
          "health": ["timeout", "interval", "settle", "margin"], "rollout": ["batch_size", "max_parallel", "rollback"],
          "policy": ["level", "rules", "allow_registries", "waivers"], "variables": ["WEB_TAG", "APP_VERSION", "X"]}

scalar = st.one_of(st.sampled_from(TRICKY), st.text(max_size=12), st.integers(-10**6, 10**6).map(str))


@st.composite
def environment_files(draw) -> bytes:
    """An environments/<env>.yml: mostly the real shape with hostile values, sometimes raw bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    lines = ["project: gantry-example", "deploy_path: /srv/gantry"] if draw(st.booleans()) else []
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=6)):
        if key in NESTED and draw(st.booleans()):
            lines.append(f"{key}:")
            lines += [f"  {sub}: {draw(scalar)}" for sub in draw(st.lists(st.sampled_from(NESTED[key]), max_size=3))]
        else:
            lines.append(f"{key}: {draw(scalar)}")
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


@st.composite
def compose_edits(draw) -> bytes:
    """The real compose file with lines replaced or inserted, or raw bytes."""
    base = (Path(__file__).resolve().parent.parent / "compose/docker-compose.yml").read_text().splitlines()
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(base) - 1))
        indent = " " * draw(st.sampled_from([0, 2, 4, 6]))
        text = indent + draw(st.sampled_from(["", "image: ", "web: ", "- ", "services: ", "x: "])) + draw(scalar)
        if draw(st.booleans()):
            base[i] = text
        else:
            base.insert(i, text)
    return ("\n".join(base) + "\n").encode("utf-8", "surrogatepass")


env_text = st.text(alphabet=st.sampled_from(list("AB_=#'\"\\$ \n\tx{}é")), max_size=40)


def check(ran, root: Path, before: dict) -> None:
    assert ran.code in (0, 1, 2), ran.text
    assert "Traceback" not in ran.text, ran.text
    assert CANARY_DB not in ran.text and CANARY_API not in ran.text, ran.text
    after = snapshot(root)
    changed = {k for k in after if after[k] != before.get(k)} | (set(before) - set(after))
    assert all(k == ".gantry" or k.startswith(ALLOWED) for k in changed), sorted(changed)


def run_all(root: Path, tasks) -> None:
    before = snapshot(root)
    for argv in tasks:
        check(run_task(root, *argv), root, before)
        shutil.rmtree(root / "out", ignore_errors=True)


OFFLINE = [("envs",), ("validate", "--env", "h"), ("render", "--env", "h"), ("check", "--env", "h"),
           ("render", "--env", "h", "--out", "out")]


@SETTINGS
@given(text=environment_files())
def test_hostile_property_environment_files(project, text):
    (project / "environments/h.yml").write_bytes(text)
    (project / "secrets.h.env").write_text(f"DB_PASSWORD={CANARY_DB}\nAPI_TOKEN={CANARY_API}\n")
    (project / "secrets.h.env").chmod(0o600)
    run_all(project, OFFLINE)


@SETTINGS
@given(text=compose_edits(), which=st.sampled_from(["compose/docker-compose.yml", "compose/docker-compose.prod.yml"]))
def test_hostile_property_compose_files(project, text, which):
    original = (project / which).read_bytes()
    (project / which).write_bytes(text)
    try:
        run_all(project, [("validate", "--env", "prod"), ("render", "--env", "prod"), ("check", "-f", which),
                          ("compose.config", "-f", which)])
    finally:
        (project / which).write_bytes(original)


@SETTINGS
@given(secrets=env_text, example=env_text, dotenv=env_text)
def test_hostile_property_env_files(project, secrets, example, dotenv):
    path = project / "secrets.prod.env"
    path.write_text(f"DB_PASSWORD={CANARY_DB}\n{secrets}\nAPI_TOKEN={CANARY_API}\n")
    path.chmod(0o600)
    (project / "secrets.example.env").write_text(f"DB_PASSWORD=change-me\nAPI_TOKEN=change-me\n{example}\n")
    (project / "x.env").write_text(dotenv)
    run_all(project, [("validate", "--env", "prod"), ("render", "--env", "prod", "--out", "out"),
                      ("compose.config", "-f", "compose/docker-compose.yml", "--env-file", "x.env")])


FLAG_WORDS = ["--env", "prod", "h", "--out", "-", "out", "--format", "json", "sarif", "xml", "-f", "/dev/null",
              "compose/docker-compose.yml", "--level", "production", "lab", "--limit", "abc", "-1", "--lock-wait",
              "nan", "--to", "../x", "--service", "-f", "--lines", "1e3", "--help", "--list", "--bogus", "--", "=",
              "../../x", "--allow-registry", "--no-interpolate", "--json", "--host"]
TASKS = ["envs", "validate", "render", "check", "compose.config", "plan", "nope", "--list", "--help"]


@settings(SETTINGS, max_examples=EXAMPLES or 50)
@given(task=st.sampled_from(TASKS), words=st.lists(st.one_of(st.sampled_from(FLAG_WORDS), st.text(max_size=8)),
                                                   max_size=5))
def test_hostile_property_flags(project, task, words):
    argv = [task, *words]
    if task == "plan" and "--env" in words:
        argv = [task, *(w for w in words if w not in ("prod", "--env"))]  # plan with hosts would connect
    run_all(project, [argv])
