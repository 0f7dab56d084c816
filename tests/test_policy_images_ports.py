"""Image reference parsing and image rules; port parsing, wildcard binds, privileged ports, SSH."""

import pytest

from gantry.policy import ImageRef, parse_image
from gantry.policy.ports import PortBinding, parse_port
from tests.policy_cases import fired

DIGEST = "sha256:" + "a" * 64

PARSE = [
    ("library", "nginx", ImageRef("docker.io", "library/nginx")),
    ("library-tag", "nginx:1.27", ImageRef("docker.io", "library/nginx", "1.27")),
    ("hub-user", "bitnami/redis:7.2", ImageRef("docker.io", "bitnami/redis", "7.2")),
    ("hub-explicit", "docker.io/nginx:1", ImageRef("docker.io", "library/nginx", "1")),
    ("registry-port-no-tag", "registry:5000/app", ImageRef("registry:5000", "app")),
    ("registry-port-tag", "registry:5000/team/app:2.0", ImageRef("registry:5000", "team/app", "2.0")),
    ("localhost", "localhost/app:1", ImageRef("localhost", "app", "1")),
    ("localhost-port", "localhost:5000/app", ImageRef("localhost:5000", "app")),
    ("ip-port", "10.231.47.1:5000/gantry-example/web:1.0.0",
     ImageRef("10.231.47.1:5000", "gantry-example/web", "1.0.0")),
    ("domain", "ghcr.io/org/app:v1.2.3", ImageRef("ghcr.io", "org/app", "v1.2.3")),
    ("digest-only", f"app@{DIGEST}", ImageRef("docker.io", "library/app", "", DIGEST)),
    ("tag-and-digest", f"ghcr.io/o/app:1.0@{DIGEST}", ImageRef("ghcr.io", "o/app", "1.0", DIGEST)),
    ("port-and-digest", f"reg:5000/app@{DIGEST}", ImageRef("reg:5000", "app", "", DIGEST)),
]


@pytest.mark.parametrize("ref,want", [c[1:] for c in PARSE], ids=[c[0] for c in PARSE])
def test_images_parse_image(ref, want):
    assert parse_image(ref) == want


IMAGES = [
    ("no-tag", "nginx", [("IMG-TAG-MUTABLE", "error")]),
    ("latest", "nginx:latest", [("IMG-TAG-MUTABLE", "error")]),
    ("latest-upper", "nginx:LATEST", [("IMG-TAG-MUTABLE", "error")]),
    ("stable", "nginx:stable", [("IMG-TAG-MUTABLE", "error")]),
    ("edge", "alpine:edge", [("IMG-TAG-MUTABLE", "error")]),
    ("nightly", "app:nightly", [("IMG-TAG-MUTABLE", "error")]),
    ("dev", "app:dev", [("IMG-TAG-MUTABLE", "error")]),
    ("test", "app:test", [("IMG-TAG-MUTABLE", "error")]),
    ("registry-port-no-tag", "registry:5000/app", [("IMG-TAG-MUTABLE", "error")]),
    ("pinned-tag", "nginx:1.27.3", [("IMG-DIGEST-MISSING", "warn")]),
    ("registry-port-pinned", "registry:5000/app:1.0", [("IMG-DIGEST-MISSING", "warn")]),
    ("stable-slim-pinned", "nginx:stable-alpine3.20", [("IMG-DIGEST-MISSING", "warn")]),
    ("digest", f"nginx@{DIGEST}", []),
    ("latest-with-digest", f"nginx:latest@{DIGEST}", []),
    ("tag-with-digest", f"nginx:1.27@{DIGEST}", []),
]


@pytest.mark.parametrize("image,expected", [c[1:] for c in IMAGES], ids=[c[0] for c in IMAGES])
def test_images_tag_and_digest(image, expected):
    got = [(rule, sev) for rule in ("IMG-TAG-MUTABLE", "IMG-DIGEST-MISSING")
           for _, sev in fired(rule, {"image": image})]
    assert got == expected


REGISTRIES = [
    ("allowed", "registry.example.com/app:1", ("registry.example.com",), []),
    ("hub-not-allowed", "nginx:1", ("registry.example.com",), [("image", "error")]),
    ("hub-allowed", "nginx:1", ("docker.io",), []),
    ("port-must-match", "registry.example.com:5000/app:1", ("registry.example.com",), [("image", "error")]),
    ("port-allowed", "registry:5000/app:1", ("registry:5000",), []),
    ("no-allow-list", "evil.example.net/app:1", (), []),
    ("user-looks-like-host", "example/app:1", ("example",), [("image", "error")]),
]


@pytest.mark.parametrize("image,allow,expected", [c[1:] for c in REGISTRIES], ids=[c[0] for c in REGISTRIES])
def test_images_registry_allow_list(image, allow, expected):
    assert fired("IMG-REGISTRY-UNTRUSTED", {"image": image}, allow_registries=allow) == expected


def test_images_registry_off_in_dev():
    assert fired("IMG-REGISTRY-UNTRUSTED", {"image": "nginx:1"}, allow_registries=("x.io",), level="dev") == []


