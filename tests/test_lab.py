"""The local lab, for real: namespaces, sshd, dockerd, registry. No fakes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gantry import lab as lab_mod  # noqa: F401
from gantry.lab import Lab, LabError, lab_down, lab_status, lab_up, ssh_argv
from gantry.lab import model as lab_model
from gantry.lab import network as lab_network
from gantry.lab import node as lab_node
from gantry.lab import procs as lab_procs


def _missing_tools() -> list[str]:
    return [t for t in lab_model.TOOLS if not (os.access(t, os.X_OK) if t.startswith("/") else shutil.which(t))]


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "the lab needs root (namespaces, a bridge)"
    if _missing_tools():
        return f"lab tools missing: {', '.join(_missing_tools())} (run scripts/setup.sh)"
    owner = lab_network._owner(lab_model.requested_net())
    if owner is not None:
        return f"another lab (owned by {owner}) is up on this test worker's slot"
    return None


needs_lab = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


def _ssh(lab: Lab, host_index: int, command: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(ssh_argv(lab, lab.hosts[host_index], command), capture_output=True, text=True,
                          timeout=60, **kw)


def _engine_pidfile(lab: Lab, index: int) -> Path:
    return lab_node._node(lab_model.state_dir(lab.root), index, lab_model.requested_net()).dir / "docker" / "docker.pid"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("lab")
    lines: list[str] = []
    forwarding = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    try:
        yield lab_up(root, 2, log=lines.append)
        # Hosts reach the registry on the bridge itself: the machine must not start routing for the lab.
        assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == forwarding
    finally:
        lab_down(root, log=lines.append)


def test_lab_up_rejects_zero_hosts(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="at least one host"):
        lab_up(tmp_path, 0)


def test_ssh_argv_checks_host_keys_strictly() -> None:
    lab = Lab(Path("/p"), (lab_model.LabHost("lab-1", "10.231.47.11", 22, "unix:///s"),), lab_model.REGISTRY,
              Path("/p/key"), Path("/p/known"), Path("/p/inv.yml"))
    argv = ssh_argv(lab, lab.hosts[0], "true")
    assert "StrictHostKeyChecking=yes" in argv and "UserKnownHostsFile=/p/known" in argv
    assert argv[-2:] == ("root@10.231.47.11", "true")


@needs_lab
@pytest.mark.e2e
def test_lab_hosts_answer_docker_info_over_strict_ssh(lab: Lab) -> None:
    for i, host in enumerate(lab.hosts):
        done = _ssh(lab, i, "docker info --format '{{.ServerVersion}} {{.DockerRootDir}}'")
        assert done.returncode == 0, done.stderr
        assert f"/{host.name}/docker/data" in done.stdout


@needs_lab
@pytest.mark.e2e
def test_lab_inventory_lists_every_host(lab: Lab) -> None:
    rows = yaml.safe_load(lab.inventory.read_text())
    assert rows == [{"name": h.name, "address": h.address, "port": 22, "user": "root",
                     "identity_file": str(lab.identity_file)} for h in lab.hosts]
    assert [line.split()[0] for line in lab.known_hosts.read_text().splitlines()] == [
        h.address for h in lab.hosts]


@needs_lab
@pytest.mark.e2e
def test_lab_hosts_have_private_srv_and_home(lab: Lab) -> None:
    assert _ssh(lab, 0, "echo one > /srv/probe && ls -A ~").stdout.split() == [".docker"]
    assert _ssh(lab, 1, "test ! -e /srv/probe && echo absent").stdout.strip() == "absent"
    assert not Path("/srv/probe").exists()


@needs_lab
@pytest.mark.e2e
def test_lab_hosts_have_compose_v2(lab: Lab) -> None:
    done = _ssh(lab, 1, "docker compose version --short")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("2.")


@needs_lab
@pytest.mark.e2e
def test_lab_registry_serves_example_images(lab: Lab) -> None:
    for name in lab_model.IMAGES:
        image = f"{lab.registry}/gantry-example/{name}:{lab_model.IMAGE_TAG}"
        done = _ssh(lab, 1, f"docker pull -q {image} && docker run --rm {image} busybox true")
        assert done.returncode == 0, done.stderr


@needs_lab
@pytest.mark.e2e
def test_lab_unknown_or_changed_host_key_is_refused(lab: Lab, tmp_path: Path) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    unknown = Lab(lab.root, lab.hosts, lab.registry, lab.identity_file, empty, lab.inventory)
    done = _ssh(unknown, 0, "true")
    assert done.returncode == 255 and "Host key verification failed" in done.stderr
    swapped = tmp_path / "swapped_known_hosts"
    keys = [line.split(" ", 1)[1] for line in lab.known_hosts.read_text().splitlines()]
    swapped.write_text(f"{lab.hosts[0].address} {keys[1]}\n")
    changed = Lab(lab.root, lab.hosts, lab.registry, lab.identity_file, swapped, lab.inventory)
    done = _ssh(changed, 0, "true")
    assert done.returncode == 255 and "HOST IDENTIFICATION HAS CHANGED" in done.stderr


@needs_lab
@pytest.mark.e2e
def test_lab_up_again_reuses_what_is_up(lab: Lab) -> None:
    pids = [lab_procs._read_pid(_engine_pidfile(lab, i))
            for i in (1, 2)]
    lines: list[str] = []
    again = lab_up(lab.root, 2, log=lines.append)
    assert again == lab == lab_status(lab.root)
    assert sum("already up" in line for line in lines) == 2, lines
    assert [lab_procs._read_pid(_engine_pidfile(lab, i))
            for i in (1, 2)] == pids


@needs_lab
@pytest.mark.e2e
def test_lab_down_leaves_nothing_behind(lab: Lab) -> None:
    state = lab_model.state_dir(lab.root)
    net = lab_model.requested_net()
    _ssh(lab, 0, f"docker run -d --name web-probe {lab.registry}/gantry-example/web:1.0.0")
    smaller = lab_up(lab.root, 1, log=lambda _: None)
    assert [h.name for h in smaller.hosts] == ["lab-1"]
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    assert f"{net.netns_prefix}2" not in namespaces
    lab_down(lab.root, log=lambda _: None)
    lab_down(lab.root, log=lambda _: None)  # idempotent
    assert lab_status(lab.root) is None
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    assert not [n for n in namespaces if n.startswith(net.netns_prefix) or n == net.builder_netns]
    links = [line.split(":")[1].strip().split("@")[0]
             for line in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout.splitlines()]
    assert net.bridge not in links and not [link for link in links if link.startswith(net.veth_prefix)]
    # Zombies are not counted: this sandbox's PID 1 does not reap orphans.
    leftovers = [(pid, lab_procs._cmdline(pid)) for pid in lab_procs._all_pids() if lab_procs._alive(pid)
                 and str(state) in lab_procs._cmdline(pid)]
    assert leftovers == []
    assert lab_procs._holder_pids(state) == []
    assert str(state) not in Path("/proc/self/mountinfo").read_text()
    assert not state.exists()
    assert not list(Path("/sys/fs/cgroup").glob(f"*/{net.netns_prefix}*"))
