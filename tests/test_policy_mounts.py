"""Mount rules: sockets, sensitive host paths, propagation; short and long syntax, volumes, secrets."""

import pytest

from gantry.policy.mounts import normalize_path, parse_short_volume
from tests.policy_cases import fired

SOCK = "MOUNT-DOCKER-SOCK"
SENS = "MOUNT-HOST-SENSITIVE"


def bind(source, *, ro=False, target="/x", propagation=None):
    entry = {"type": "bind", "source": source, "target": target}
    if ro:
        entry["read_only"] = True
    if propagation:
        entry["bind"] = {"propagation": propagation}
    return {"image": "a:1", "volumes": [entry]}


SRC = "volumes[0].source"

CASES = [
    ("docker-sock", SOCK, bind("/var/run/docker.sock"), [(SRC, "error")]),
    ("docker-sock-ro-still", SOCK, bind("/var/run/docker.sock", ro=True), [(SRC, "error")]),
    ("docker-sock-run", SOCK, bind("/run/docker.sock"), [(SRC, "error")]),
    ("rootless-sock", SOCK, bind("/run/user/1000/docker.sock"), [(SRC, "error")]),
    ("containerd-sock", SOCK, bind("/run/containerd/containerd.sock"), [(SRC, "error")]),
    ("podman-sock", SOCK, bind("/run/podman/podman.sock"), [(SRC, "error")]),
    ("crio-sock", SOCK, bind("/var/run/crio/crio.sock"), [(SRC, "error")]),
    ("systemd-private", SOCK, bind("/run/systemd/private"), [(SRC, "error")]),
    ("root-dir", SOCK, bind("/"), [(SRC, "error")]),
    ("var", SOCK, bind("/var"), [(SRC, "error")]),
    ("var-run", SOCK, bind("/var/run"), [(SRC, "error")]),
    ("var-run-trailing-slash", SOCK, bind("/var/run/"), [(SRC, "error")]),
    ("double-slash", SOCK, bind("//var//run//docker.sock"), [(SRC, "error")]),
    ("run-containerd-dir", SOCK, bind("/run/containerd"), [(SRC, "error")]),
    ("short-syntax", SOCK, {"volumes": ["/var/run/docker.sock:/var/run/docker.sock:ro"]}, [(SRC, "error")]),
    ("not-a-socket-dir", SOCK, bind("/run/lock"), []),
    ("named-volume", SOCK, {"volumes": [{"type": "volume", "source": "docker.sock", "target": "/x"}]}, []),
    ("target-only", SOCK, bind("/srv/app", target="/var/run/docker.sock"), []),
    # sensitive host paths
    ("etc-rw", SENS, bind("/etc"), [(SRC, "error")]),
    ("etc-sub-ro", SENS, bind("/etc/ssl/certs", ro=True), [(SRC, "warn")]),
    ("etcd-data-not-etc", SENS, bind("/etcd-data"), []),
    ("etc-localtime-ro", SENS, bind("/etc/localtime", ro=True), []),
    ("etc-timezone-ro", SENS, bind("/etc/timezone", ro=True), []),
    ("etc-localtime-rw", SENS, bind("/etc/localtime"), [(SRC, "error")]),
    ("dev-null", SENS, bind("/dev/null"), []),
    ("dev-urandom", SENS, bind("/dev/urandom"), []),
    ("dev", SENS, bind("/dev"), [(SRC, "error")]),
    ("proc", SENS, bind("/proc"), [(SRC, "error")]),
    ("sys-ro", SENS, bind("/sys/fs/cgroup", ro=True), [(SRC, "warn")]),
    ("boot", SENS, bind("/boot"), [(SRC, "error")]),
    ("root-home", SENS, bind("/root"), [(SRC, "error")]),
    ("usr-local-bin", SENS, bind("/usr/local/bin"), [(SRC, "error")]),
    ("lib-modules-ro", SENS, bind("/lib/modules", ro=True), [(SRC, "warn")]),
    ("lib64", SENS, bind("/lib64"), [(SRC, "error")]),
    ("library-not-lib", SENS, bind("/library"), []),
    ("bin", SENS, bind("/bin"), [(SRC, "error")]),
    ("binaries-not-bin", SENS, bind("/binaries"), []),
    ("var-lib-docker", SENS, bind("/var/lib/docker/volumes"), [(SRC, "error")]),
    ("var-lib-containerd", SENS, bind("/var/lib/containerd"), [(SRC, "error")]),
    ("var-lib-exact", SENS, bind("/var/lib"), [(SRC, "error")]),
    ("var-lib-app-ok", SENS, bind("/var/lib/myapp/data"), []),
    ("var-lib-dockerish-ok", SENS, bind("/var/lib/docker-data"), []),
    ("home-exact", SENS, bind("/home"), [(SRC, "error")]),
    ("home-user", SENS, bind("/home/alice"), [(SRC, "error")]),
    ("home-user-project-ok", SENS, bind("/home/alice/project/data"), []),
    ("home-ssh", SENS, bind("/home/alice/.ssh", ro=True), [(SRC, "warn")]),
    ("home-aws", SENS, bind("/home/alice/.aws/credentials"), [(SRC, "error")]),
    ("home-kube", SENS, bind("/home/bob/.kube"), [(SRC, "error")]),
    ("home-docker-config", SENS, bind("/home/bob/.docker/config.json", ro=True), [(SRC, "warn")]),
    ("home-gnupg", SENS, bind("/home/bob/.gnupg"), [(SRC, "error")]),
    ("tilde-ssh", SENS, {"volumes": ["~/.ssh:/root/.ssh:ro"]}, [(SRC, "warn")]),
    ("project-dot-docker-ok", SENS, bind("/srv/app/.docker/nginx.conf"), []),
    ("run-subdir", SENS, bind("/run/lock"), [(SRC, "error")]),
    ("var-run-subdir-ro", SENS, bind("/var/run/utmp", ro=True), [(SRC, "warn")]),
    ("socket-not-double-counted", SENS, bind("/var/run/docker.sock"), []),
    ("app-data-ok", SENS, bind("/srv/app/data"), []),
    ("relative-made-absolute-ok", SENS, bind("/work/main/example/web", ro=True), []),
    ("short-etc", SENS, {"volumes": ["/etc:/host-etc"]}, [(SRC, "error")]),
    ("short-etc-ro", SENS, {"volumes": ["/etc/passwd:/etc/passwd:ro"]}, [(SRC, "warn")]),
    ("dotdot-escape", SENS, bind("/srv/app/../../etc"), [(SRC, "error")]),
    ("tmpfs-ignored", SENS, {"volumes": [{"type": "tmpfs", "target": "/etc"}]}, []),
    # propagation
    ("shared", "MOUNT-PROPAGATION-SHARED", bind("/srv/x", propagation="shared"),
     [("volumes[0].bind.propagation", "warn")]),
    ("rshared", "MOUNT-PROPAGATION-SHARED", bind("/srv/x", propagation="rshared"),
     [("volumes[0].bind.propagation", "warn")]),
    ("short-rshared", "MOUNT-PROPAGATION-SHARED", {"volumes": ["/srv/x:/x:ro,rshared"]},
     [("volumes[0].bind.propagation", "warn")]),
    ("rslave-ok", "MOUNT-PROPAGATION-SHARED", bind("/srv/x", propagation="rslave"), []),
    ("private-ok", "MOUNT-PROPAGATION-SHARED", bind("/srv/x", propagation="rprivate"), []),
]


