"""compose.validcache: a tree that passed the schema is not validated again; nothing else changes."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys

import pytest

from gantry.compose import validcache
from tests.labtools import copy_project

SECRETS = {"DB_PASSWORD": "canary-db-validcache-5d1e", "API_TOKEN": "canary-api-validcache-77c3"}


def validate(project, env=None):
    """`inv validate --env prod` with the import log: (process, whether jsonschema was imported)."""
    base = {k: v for k, v in os.environ.items() if k not in SECRETS}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "invoke", "validate", "--env", "prod"],
                          cwd=project, capture_output=True, text=True, env={**base, **SECRETS, **(env or {})},
                          timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc, any(line.rstrip().endswith("jsonschema") for line in proc.stderr.splitlines())


@pytest.fixture
def project(tmp_path):
    return copy_project(tmp_path)


def test_validcache_a_second_validate_skips_jsonschema_and_a_typo_is_found_every_time(project):
    first, imported = validate(project)
    assert first.returncode == 0 and imported
    second, imported = validate(project)
    assert second.returncode == 0 and "prod: valid" in second.stdout and not imported
    changed, imported = validate(project, env={"APP_VERSION": "7"})
    assert changed.returncode == 0 and imported  # another value in the tree: validated again
    compose = project / "compose/docker-compose.yml"
    compose.write_text(compose.read_text().replace("restart:", "restrat:", 1))
    for _ in range(2):  # a tree with a problem is never recorded
        bad, imported = validate(project)
        assert bad.returncode == 1 and imported
        assert 'unknown key "restrat" (did you mean "restart"?)' in bad.stderr


def test_validcache_file_is_private_and_holds_no_secret(project):
    assert validate(project)[0].returncode == 0
    path = validcache.cache_path(project, "prod")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text()
    lines = text.splitlines()
    assert lines[0] == "gantry valid-trees 1" and len(lines) >= 2
    assert all(len(line) == 64 for line in lines[1:])
    for value in SECRETS.values():
        assert value not in text and hashlib.sha256(value.encode()).hexdigest() not in text


def test_validcache_never_writes_through_a_link(project, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (project / ".gantry").mkdir(exist_ok=True)
    (project / ".gantry/cache").symlink_to(elsewhere)
    assert validate(project)[0].returncode == 0
    assert list(elsewhere.iterdir()) == []
    (project / ".gantry/cache").unlink()
    (project / ".gantry/cache").mkdir()
    target = tmp_path / "target"
    target.write_text("not a cache\n")
    validcache.cache_path(project, "prod").symlink_to(target)
    _, imported = validate(project)
    assert imported and target.read_text() == "not a cache\n"
    assert not validcache.cache_path(project, "prod").is_symlink()  # replaced by our own file
    assert not validate(project)[1]


def test_validcache_a_damaged_file_is_ignored_and_rewritten(project):
    path = validcache.cache_path(project, "prod")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xff\x00garbage\n" + b"a" * 64 + b"\n")
    proc, imported = validate(project)
    assert proc.returncode == 0 and imported
    assert path.read_text().startswith("gantry valid-trees 1\n")


TREES = [{"a": 1}, {"a": "1"}, {"a": True}, {"a": 1.0}, {"a": None}, {"a": [1]}, {"a": {"1": 1}}, {1: "a"},
         {"a": [1, 2]}, {"a": [[1], 2]}, {"a": [[1, 2]]}, {"a": ""}, {"a": "", "b": ""}, {"a,b": ""}]


def test_validcache_digest_tells_every_tree_apart():
    trees = validcache.ValidTrees(b"k" * 32, "schema")
    digests = [trees.digest(t) for t in TREES]
    assert None not in digests and len(set(digests)) == len(TREES)


def test_validcache_digest_depends_on_key_and_schema_and_refuses_other_types():
    tree = {"services": {"web": {"image": "x", "ports": ["80:80"]}}}
    one = validcache.ValidTrees(b"k" * 32, "schema").digest(tree)
    assert one == validcache.ValidTrees(b"k" * 32, "schema").digest(tree)
    assert one != validcache.ValidTrees(b"j" * 32, "schema").digest(tree)
    assert one != validcache.ValidTrees(b"k" * 32, "schema2").digest(tree)
    trees = validcache.ValidTrees(b"k" * 32, "schema")
    assert trees.digest({"a": (1,)}) is None and trees.digest({"a": {1, 2}}) is None
    assert trees.digest({"a": b"x"}) is None


def test_validcache_keeps_the_newest_digests():
    trees = validcache.ValidTrees(b"k" * 32, "schema", [f"{i:064x}" for i in range(validcache.KEEP)])
    trees.add("f" * 64)
    kept = trees.digests()
    assert len(kept) == validcache.KEEP and kept[-1] == "f" * 64 and f"{0:064x}" not in kept
