"""Faults in the network and in SSH: a host unreachable, a connection dropped mid-step, a changed host key."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

pytestmark = pytest.mark.e2e


def _same_as_before(before, after) -> None:
    for b, a in zip(before, after, strict=True):
        assert (a.current, set(a.releases), len(a.audit)) == (b.current, set(b.releases), len(b.audit)), a.name


def test_fault_01_unreachable_host_stops_the_deploy_before_any_change(fl):
    before = fl.hosts()
    fl.link(3, up=False)
    try:
        proc, _ = fl.deploy("2", check=4)
    finally:
        fl.link(3, up=True)
    assert "lab-3" in proc.stderr and "cannot reach" in proc.stderr
    _same_as_before(before, fl.hosts())
    fl.converged(before[0].current)
    fl.record("1", "lab-3 link down before the deploy", proc.returncode, note="nothing changed anywhere")


def _flap(fl, i: int, seconds: float) -> None:
    fl.link(i, up=False)
    time.sleep(seconds)  # long enough for the upload's packets to sit in TCP retransmission
    fl.link(i, up=True)


def test_fault_02a_link_down_for_a_moment_during_an_upload(fl):
    kept = fl.kept()
    run = fl.deploy_until("2", lambda h, s, st: (h, s, st) == ("lab-2", "upload", "..."), lambda p: _flap(fl, 2, 3))
    assert run.code in (0, 3), run.stderr
    release = fl.converged(history=kept)
    assert release == run.doc["release"] if run.code == 0 else release != run.doc["release"]
    fl.record("2a", "lab-2 link down 3 s in its upload", run.code, release=run.doc["release"], after=run.fired,
              note="TCP retransmits: the deploy goes on" if run.code == 0 else "failed cleanly")


def test_fault_02b_ssh_session_killed_during_an_upload(fl):
    kept = fl.kept()
    run = fl.deploy_until("3", lambda h, s, st: (h, s, st) == ("lab-2", "upload", "..."),
                          lambda p: fl.kill_sessions(2))
    assert run.code in (0, 3), run.stderr
    release = fl.converged(history=kept)
    if run.code == 3:
        assert release != run.doc["release"]  # the fleet went back together
        assert "lab-2" in run.stderr
    fl.record("2b", "lab-2 sshd session killed in its upload", run.code, release=run.doc["release"],
              after=run.fired, note="fleet on one version")


def test_fault_03_ssh_dropped_after_up_before_the_health_verdict(fl):
    kept = fl.kept()
    run = fl.deploy_until("4", lambda h, s, st: (h, s, st) == ("lab-2", "health", "..."),
                          lambda p: fl.kill_sessions(2))
    assert run.code in (0, 3), run.stderr
    release = fl.converged(history=kept)
    lab2 = fl.host(2)
    line = [r for r in lab2.audit if r["release"] == run.doc["release"]]
    assert line, "lab-2 has no audit line for the deploy"
    # The audit line says which way lab-2 went: forward onto the release, or back to the one it ran.
    assert line[-1]["outcome"] == ("deployed" if release == run.doc["release"] else "rolled-back"), line[-1]
    if run.code == 3:
        assert "connection lost" in line[-1]["detail"], line[-1]
    fl.record("3", "lab-2 sshd session killed in its health wait", run.code, release=run.doc["release"],
              after=run.fired, note=f"lab-2 audit: {line[-1]['outcome']}")


def _swap_host_key(fl, i: int, key_dir) -> None:
    """Give host i a new host key (or back its old one from key_dir) and restart its sshd."""
    from gantry.lab.node import _start_sshd

    node = fl.node(i)
    key = node.dir / "ssh_host_ed25519_key"
    if key_dir is None:
        for suffix in ("", ".pub"):
            shutil.copy2(f"{key}{suffix}", fl.project / f"old_key{suffix}")
            (node.dir / f"ssh_host_ed25519_key{suffix}").unlink()
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rebuilt", "-f", str(key)], check=True)
    else:
        for suffix in ("", ".pub"):
            shutil.copy2(fl.project / f"old_key{suffix}", f"{key}{suffix}")
    subprocess.run(["kill", (node.dir / "sshd.pid").read_text().strip()], check=True)
    time.sleep(0.3)
    holder = int((node.dir / "holder.pid").read_text())
    _start_sshd(node, holder, (node.dir.parent / "id_ed25519.pub").read_text())


def test_fault_13_changed_host_key_is_refused_with_its_fingerprint(fl):
    before = fl.hosts()
    _swap_host_key(fl, 2, None)
    try:
        fingerprint = subprocess.run(["ssh-keygen", "-l", "-f", str(fl.node(2).dir / "ssh_host_ed25519_key.pub")],
                                     capture_output=True, text=True, check=True).stdout.split()[1]
        proc, _ = fl.deploy("5", check=4)
    finally:
        _swap_host_key(fl, 2, fl.project)
    assert "CHANGED" in proc.stderr and fingerprint in proc.stderr, proc.stderr
    _same_as_before(before, fl.hosts())
    fl.converged(before[0].current)
    fl.record("13", "lab-2 host key replaced between deploys", proc.returncode,
              note="refused with the new key's fingerprint; nothing changed")
