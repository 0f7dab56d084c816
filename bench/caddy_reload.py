"""`python -m bench.caddy_reload`: how many connections Caddy's reloads reset, with and without
`net.ipv4.tcp_migrate_req` (the setting the blue/green proxy makes in its own network namespace).

Each measurement runs in a fresh network namespace (`unshare --net`, as root; loopback only): Caddy serves a
static answer on 127.0.0.1, a few client threads open one connection per request, and the config is reloaded
through the admin API `--reloads` times. Prints one row per setting: requests, failed, errors by kind.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

PORT = 18081
ADMIN = "localhost:20199"
CLIENTS = 4


def config(body: str) -> str:
    return json.dumps({"admin": {"listen": ADMIN}, "logging": {"logs": {"default": {"level": "ERROR"}}},
                       "apps": {"http": {"grace_period": "1s", "servers": {"p": {
                           "listen": [f":{PORT}"], "automatic_https": {"disable": True},
                           "routes": [{"handle": [{"handler": "static_response", "body": body}]}]}}}}})


def inside(reloads: int, work: Path) -> dict:
    """Run in the namespace: start Caddy, load it with clients, reload it `reloads` times."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    conf = work / "caddy.json"
    conf.write_text(config("start"))
    caddy = subprocess.Popen(["caddy", "run", "--config", str(conf)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    stop, errors, ok = threading.Event(), collections.Counter(), [0]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def client() -> None:
        while not stop.is_set():
            try:
                with opener.open(f"http://127.0.0.1:{PORT}/", timeout=5) as answer:
                    answer.read()
                ok[0] += 1
            except OSError as exc:
                errors[type(getattr(exc, "reason", exc)).__name__] += 1
    try:
        time.sleep(1.0)
        threads = [threading.Thread(target=client, daemon=True) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        for i in range(reloads):
            conf.write_text(config(str(i)))
            subprocess.run(["caddy", "reload", "--config", str(conf), "--address", ADMIN], capture_output=True)
        stop.set()
        for t in threads:
            t.join(timeout=10)
    finally:
        caddy.terminate()
        caddy.wait(timeout=10)
    return {"ok": ok[0], "failed": sum(errors.values()), "errors": dict(errors)}


def measure(migrate: int, reloads: int) -> dict:
    with tempfile.TemporaryDirectory() as work:
        script = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r}); "
                  "import json, pathlib, subprocess; from bench.caddy_reload import inside; "
                  f"subprocess.run(['sysctl', '-qw', 'net.ipv4.tcp_migrate_req={migrate}'], check=True); "
                  f"print(json.dumps(inside({reloads}, pathlib.Path({work!r}))))")
        out = subprocess.run(["unshare", "--net", sys.executable, "-c", script], capture_output=True, text=True,
                             timeout=60 + reloads * 5)
    if out.returncode != 0:
        raise SystemExit(f"caddy_reload: the measurement failed: {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.caddy_reload", description=__doc__.splitlines()[0])
    parser.add_argument("--reloads", type=int, default=60)
    args = parser.parse_args(argv)
    if not shutil.which("caddy") or not shutil.which("unshare"):
        print("caddy_reload: needs caddy and unshare (scripts/setup.sh installs caddy), as root", file=sys.stderr)
        return 1
    print("| tcp_migrate_req | reloads | requests | failed | errors |\n|---|---:|---:|---:|---|")
    for migrate in (0, 1):
        row = measure(migrate, args.reloads)
        print(f"| {migrate} | {args.reloads} | {row['ok'] + row['failed']} | {row['failed']} | "
              f"{row['errors'] or '-'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
