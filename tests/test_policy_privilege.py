"""Privilege rules: each written form they must catch, and near-misses they must not."""

import pytest

from gantry.policy.privilege import normalize_cap, split_security_opt
from tests.policy_cases import fired

CASES = [
    # (id, rule, service yaml, expected [(path, severity)] at prod)
    ("privileged-true", "PRIV-PRIVILEGED", "privileged: true", [("privileged", "error")]),
    ("privileged-string-true", "PRIV-PRIVILEGED", "privileged: 'true'", [("privileged", "error")]),
    ("privileged-string-yes", "PRIV-PRIVILEGED", "privileged: 'yes'", [("privileged", "error")]),
    ("privileged-false", "PRIV-PRIVILEGED", "privileged: false", []),
    ("privileged-string-false", "PRIV-PRIVILEGED", "privileged: 'false'", []),
    ("privileged-absent", "PRIV-PRIVILEGED", "image: a:1", []),
    ("net-host", "NS-HOST-NETWORK", "network_mode: host", [("network_mode", "error")]),
    ("net-bridge", "NS-HOST-NETWORK", "network_mode: bridge", []),
    ("net-service", "NS-HOST-NETWORK", "network_mode: 'service:host'", []),
    ("pid-host", "NS-HOST-PID", "pid: host", [("pid", "error")]),
    ("pid-service", "NS-HOST-PID", "pid: 'service:db'", []),
    ("ipc-host", "NS-HOST-IPC", "ipc: host", [("ipc", "error")]),
    ("ipc-shareable", "NS-HOST-IPC", "ipc: shareable", []),
    ("uts-host", "NS-HOST-UTS", "uts: host", [("uts", "warn")]),
    ("userns-host", "NS-HOST-USERNS", "userns_mode: host", [("userns_mode", "warn")]),
    ("userns-absent", "NS-HOST-USERNS", "image: a:1", []),
    ("cap-sys-admin", "CAP-ADD-DANGEROUS", "cap_add: [SYS_ADMIN]", [("cap_add[0]", "error")]),
    ("cap-prefixed-lower", "CAP-ADD-DANGEROUS", "cap_add: [cap_sys_module]", [("cap_add[0]", "error")]),
    ("cap-prefixed-mixed", "CAP-ADD-DANGEROUS", "cap_add: [Cap_Sys_RawIO]", [("cap_add[0]", "error")]),
    ("cap-all", "CAP-ADD-DANGEROUS", "cap_add: [all]", [("cap_add[0]", "error")]),
    ("cap-net-admin-warn", "CAP-ADD-DANGEROUS", "cap_add: [CHOWN, NET_ADMIN]", [("cap_add[1]", "warn")]),
    ("cap-ptrace-warn", "CAP-ADD-DANGEROUS", "cap_add: [CAP_SYS_PTRACE]", [("cap_add[0]", "warn")]),
    ("cap-net-bind-ok", "CAP-ADD-DANGEROUS", "cap_add: [NET_BIND_SERVICE, CHOWN]", []),
    ("cap-sys-admin-dropped-only", "CAP-ADD-DANGEROUS", "cap_drop: [SYS_ADMIN]", []),
    ("drop-missing", "CAP-DROP-MISSING", "image: a:1", [("cap_drop", "warn")]),
    ("drop-some", "CAP-DROP-MISSING", "cap_drop: [NET_RAW]", [("cap_drop", "warn")]),
    ("drop-all", "CAP-DROP-MISSING", "cap_drop: [ALL]", []),
    ("drop-all-lower", "CAP-DROP-MISSING", "cap_drop: [all]", []),
    ("drop-cap-all", "CAP-DROP-MISSING", "cap_drop: [CAP_ALL]", []),
    ("seccomp-colon", "SECOPT-UNCONFINED", "security_opt: ['seccomp:unconfined']", [("security_opt[0]", "error")]),
    ("seccomp-equals", "SECOPT-UNCONFINED", "security_opt: ['seccomp=unconfined']", [("security_opt[0]", "error")]),
    ("apparmor", "SECOPT-UNCONFINED", "security_opt: [x, 'apparmor=unconfined']", [("security_opt[1]", "error")]),
    ("label-disable", "SECOPT-UNCONFINED", "security_opt: ['label:disable']", [("security_opt[0]", "error")]),
    ("seccomp-profile-ok", "SECOPT-UNCONFINED", "security_opt: ['seccomp=/etc/profile.json']", []),
    ("apparmor-profile-ok", "SECOPT-UNCONFINED", "security_opt: ['apparmor:docker-default']", []),
    ("label-type-ok", "SECOPT-UNCONFINED", "security_opt: ['label:type:svirt_apache_t']", []),
    ("nnp-missing", "SECOPT-NNP-MISSING", "image: a:1", [("security_opt", "warn")]),
    ("nnp-bare", "SECOPT-NNP-MISSING", "security_opt: [no-new-privileges]", []),
    ("nnp-colon-true", "SECOPT-NNP-MISSING", "security_opt: ['no-new-privileges:true']", []),
    ("nnp-equals-true", "SECOPT-NNP-MISSING", "security_opt: ['no-new-privileges=true']", []),
    ("nnp-false", "SECOPT-NNP-MISSING", "security_opt: ['no-new-privileges:false']", [("security_opt", "warn")]),
    ("nnp-last-wins-false", "SECOPT-NNP-MISSING",
     "security_opt: ['no-new-privileges:true', 'no-new-privileges=false']", [("security_opt", "warn")]),
    ("nnp-last-wins-true", "SECOPT-NNP-MISSING",
     "security_opt: ['no-new-privileges:false', 'no-new-privileges']", []),
    ("user-root", "USER-ROOT", "user: root", [("user", "warn")]),
    ("user-0", "USER-ROOT", "user: '0'", [("user", "warn")]),
    ("user-0-0", "USER-ROOT", "user: '0:0'", [("user", "warn")]),
    ("user-int-0", "USER-ROOT", "user: 0", [("user", "warn")]),
    ("user-root-group", "USER-ROOT", "user: 'root:www'", [("user", "warn")]),
    ("user-1000-group-0", "USER-ROOT", "user: '1000:0'", []),
    ("user-nobody", "USER-ROOT", "user: '65534:65534'", []),
    ("user-rootless-name", "USER-ROOT", "user: rootless", []),
    ("user-absent-static", "USER-ROOT", "image: a:1", []),
    ("dev-block", "DEVICE-HOST", "devices: ['/dev/sda:/dev/xvda:rwm']", [("devices[0]", "error")]),
    ("dev-nvme", "DEVICE-HOST", "devices: ['/dev/nvme0n1']", [("devices[0]", "error")]),
    ("dev-mem", "DEVICE-HOST", "devices: ['/dev/mem:/dev/mem']", [("devices[0]", "error")]),
    ("dev-kmsg", "DEVICE-HOST", "devices: ['/dev/kmsg']", [("devices[0]", "error")]),
    ("dev-loop", "DEVICE-HOST", "devices: ['/dev/loop0', '/dev/loop-control']",
     [("devices[0]", "error"), ("devices[1]", "error")]),
    ("dev-mapper", "DEVICE-HOST", "devices: ['/dev/mapper/vg-root']", [("devices[0]", "error")]),
    ("dev-long-form", "DEVICE-HOST", "devices: [{source: /dev/sdb1, target: /dev/sdb1, permissions: r}]",
     [("devices[0]", "error")]),
    ("dev-tun-ok", "DEVICE-HOST", "devices: ['/dev/net/tun']", []),
    ("dev-fuse-ok", "DEVICE-HOST", "devices: ['/dev/fuse:/dev/fuse']", []),
    ("dev-cdi-ok", "DEVICE-HOST", "devices: ['nvidia.com/gpu=all']", []),
    ("dev-sdx-name-ok", "DEVICE-HOST", "devices: ['/dev/snd']", []),
]


