"""Small process and file helpers for the lab (pids, signals, atomic writes, waits)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

from gantry.lab.model import HOLDER_MARK, LabError


def _run(argv: Iterable[str], *, where: str = "lab", timeout: float = 60, check: bool = True,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = list(argv)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise LabError(where, f"`{' '.join(argv[:3])}` did not finish within {timeout:.0f} s") from exc
    if check and done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise LabError(where, f"`{' '.join(argv[:4])}` failed (exit {done.returncode}): {' | '.join(tail)}")
    return done


def _write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _alive(pid: int | None) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, TypeError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]


def _pids_in_netns(netns: str) -> list[int]:
    try:
        ino = os.stat(f"/run/netns/{netns}").st_ino
    except OSError:
        return []
    found = []
    for pid in _all_pids():
        try:
            if os.stat(f"/proc/{pid}/ns/net").st_ino == ino:
                found.append(pid)
        except OSError:
            pass
    return found


def _pids_mentioning(text: str) -> list[int]:
    return [pid for pid in _all_pids() if text in _cmdline(pid)]


def _holder_pids(under: Path) -> list[int]:
    """The `sleep infinity` mount namespace holders of hosts under `under` (marked in their environment)."""
    mark = f"{HOLDER_MARK}={under}".encode()
    found = []
    for pid in _all_pids():
        if _cmdline(pid).strip() == "sleep infinity":
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(e == mark or e.startswith(mark + b"/") for e in environ):
                found.append(pid)
    return found


def _kill(pids: Iterable[int], grace: float) -> None:
    pids = [p for p in pids if _alive(p)]
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        if _alive(pid):
            _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_for(check: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def _docker_ping(sock: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            s.connect(str(sock))
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            answer = s.recv(64)
    except OSError:
        return False
    return answer.startswith(b"HTTP/1.") and b" 200 " in answer


def _http_status(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, method=method, headers=headers or {}), timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


