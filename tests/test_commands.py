"""Remote commands are data; shell.py quotes them once. A path with a space pins the quoting."""

import pytest

from gantry.engines.hosts import commands, readouts
from gantry.shell import Secret, argv, display, render

SPACED = commands.Layout("/srv/my apps/web/prod")
PLAIN = commands.Layout("/srv/gantry/app/prod")


@pytest.mark.parametrize("cmd, expected", [
    (commands.switch_current(SPACED, "R1"),
     "test -d '/srv/my apps/web/prod/releases/R1' && ln -sfn releases/R1 '/srv/my apps/web/prod/.current-R1' "
     "&& mv -T '/srv/my apps/web/prod/.current-R1' '/srv/my apps/web/prod/current'"),
    (commands.release_lock(SPACED), "rm -rf '/srv/my apps/web/prod/lock'"),
    (commands.compose_up("app-prod", PLAIN, "R1"),
     "docker compose -p app-prod --project-directory /srv/gantry/app/prod/releases/R1 "
     "-f /srv/gantry/app/prod/releases/R1/compose.yaml --env-file /srv/gantry/app/prod/releases/R1/.env "
     "up -d --remove-orphans --no-build --quiet-pull"),
    (commands.append_audit(SPACED, '{"who":"o\'neil"}'),
     "printf '%s\\n' '{\"who\":\"o'\"'\"'neil\"}' >> '/srv/my apps/web/prod/deploys.jsonl'"),
    (commands.remove_releases(PLAIN, ["A", "B"]),
     "rm -rf -- /srv/gantry/app/prod/releases/A /srv/gantry/app/prod/releases/B"),
], ids=["switch-spaced", "unlock-spaced", "compose-up", "audit-quote", "prune"])
def test_commands_render(cmd, expected):
    assert render(cmd) == expected


def test_commands_receive_bundle_renames_into_place_last():
    text = render(commands.receive_bundle(SPACED, "R9"))
    unpack, cleanup = text.split("; } || { ")
    parts = unpack.removeprefix("{ ").split(" && ")
    assert parts[0] == "rm -rf '/srv/my apps/web/prod/releases/.incoming-R9'"
    assert parts[-1] == ("mv -T '/srv/my apps/web/prod/releases/.incoming-R9' "
                         "'/srv/my apps/web/prod/releases/R9'")
    # a failed unpack (a full disk, a dropped connection) leaves no half-made directory behind
    assert cleanup == "rm -rf '/srv/my apps/web/prod/releases/.incoming-R9' && false; }"
    assert "tar -x -p -f - -C" in text and "chmod 0600 '/srv/my apps/web/prod/releases/.incoming-R9/.env'" in text


def test_commands_lock_is_atomic_mkdir_then_details():
    text = render(commands.acquire_lock(PLAIN, '{"holder":"me"}'))
    assert text.index("mkdir /srv/gantry/app/prod/lock") < text.index("lock/info.json")
    assert "mkdir -p" not in text.split(" && ")[1]  # the lock mkdir must fail when the lock exists


def test_commands_display_masks_secret_words():
    cmd = argv("echo", Secret("hunter2"))
    assert display(cmd) == "echo ***" and render(cmd) == "echo hunter2"
    assert "hunter2" not in repr(Secret("hunter2"))


def test_commands_finish_unlocks_even_if_switch_fails():
    text = render(commands.finish(PLAIN, "R2", ["R0"], "{}"))
    assert text.endswith("rm -rf /srv/gantry/app/prod/lock")
    assert " ; " in text  # sequence: a failed switch does not keep the lock


@pytest.mark.parametrize("lines,want", [
    (["/srv/gantry/app/prod/releases/R1/compose.yaml", "/srv/gantry/app/prod/releases/R1/.env",
      "/srv/gantry/app/prod/releases/R1/manifest.json"], {}),
    (["/srv/gantry/app/prod/releases/R1/.env", "/srv/gantry/app/prod/releases/R1/manifest.json"],
     {"R1": ["compose.yaml"]}),
    ([], {"R1": ["compose.yaml", ".env", "manifest.json"]}),
    (["/srv/gantry/app/prod/releases/.incoming-R2/.env"], {"R1": ["compose.yaml", ".env", "manifest.json"]}),
], ids=["complete", "compose-deleted", "emptied", "incoming-ignored"])
def test_commands_damaged_releases_names_missing_files(lines, want):
    assert readouts.damaged_releases(lines, PLAIN, ["R1"]) == want


def test_commands_health_poll_reads_the_host_clock_before_the_containers():
    text = render(commands.health_poll("app-prod"))
    assert text.index("date +%s.%N") < text.index("docker ps") < text.index("--gantry:end")


@pytest.mark.parametrize("first_poll, has_poll", [(True, True), (False, False)], ids=["folded", "plain"])
def test_commands_pull_and_up_folds_the_first_poll(first_poll, has_poll):
    layout = commands.Layout("/srv/my app")
    text = render(commands.pull_and_up("app-prod", layout, "r1", ("reg/web:1",), first_poll=first_poll))
    assert ("--gantry:ps" in text) == has_poll
    assert text.index("--gantry:clock-start") < text.index("docker image inspect") < \
        text.index("--gantry:clock-pulled") < text.index(" up ") < text.index("--gantry:clock-up")
    if has_poll:  # only after a successful up: the poll is chained with &&
        assert text.index("--gantry:up-done") < text.index("--gantry:ps")