@pytest.mark.parametrize("rule,service,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_mounts_rule_table(rule, service, expected):
    assert fired(rule, service) == expected


TOP_LEVEL = [
    ("volume-driver-opts-bind", SOCK,
     {"volumes": [{"type": "volume", "source": "data", "target": "/d"}]},
     {"volumes": {"data": {"driver": "local", "driver_opts": {"type": "none", "o": "bind", "device": "/var/run"}}}},
     [("volumes.data.driver_opts.device", "error")]),
    ("volume-driver-opts-o-bind-only", SENS,
     {"volumes": [{"type": "volume", "source": "data", "target": "/d", "read_only": True}]},
     {"volumes": {"data": {"driver_opts": {"o": "bind,ro", "device": "/etc"}}}},
     [("volumes.data.driver_opts.device", "warn")]),
    ("volume-nfs-ok", SENS,
     {"volumes": [{"type": "volume", "source": "data", "target": "/d"}]},
     {"volumes": {"data": {"driver_opts": {"type": "nfs", "o": "addr=10.0.0.1", "device": ":/etc"}}}},
     []),
    ("secret-file-sock", SOCK, {"secrets": [{"source": "s", "target": "/run/secrets/s"}]},
     {"secrets": {"s": {"file": "/var/run/docker.sock"}}}, [("secrets.s.file", "error")]),
    ("config-file-etc", SENS, {"configs": ["c"]}, {"configs": {"c": {"file": "/etc/passwd"}}},
     [("configs.c.file", "warn")]),
    ("secret-env-ok", SENS, {"secrets": ["s"]}, {"secrets": {"s": {"environment": "TOKEN"}}}, []),
    ("unused-secret-ok", SOCK, {"image": "a:1"}, {"secrets": {"s": {"file": "/var/run/docker.sock"}}}, []),
]


@pytest.mark.parametrize("rule,service,top,expected", [c[1:] for c in TOP_LEVEL], ids=[c[0] for c in TOP_LEVEL])
def test_mounts_top_level_sources(rule, service, top, expected):
    assert fired(rule, service, top=top) == expected


@pytest.mark.parametrize("rule,service,expected", [
    (SOCK, bind("/var/run/docker.sock"), [(SRC, "warn")]),
    (SENS, bind("/etc"), [(SRC, "info")]),
    (SENS, bind("/etc", ro=True), [(SRC, "info")]),
    ("MOUNT-PROPAGATION-SHARED", bind("/srv/x", propagation="shared"), [("volumes[0].bind.propagation", "info")]),
], ids=["sock-warn", "sensitive-rw-info", "sensitive-ro-info", "propagation-info"])
def test_mounts_dev_level(rule, service, expected):
    assert fired(rule, service, level="dev") == expected


@pytest.mark.parametrize("spec,want", [
    ("/a:/b", {"type": "bind", "source": "/a", "target": "/b"}),
    ("./a:/b:ro", {"type": "bind", "source": "./a", "target": "/b", "read_only": True}),
    ("~/a:/b:rw,rshared", {"type": "bind", "source": "~/a", "target": "/b", "bind": {"propagation": "rshared"}}),
    ("data:/b", {"type": "volume", "source": "data", "target": "/b"}),
    ("/anon", {"type": "volume", "target": "/anon"}),
], ids=["abs", "relative-ro", "home-rshared", "named", "anonymous"])
def test_mounts_parse_short_volume(spec, want):
    assert parse_short_volume(spec) == want


@pytest.mark.parametrize("path,want", [
    ("/var/run/", "/var/run"), ("//etc//ssl", "/etc/ssl"), ("/srv/../etc", "/etc"), ("/", "/"), ("~/.ssh", "~/.ssh"),
], ids=["trailing", "doubled", "dotdot", "root", "tilde"])
def test_mounts_normalize_path(path, want):
    assert normalize_path(path) == want
