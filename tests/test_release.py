import datetime
import io
import tarfile

import pytest

from gantry.engines.hosts.session import bundle_tar
from gantry.release import content_hash, hash_of_release_id, make_release
from gantry.release import previous_release as _previous_of
from gantry.release import releases_to_prune as _to_prune

NOW = datetime.datetime(2026, 11, 25, 12, 0, 0, tzinfo=datetime.timezone.utc)


def release(compose="services: {}\n", env="A='x'\n", now=NOW):
    return make_release(environment="prod", project="app", compose_yaml=compose, env_file=env, sources=(),
                        images={"web": "r/web:1"}, secret_fingerprints={"A": "abc"}, git_commit="c0ffee", now=now,
                        who="ci")


def test_release_id_is_time_plus_content_hash():
    r = release()
    assert r.id == f"20261125T120000Z-{r.content_hash}" and hash_of_release_id(r.id) == r.content_hash


def test_release_same_content_same_hash_any_time():
    later = NOW + datetime.timedelta(hours=1)
    assert release().content_hash == release(now=later).content_hash
    assert release().id != release(now=later).id


def test_release_secret_change_changes_hash():
    assert content_hash("c", "A='1'\n") != content_hash("c", "A='2'\n")


def test_release_repr_hides_env_file():
    assert "x'" not in repr(release(env="A='x'\n"))


def test_release_bundle_tar_keeps_env_private():
    with tarfile.open(fileobj=io.BytesIO(bundle_tar(release())), mode="r") as tar:
        modes = {m.name: m.mode for m in tar.getmembers()}
    assert modes == {".env": 0o600, ".env.sha256": 0o600, "compose.yaml": 0o644, "manifest.json": 0o644}


def test_release_content_hash_keys_the_env_part():
    # with a key, the public content hash cannot confirm a guessed .env; the host checks .env.sha256 instead
    assert content_hash("c", "A='1'\n", b"k" * 32) != content_hash("c", "A='1'\n")
    assert content_hash("c", "A='1'\n", b"k" * 32) != content_hash("c", "A='1'\n", b"j" * 32)


def test_release_prune_never_removes_current_or_previous():
    kept = [f"2026010{i}T000000Z-aaaaaaaaaa" for i in range(1, 8)]
    prune = _to_prune(kept, kept[-1], kept[-1], kept[0], keep=3)
    assert kept[0] not in prune and kept[-1] not in prune
    assert set(prune) == set(kept[1:4])


def test_release_previous_of_current():
    kept = ["A1", "A2", "A3"]
    assert _previous_of(kept, "A3") == "A2" and _previous_of(kept, "A1") == "" and _previous_of([], "") == ""


def test_release_previous_skips_failed_releases():
    kept = ["A1", "A2", "A3"]
    assert _previous_of(kept, "A3", {"A2": False, "A1": True}) == "A1"


def _rid(stamp: str, chash: str) -> str:
    return f"20261125T{stamp}Z-{chash * 10}"


V1, V2, V1B, V2B = _rid("100000", "a"), _rid("110000", "b"), _rid("120000", "a"), _rid("130000", "b")


def _rec(release, outcome="deployed", previous=""):
    return {"release": release, "outcome": outcome, "previous": previous}


@pytest.mark.parametrize("records, releases, current, want", [
    ([_rec(V1), _rec(V2)], [V1, V2], V2, V1),
    ([_rec(V1), _rec(V2), _rec(V1, previous=V2), _rec(V2B, previous=V1)], [V1, V2, V2B], V2B, V1),
    ([_rec(V1), _rec(V2), _rec(V1B)], [V1, V2, V1B], V1B, V2),
    ([_rec(V1), _rec(V2), _rec(V1B, "rolled-back", previous=V2)], [V1, V2, V1B], V2, V1),
    ([_rec(V1), _rec(V2), _rec(V2, "unchanged")], [V1, V2], V2, V1),
    ([], [V1, V2, V2B], V2B, V1),
    ([_rec(V1)], [V1], V1, ""),
    # an audit line of an older Gantry named an id no host kept (a repair deploy): passed over
    ([_rec(V1), _rec(V2), _rec(V2B), _rec(V2, "unchanged")], [V1, V2], V2, V1),
    # the release live before was pruned: the one before it
    ([_rec(V1), _rec(V1B), _rec(V2)], [V1, V2], V2, V1),
], ids=["v1-v2", "v1-v2-back-v2-again-skips-same-content", "back-and-forth", "failed-deploy-not-live",
        "unchanged-not-a-change", "no-audit-falls-back-on-kept", "nothing-before", "unkept-id-in-audit",
        "pruned-previous"])
def test_release_rollback_target_is_what_ran_before(records, releases, current, want):
    from gantry.release import rollback_target

    assert rollback_target(records, releases, current) == want
