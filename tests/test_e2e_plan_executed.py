"""`inv plan` and `inv deploy --dry-run` print the very Plan that `inv deploy` then executes (two lab hosts).

The Plan is compared as JSON: per host the action, target, steps and the undo of each; the release id is the
only field that differs (it carries the time the release was made), and it is compared by its content hash.
"""

from __future__ import annotations

import json

import pytest

from tests.labtools import lab_or_skip, project_with_lab_secrets, run_checked

CANARY_DB, CANARY_API = "canary-db-plan-5f1e0a", "canary-api-plan-b7c2d4"

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return project_with_lab_secrets(tmp_path_factory.mktemp("project"), {"DB_PASSWORD": CANARY_DB,
                                                                          "API_TOKEN": CANARY_API})


@pytest.fixture(scope="module")
def lab(project):
    yield from lab_or_skip(project, 2)


def gantry(project, *args, code):
    return run_checked(project, (CANARY_DB, CANARY_API, CANARY_API + "-v2"), *args, code=code)


def same_content(plan: dict) -> dict:
    """The plan with its release ids reduced to their content hash (the part that is not a timestamp)."""
    return json.loads(json.dumps(plan).replace(plan["release"], "R-" + plan["release"].rsplit("-", 1)[-1]))


def test_e2e_plan_is_the_plan_deploy_executes(project, lab):
    gantry(project, "deploy", "--env", "lab", "--yes", code=0)
    secrets = project / "secrets.lab.env"
    secrets.write_text(secrets.read_text().replace(CANARY_API, CANARY_API + "-v2"))
    planned = json.loads(gantry(project, "plan", "--env", "lab", "--json", code=6).stdout)
    dry = json.loads(gantry(project, "deploy", "--env", "lab", "--dry-run", "--json", code=6).stdout)
    result = json.loads(gantry(project, "deploy", "--env", "lab", "--yes", "--json", code=0).stdout)
    executed = result["plan"]
    assert same_content(planned) == same_content(dry) == same_content(executed)
    live = {h["host"]: h["current"] for h in executed["hosts"]}
    for host in executed["hosts"]:
        assert host["action"] == "deploy" and host["target"] == result["release"]
        assert [s["kind"] for s in host["steps"]] == ["upload", "up", "wait", "switch"]
        undo = host["steps"][-1]["undo"]
        assert [(u["kind"], u["release"], u["pinned"]) for u in undo] == [
            ("up", live[host["host"]], True), ("wait", live[host["host"]], True), ("switch", live[host["host"]], False)]
    # and the hosts did what the plan said: every one runs the target now
    assert {h["host"]: h["release"] for h in result["hosts"]} == {h: result["release"] for h in live}
    text = gantry(project, "plan", "--env", "lab", code=0).stdout
    assert "changes: none" in text