PORTS = [
    ("long-no-host-ip", {"target": 80, "published": "8080"}, [PortBinding(0, "", 8080, 80)]),
    ("long-ephemeral", {"target": 80}, [PortBinding(0, "", 0, 80)]),
    ("short-target", "80", [PortBinding(0, "", 0, 80)]),
    ("short-int", 80, [PortBinding(0, "", 0, 80)]),
    ("short-pair", "8080:80", [PortBinding(0, "", 8080, 80)]),
    ("short-ip", "127.0.0.1:8080:80", [PortBinding(0, "127.0.0.1", 8080, 80)]),
    ("short-ip-ephemeral", "127.0.0.1::80", [PortBinding(0, "127.0.0.1", 0, 80)]),
    ("short-udp", "53:53/udp", [PortBinding(0, "", 53, 53, "udp")]),
    ("short-ipv6-bracket", "[::1]:8080:80", [PortBinding(0, "::1", 8080, 80)]),
    ("short-ipv6-wild", "[::]:443:443", [PortBinding(0, "::", 443, 443)]),
    ("short-range", "8000-8001:9000-9001", [PortBinding(0, "", 8000, 9000), PortBinding(0, "", 8001, 9001)]),
    ("short-host-range-one-target", "8000-8001:80", [PortBinding(0, "", 8000, 80), PortBinding(0, "", 8001, 80)]),
]


@pytest.mark.parametrize("entry,want", [c[1:] for c in PORTS], ids=[c[0] for c in PORTS])
def test_ports_parse_port(entry, want):
    assert parse_port(0, entry) == want


WILD = "PORT-HOST-WILDCARD"
PRIV = "PORT-PRIVILEGED"
PORT_RULES = [
    ("no-host-ip", WILD, [{"target": 80, "published": "8080"}], [("ports[0]", "warn")]),
    ("zero-ip", WILD, [{"target": 80, "published": "8080", "host_ip": "0.0.0.0"}], [("ports[0]", "warn")]),
    ("ipv6-any", WILD, [{"target": 80, "published": "8080", "host_ip": "::"}], [("ports[0]", "warn")]),
    ("ipv6-any-bracket", WILD, [{"target": 80, "published": "8080", "host_ip": "[::]"}], [("ports[0]", "warn")]),
    ("ephemeral", WILD, [{"target": 80}], [("ports[0]", "warn")]),
    ("short-wild", WILD, ["8080:80"], [("ports[0]", "warn")]),
    ("short-range-once", WILD, ["8000-8002:8000-8002"], [("ports[0]", "warn")]),
    ("loopback-ok", WILD, [{"target": 80, "published": "8080", "host_ip": "127.0.0.1"}], []),
    ("short-loopback-ok", WILD, ["127.0.0.1:8080:80"], []),
    ("ipv6-loopback-ok", WILD, ["[::1]:8080:80"], []),
    ("specific-ip-ok", WILD, ["10.0.0.5:8080:80"], []),
    ("priv-80", PRIV, [{"target": 8080, "published": "80", "host_ip": "127.0.0.1"}], [("ports[0]", "warn")]),
    ("priv-short", PRIV, ["127.0.0.1:443:8443"], [("ports[0]", "warn")]),
    ("priv-range", PRIV, ["1020-1025:1020-1025"], [("ports[0]", "warn")] * 4),
    ("priv-container-port-ignored", PRIV, ["8080:80"], []),
    ("priv-ephemeral-ok", PRIV, ["80"], []),
    ("priv-1024-ok", PRIV, ["1024:1024"], []),
]


@pytest.mark.parametrize("rule,ports,expected", [c[1:] for c in PORT_RULES], ids=[c[0] for c in PORT_RULES])
def test_ports_rule_table(rule, ports, expected):
    assert fired(rule, {"image": "a:1", "ports": ports}) == expected


def test_ports_privileged_allowed_per_service():
    svc = {"image": "a:1", "ports": ["127.0.0.1:80:8080", "127.0.0.1:443:8443", "127.0.0.1:22:22"]}
    allowed = {"s": (80, 443)}
    assert fired(PRIV, svc, allowed_privileged_ports=allowed) == [("ports[2]", "warn")]
    assert len(fired(PRIV, svc, allowed_privileged_ports={"other": (80, 443)})) == 3


SSH = [
    ("port-22", {"ports": ["127.0.0.1:2222:22"]}, [("ports[0]", "error")]),
    ("port-22-long", {"ports": [{"target": 22, "host_ip": "127.0.0.1", "published": "2222"}]},
     [("ports[0]", "error")]),
    ("published-22-target-other-ok", {"ports": ["127.0.0.1:22:2222"]}, []),
    ("command-sshd", {"command": ["/usr/sbin/sshd", "-D"]}, [("command", "error")]),
    ("command-string-sshd", {"command": "sshd -D -e"}, [("command", "error")]),
    ("sh-c-sshd", {"entrypoint": ["sh", "-c", "exec /usr/sbin/sshd -D"]}, [("entrypoint", "error")]),
    ("command-sshd-config-ok", {"command": ["cat", "/etc/ssh/sshd_config"]}, []),
    ("image-openssh-server", {"image": "linuxserver/openssh-server:9.7"}, [("image", "error")]),
    ("image-sshd", {"image": "rastasheep/ubuntu-sshd:18.04"}, [("image", "error")]),
    ("image-sshd-lookalike-ok", {"image": "sshdump:1"}, []),
    ("image-ssh-agent-ok", {"image": "ssh-agent:1"}, []),
]


@pytest.mark.parametrize("service,expected", [c[1:] for c in SSH], ids=[c[0] for c in SSH])
def test_ports_ssh_in_container(service, expected):
    assert fired("SSH-IN-CONTAINER", service) == expected