@pytest.mark.parametrize("rule,service,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_privilege_rule_table(rule, service, expected):
    assert fired(rule, service) == expected


DEV_LEVEL = [
    ("privileged", "PRIV-PRIVILEGED", "privileged: true", [("privileged", "warn")]),
    ("net-host", "NS-HOST-NETWORK", "network_mode: host", [("network_mode", "info")]),
    ("uts-off", "NS-HOST-UTS", "uts: host", []),
    ("cap-error-to-info", "CAP-ADD-DANGEROUS", "cap_add: [SYS_ADMIN, NET_ADMIN]",
     [("cap_add[0]", "info"), ("cap_add[1]", "info")]),
    ("drop-off", "CAP-DROP-MISSING", "image: a:1", []),
    ("user-info", "USER-ROOT", "user: root", [("user", "info")]),
]


@pytest.mark.parametrize("rule,service,expected", [c[1:] for c in DEV_LEVEL], ids=[c[0] for c in DEV_LEVEL])
def test_privilege_dev_level_uses_dev_column(rule, service, expected):
    assert fired(rule, service, level="dev") == expected


@pytest.mark.parametrize("written,want", [
    ("SYS_ADMIN", "SYS_ADMIN"), ("cap_sys_admin", "SYS_ADMIN"), ("Cap_Net_Admin", "NET_ADMIN"), (" all ", "ALL"),
], ids=["plain", "lower-prefixed", "mixed-prefixed", "spaces"])
def test_privilege_normalize_cap(written, want):
    assert normalize_cap(written) == want


@pytest.mark.parametrize("written,want", [
    ("seccomp:unconfined", ("seccomp", "unconfined")),
    ("seccomp=unconfined", ("seccomp", "unconfined")),
    ("no-new-privileges", ("no-new-privileges", None)),
    ("label:type:svirt_t", ("label", "type:svirt_t")),
    ("seccomp=/path:with:colons.json", ("seccomp", "/path:with:colons.json")),
], ids=["colon", "equals", "bare", "label-nested-colon", "equals-before-colon"])
def test_privilege_split_security_opt(written, want):
    assert split_security_opt(written) == want


@pytest.mark.parametrize("facts,expected", [
    ({"Config": {"User": ""}}, [("user", "warn")]),
    ({"Config": {"User": "root"}}, [("user", "warn")]),
    ({"Config": {"User": "0:0"}}, [("user", "warn")]),
    ({"Config": {}}, [("user", "warn")]),
    ({"Config": {"User": "app"}}, []),
    ({"Config": {"User": "1000:0"}}, []),
], ids=["empty", "root", "0-0", "unset", "named", "uid-with-group-0"])
def test_privilege_user_root_from_image_facts(facts, expected):
    assert fired("USER-ROOT", "image: a:1", image_facts={"a:1": facts}) == expected


def test_privilege_user_in_compose_wins_over_image_facts():
    facts = {"a:1": {"Config": {"User": "root"}}}
    assert fired("USER-ROOT", "{image: 'a:1', user: '1000'}", image_facts=facts) == []


def test_privilege_image_facts_for_another_image_ignored():
    assert fired("USER-ROOT", "image: a:1", image_facts={"b:1": {"Config": {"User": ""}}}) == []
