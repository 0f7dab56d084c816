"""`notify:` webhooks against a real HTTP receiver on the loopback: body, retries, masking, the deploy wiring."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gantry import notify
from gantry.config import NotifyConfig
from tests.labtools import copy_project

REPO = Path(__file__).resolve().parent.parent
CANARY = "canary-notify-5d1e77"
TOKEN = "hooktoken-91ac3f0b"


class Receiver:
    """A loopback HTTP server that records each POST and answers with the next queued status (then 200)."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.paths: list[str] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                data = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.paths.append(self.path)
                receiver.bodies.append(json.loads(data))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook/{TOKEN}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


RESULT = {"action": "deploy", "release": "20261201T120000Z-abc", "outcome": "failed", "exit_code": 3,
          "hosts": [{"host": "app-1", "outcome": "rolled-back", "release": "r0", "previous": "r0",
                     "error": f"web printed {CANARY}", "failing_service": "web", "seconds": 3.2, "steps": {}}]}


def document():
    return notify.make_document(RESULT, environment="prod", project="shop", who="ana", started="s", ended="e",
                                seconds=4.56, redact=lambda t: t.replace(CANARY, "***"))


def test_notify_document_has_the_outcome_and_masks_every_string():
    doc = document()
    assert doc == {"event": "deploy", "environment": "prod", "project": "shop", "release": RESULT["release"],
                   "outcome": "failed", "exit_code": 3, "who": "ana", "started": "s", "ended": "e",
                   "duration_seconds": 4.56, "error": "",
                   "hosts": [{"host": "app-1", "outcome": "rolled-back", "release": "r0", "previous": "r0",
                              "error": "web printed ***", "failing_service": "web", "seconds": 3.2}]}


@pytest.mark.parametrize("statuses, delivered, posts", [
    ([], 1, 1), ([500, 503], 1, 3), ([500, 500, 500], 0, 3), ([404], 0, 1),
], ids=["first-try", "retried-5xx", "gives-up", "4xx-not-retried"])
def test_notify_posts_once_and_retries_only_transient_answers(receiver, statuses, delivered, posts):
    receiver.statuses = list(statuses)
    warnings: list[str] = []
    hook = NotifyConfig(url_secret="HOOK_URL", retries=3, timeout=5)
    sent = notify.send_all([hook], "deploy", document(), {"HOOK_URL": receiver.url}, warn=warnings.append,
                           redact=lambda t: t.replace(receiver.url, "***"))
    assert (sent, len(receiver.bodies)) == (delivered, posts)
    assert all(b == document() for b in receiver.bodies) and receiver.paths[0] == f"/hook/{TOKEN}"
    assert bool(warnings) == (delivered == 0)
    assert all("HOOK_URL" in w and TOKEN not in w and "127.0.0.1" not in w for w in warnings)


def test_notify_skips_hooks_not_subscribed_and_warns_on_an_unset_secret(receiver):
    warnings: list[str] = []
    hooks = [NotifyConfig(url_secret="HOOK_URL", events=["rollback"]), NotifyConfig(url_secret="OTHER_URL")]
    assert notify.send_all(hooks, "deploy", document(), {"HOOK_URL": receiver.url}, warn=warnings.append,
                           redact=str) == 0
    assert receiver.bodies == [] and warnings == ["warning: notify: secret OTHER_URL has no value; webhook not sent"]


def test_notify_unreachable_receiver_is_a_warning_naming_the_secret():
    warnings: list[str] = []
    port_closed = "http://127.0.0.1:9/hook/" + TOKEN
    hook = NotifyConfig(url_secret="HOOK_URL", retries=2, timeout=2)
    assert notify.send_all([hook], "deploy", document(), {"HOOK_URL": port_closed}, warn=warnings.append,
                           redact=str) == 0
    assert len(warnings) == 1 and "could not be reached" in warnings[0] and TOKEN not in warnings[0]


def _project_with_hook(tmp_path: Path) -> Path:
    root = copy_project(tmp_path)
    (root / "secrets.example.env").write_text((root / "secrets.example.env").read_text() + "HOOK_URL=https://x\n")
    prod = root / "environments/prod.yml"
    text = prod.read_text()
    start, end = text.index("hosts:"), text.index("compose_files:")
    prod.write_text(text[:start] + "hosts:\n  - {address: 127.0.0.1, port: 9}\nssh: {connect_retries: 1}\n"
                    "notify:\n  - {url_secret: HOOK_URL, retries: 2}\n" + text[end:])
    return root


def gantry(root: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "gantry", *args], cwd=root, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(REPO), **env})
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_notify_a_deploy_that_cannot_reach_its_host_sends_one_document(tmp_path, receiver):
    root = _project_with_hook(tmp_path)
    env = {"DB_PASSWORD": CANARY, "API_TOKEN": "canary-api-notify-22", "HOOK_URL": receiver.url}
    proc = gantry(root, "deploy", "--env", "prod", "--yes", env=env)
    assert proc.returncode == 4, proc.stderr
    (body,) = receiver.bodies
    assert body["event"] == "deploy" and body["environment"] == "prod" and body["exit_code"] == 4
    assert body["outcome"] == "failed" and "cannot reach 127.0.0.1:9" in body["error"]
    assert body["release"] and body["who"] and body["duration_seconds"] >= 0
    everything = proc.stdout + proc.stderr + json.dumps(receiver.bodies)
    assert CANARY not in everything and TOKEN not in everything


def test_notify_validate_names_a_hook_secret_that_is_not_declared(tmp_path):
    root = _project_with_hook(tmp_path)
    (root / "secrets.example.env").write_text((root / "secrets.example.env").read_text().replace("HOOK_URL", "X"))
    proc = gantry(root, "validate", "--env", "prod", env={"DB_PASSWORD": CANARY, "API_TOKEN": "a-b-c-d", "X": "y"})
    assert proc.returncode == 1 and "notify[0].url_secret: HOOK_URL is not a secret" in proc.stderr
