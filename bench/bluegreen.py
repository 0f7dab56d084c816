"""`python -m bench.bluegreen`: a proxied (blue/green) deploy against the same app deployed in place.

On one lab host (GANTRY_LAB_SLOT, default 0), the bench app of tests/apps/bluegreen: per engine, an untimed
first deploy, then RUNS changed deploys, each timed (wall time of `inv deploy`) under the bounded request loop
of bench/loop.py against the port the app answers on; prints one markdown row per engine (medians).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.loop import RequestLoop

REPO = Path(__file__).resolve().parent.parent
ENV = """project: {name}
deploy_path: /srv/bench-bg
inventory: {lab}/.gantry/lab/inventory.yml
compose_files: [compose/docker-compose.yml]
variables: {{REGISTRY: "{registry}"}}
ssh: {{known_hosts: {lab}/.gantry/lab/known_hosts}}
policy: {{level: lab, allow_registries: ["{registry}"]}}
{extra}"""


def deploy(root: Path, version: str) -> tuple[float, int]:
    env = {k: v for k, v in os.environ.items() if k not in ("VERSION", "BROKEN")}
    env.update(VERSION=version, NO_COLOR="1")
    t0 = time.monotonic()
    done = subprocess.run(["inv", "deploy", "--env", "bench", "--yes", "--json"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    took = time.monotonic() - t0
    if done.returncode:
        print(f"bench.bluegreen: {root.name} v{version}: exit {done.returncode}\n{done.stderr[-2000:]}",
              file=sys.stderr)
    return took, done.returncode


def project(tmp: Path, lab: Path, name: str, registry: str, extra: str) -> Path:
    root = tmp / name
    (root / "environments").mkdir(parents=True)
    shutil.copy(REPO / "tasks.py", root / "tasks.py")
    shutil.copytree(REPO / "tests" / "apps" / "bluegreen", root / "compose")
    (root / "environments" / "bench.yml").write_text(ENV.format(name=name, lab=lab, registry=registry,
                                                                extra=extra))
    return root


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bluegreen", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3, help="timed changed deploys per engine (default 3)")
    args = p.parse_args(argv)
    from gantry.lab import lab_down, lab_up
    from gantry.lab.images import proxy_image

    with tempfile.TemporaryDirectory(prefix="bench-bg-") as tmp_name:
        tmp = Path(tmp_name)
        lab = lab_up(tmp / "lab", 1, log=lambda m: None)
        try:
            image = proxy_image(lab.registry)
            if not image:
                print("bench.bluegreen: no proxy image (install Debian's caddy)", file=sys.stderr)
                return 1
            address = lab.hosts[0].address
            rows = []
            for name, port, extra in (
                    ("bluegreen", 8081, f"engine: bluegreen\nproxy_image: {image}\n"
                                        "proxy: {web: {port: 8080, publish: 8081, drain: 1s}}\n"),
                    ("inplace", 8080, "")):
                root = project(tmp, lab.root, name, lab.registry, extra)
                deploy(root, "0")
                times, failed, total, codes = [], [], [], []
                for k in range(1, args.runs + 1):
                    with RequestLoop([address], port) as loop:
                        took, code = deploy(root, str(k))
                    times.append(took)
                    failed.append(loop.failed)
                    total.append(loop.total)
                    codes.append(code)
                rows.append({"engine": name, "seconds": round(statistics.median(times), 2),
                             "failed": failed, "requests": total, "exit": codes})
        finally:
            lab_down(tmp / "lab", log=lambda m: None)
    print("| engine | changed deploy, median s | failed requests per deploy | requests per deploy |")
    print("|---|---:|---|---|")
    for r in rows:
        print(f"| {r['engine']} | {r['seconds']} | {', '.join(map(str, r['failed']))} | "
              f"{', '.join(map(str, r['requests']))} |")
    print(json.dumps(rows), file=sys.stderr)
    return 0 if all(c == 0 for r in rows for c in r["exit"]) else 3


if __name__ == "__main__":
    raise SystemExit(main())
