"""`gantry shell` on a real lab host, driven through a pseudo-terminal as a person would type into it."""

from __future__ import annotations

import hashlib
import os
import pty
import select
import sys
import time
from pathlib import Path

import pytest

from tests.labtools import lab_or_skip, project_with_lab_secrets, run_gantry

REPO = Path(__file__).resolve().parent.parent
CANARY_DB = "canary-db-shell-5f0c21"
PROMPT = b"/ $ "  # busybox ash's prompt in the example images (user 65532, workdir /)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = project_with_lab_secrets(tmp_path_factory.mktemp("project"),
                                    {"DB_PASSWORD": CANARY_DB, "API_TOKEN": "canary-api-shell-0b9e"})
    for up in lab_or_skip(root, 1):
        yield root, up


gantry = run_gantry


def on_a_terminal(root, args: list[str], typed: str, limit: float = 120) -> tuple[int, str]:
    """Run gantry with its stdin/stdout on a new pty, type `typed`, read everything until it exits."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: gantry on the pty's slave side
        os.chdir(root)
        os.environ.update({"PYTHONPATH": str(REPO), "NO_COLOR": "1", "TERM": "dumb"})
        os.execv(sys.executable, [sys.executable, "-m", "gantry", *args])
    out, deadline = bytearray(), time.monotonic() + limit  # a safety stop, not an assertion on time
    while time.monotonic() < deadline:
        if typed and PROMPT in out:  # type only once the shell asks, as a person would
            os.write(fd, typed.encode())
            typed = ""
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def test_e2e_shell_is_a_tty_in_the_container_with_the_release_environment(lab):
    root, _ = lab
    assert gantry(root, "deploy", "--env", "lab", "--yes").returncode == 0
    digest = hashlib.md5(f"{CANARY_DB}\n".encode()).hexdigest()
    code, text = on_a_terminal(root, ["shell", "--env", "lab", "--service", "web"],
                               'echo "version=$APP_VERSION"; test -t 0 && echo on-a-tty; '
                               'echo "$DB_PASSWORD" | md5sum; exit 3\n')
    assert code == 3, text
    assert "version=1" in text and "on-a-tty" in text
    assert digest in text  # the secret is there (its hash proves it without showing it)
    assert CANARY_DB not in text


def test_e2e_shell_runs_the_given_program_and_refuses_a_service_without_a_container(lab):
    root, up = lab
    code, text = on_a_terminal(root, ["shell", "--env", "lab", "--service", "worker", "--host", up.hosts[0].name,
                                      "--command", "sh -c 'echo worker-$APP_VERSION; exit 0'"], "")
    assert code == 0 and "worker-1" in text, text
    proc = gantry(root, "shell", "--env", "lab", "--service", "nosuch")
    assert proc.returncode == 2 and "service 'nosuch' has no running container" in proc.stderr


def test_e2e_shell_masks_the_secrets_the_container_prints(lab):
    root, _ = lab
    code, text = on_a_terminal(root, ["shell", "--env", "lab", "--service", "web", "--command", "env"], "")
    assert code == 0, text
    assert "DB_PASSWORD=***" in text and "APP_VERSION=1" in text
    assert CANARY_DB not in text and "canary-api-shell" not in text
    # typed at the prompt, glued to other text, in a stream the terminal reads in chunks
    code, text = on_a_terminal(root, ["shell", "--env", "lab", "--service", "web"],
                               'env | grep DB_; echo "<$DB_PASSWORD>"; exit 0\n')
    assert code == 0, text
    assert "DB_PASSWORD=***" in text and "<***>" in text and CANARY_DB not in text
