"""Faults around the lock and the disk: deploys racing, a full deploy path, a damaged release."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.faults.conftest import BASE

pytestmark = pytest.mark.e2e


def test_fault_10_concurrent_deploys_exactly_one_proceeds(fl):
    kept = fl.kept()
    env = fl._env({})
    clients = [("10a", {}), ("10b", {}), ("10c", {"GANTRY_USER": "bob"})]
    procs = [subprocess.Popen(["inv", "deploy", "--env", "lab", "--yes", "--json"], cwd=fl.project,
                              env=dict(env, APP_VERSION=v, **extra), text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for v, extra in clients]
    results = [p.communicate(timeout=600) for p in procs]
    for out, err in results:
        fl._seen(out + err)
        assert "Traceback" not in err
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 5, 5], list(zip(codes, [e for _, e in results]))
    for (_, err), code in zip(results, codes):
        if code == 5:
            assert "another deploy holds the lock" in err and "lock.release" in err
    winner = json.loads(results[codes.index(0)][0])["release"]
    fl.labels[winner] = f"v{clients[codes.index(0)][0]}"
    fl.converged(winner, history=kept)
    fl.record("10", "3 deploys at once (2 shells + user bob)", " ".join(map(str, codes)), release=winner,
              note="exactly one proceeded; the others named the holder")


def test_fault_11_full_disk_in_the_deploy_path(fl):
    kept = fl.kept()
    before = fl.converged()
    spare = "/run/gantry-fault11"
    os.makedirs(spare, exist_ok=True)
    script = (f"mount -t tmpfs -o size=2m faultdisk {spare} && cp -a {BASE}/. {spare}/ && "
              f"mount --move {spare} {BASE} && (dd if=/dev/zero of={BASE}/.filler bs=64k 2>/dev/null; true)")
    fl.in_mount_ns(2, "sh", "-c", script)
    try:
        proc, _ = fl.deploy("11", check=1)
        after = fl.host(2)
    finally:
        fl.in_mount_ns(2, "umount", BASE)
    assert "lab-2" in proc.stderr and "HOST-DISK-LOW" in proc.stderr, proc.stderr
    assert not after.lock and not after.hidden and after.current == before and set(after.releases) == kept["lab-2"]
    fl.converged(before, history=kept)
    fl.record("11", "lab-2 deploy path on a full 2 MiB tmpfs", proc.returncode,
              note="refused before any change; nothing partial, no lock left")


def test_fault_12_damaged_release_is_reported_by_status(fl):
    _, doc = fl.deploy("12")
    kept = fl.kept()
    older = sorted(r for r in kept["lab-2"] if r != doc["release"])[-1]
    STATE.update(release=doc["release"], older=older)
    fl.ssh(2, f"rm -f {BASE}/releases/{older}/compose.yaml && echo broken >> {BASE}/releases/{older}/manifest.json")
    shown = {h["host"]: h for h in json.loads(fl.inv("status", "--env", "lab", "--json", check=0).stdout)["hosts"]}
    assert shown["lab-2"]["damaged"] == {older: ["compose.yaml"]} and shown["lab-1"]["damaged"] == {}
    text = fl.inv("status", "--env", "lab", check=0)
    assert f"lab-2: release {older} is damaged: missing compose.yaml" in text.stderr
    fl.converged(doc["release"], damaged=(older,))
    fl.record("12", f"lab-2 release {fl.label(older)} partly deleted", text.returncode, note="inv status reports it")


def test_fault_12_rollback_to_a_damaged_release_refuses_before_any_change(fl):
    proc = fl.inv("rollback", "--env", "lab", "--to", STATE["older"])
    fl.record("12", f"inv rollback --to {fl.label(STATE['older'])}", proc.returncode, release=STATE["older"],
              note="refused before any host changed")
    assert proc.returncode == 1 and "lab-2" in proc.stderr
    fl.converged(STATE["release"], damaged=(STATE["older"],))


STATE: dict = {}
