"""Resource, logging, restart, health check, read-only and dev-artifact rules."""

import pytest

from tests.policy_cases import fired

LIMITS = "RES-LIMITS-MISSING"
PIDS = "RES-PIDS-LIMIT-MISSING"
L = "deploy.resources.limits"

CASES = [
    ("limits-none", LIMITS, "image: a:1", [(L, "error")]),
    ("deploy-limits", LIMITS, "deploy: {resources: {limits: {cpus: '0.5', memory: '67108864'}}}", []),
    ("deploy-limits-short", LIMITS, "deploy: {resources: {limits: {cpus: 0.5, memory: 64M}}}", []),
    ("mem-limit-and-cpus", LIMITS, "{mem_limit: 512m, cpus: 0.5}", []),
    ("mem-limit-bytes-and-quota", LIMITS, "{mem_limit: '536870912', cpu_quota: 50000}", []),
    ("memory-only", LIMITS, "mem_limit: 1g", [(L, "error")]),
    ("cpu-only", LIMITS, "deploy: {resources: {limits: {cpus: '1'}}}", [(L, "error")]),
    ("zero-memory", LIMITS, "{mem_limit: '0', cpus: 1}", [(L, "error")]),
    ("zero-cpus", LIMITS, "deploy: {resources: {limits: {cpus: '0', memory: 1g}}}", [(L, "error")]),
    ("reservations-not-limits", LIMITS,
     "deploy: {resources: {reservations: {cpus: '1', memory: 1g}}}", [(L, "error")]),
    ("pids-none", PIDS, "image: a:1", [(f"{L}.pids", "info")]),
    ("pids-limit", PIDS, "pids_limit: 100", []),
    ("deploy-pids", PIDS, "deploy: {resources: {limits: {pids: 64}}}", []),
    ("pids-unlimited", PIDS, "pids_limit: -1", [(f"{L}.pids", "info")]),
    ("pids-zero", PIDS, "deploy: {resources: {limits: {pids: 0}}}", [(f"{L}.pids", "info")]),
    # logging
    ("log-none", "LOG-DRIVER-NONE", "logging: {driver: none}", [("logging.driver", "warn")]),
    ("log-json-ok-for-none-rule", "LOG-DRIVER-NONE", "logging: {driver: json-file}", []),
    ("rot-no-block", "LOG-ROTATION-MISSING", "image: a:1", [("logging", "warn")]),
    ("rot-json-no-size", "LOG-ROTATION-MISSING", "logging: {driver: json-file}",
     [("logging.options.max-size", "warn")]),
    ("rot-json-max-file-only", "LOG-ROTATION-MISSING", "logging: {driver: json-file, options: {max-file: 3}}",
     [("logging.options.max-size", "warn")]),
    ("rot-json-size", "LOG-ROTATION-MISSING", "logging: {driver: json-file, options: {max-size: 10m}}", []),
    ("rot-unset-driver-size", "LOG-ROTATION-MISSING", "logging: {options: {max-size: '10m', max-file: 3}}", []),
    ("rot-unset-driver-no-size", "LOG-ROTATION-MISSING", "logging: {options: {max-file: '3'}}",
     [("logging.options.max-size", "warn")]),
    ("rot-size-minus-one", "LOG-ROTATION-MISSING", "logging: {driver: json-file, options: {max-size: '-1'}}",
     [("logging.options.max-size", "warn")]),
    ("rot-local", "LOG-ROTATION-MISSING", "logging: {driver: local}", []),
    ("rot-journald", "LOG-ROTATION-MISSING", "logging: {driver: journald}", []),
    ("rot-fluentd", "LOG-ROTATION-MISSING", "logging: {driver: fluentd, options: {fluentd-address: x:24224}}", []),
    ("rot-none-is-other-rule", "LOG-ROTATION-MISSING", "logging: {driver: none}", []),
    # restart
    ("restart-missing", "RESTART-MISSING", "image: a:1", [("restart", "warn")]),
    ("restart-no", "RESTART-MISSING", "restart: 'no'", [("restart", "warn")]),
    ("restart-policy-none", "RESTART-MISSING", "deploy: {restart_policy: {condition: none}}", [("restart", "warn")]),
    ("restart-set", "RESTART-MISSING", "restart: on-failure:3", []),
    ("restart-policy", "RESTART-MISSING", "deploy: {restart_policy: {condition: on-failure, max_attempts: 3}}", []),
    ("unb-always", "RESTART-UNBOUNDED", "restart: always", [("restart", "info")]),
    ("unb-unless-stopped", "RESTART-UNBOUNDED", "restart: unless-stopped", [("restart", "info")]),
    ("unb-on-failure", "RESTART-UNBOUNDED", "restart: on-failure", [("restart", "info")]),
    ("unb-on-failure-10", "RESTART-UNBOUNDED", "restart: on-failure:10", [("restart", "info")]),
    ("unb-on-failure-5-ok", "RESTART-UNBOUNDED", "restart: on-failure:5", []),
    ("unb-on-failure-3-ok", "RESTART-UNBOUNDED", "restart: on-failure:3", []),
    ("unb-policy-no-max", "RESTART-UNBOUNDED", "deploy: {restart_policy: {condition: on-failure}}",
     [("deploy.restart_policy.max_attempts", "info")]),
    ("unb-policy-any-default", "RESTART-UNBOUNDED", "deploy: {restart_policy: {delay: 5s}}",
     [("deploy.restart_policy.max_attempts", "info")]),
    ("unb-policy-max-9", "RESTART-UNBOUNDED", "deploy: {restart_policy: {condition: any, max_attempts: 9}}",
     [("deploy.restart_policy.max_attempts", "info")]),
    ("unb-policy-max-5-ok", "RESTART-UNBOUNDED", "deploy: {restart_policy: {max_attempts: 5}}", []),
    ("unb-no-restart-ok", "RESTART-UNBOUNDED", "restart: 'no'", []),
    # health check
    ("hc-missing", "HEALTHCHECK-MISSING", "image: a:1", [("healthcheck", "warn")]),
    ("hc-disable", "HEALTHCHECK-MISSING", "healthcheck: {disable: true}", [("healthcheck.disable", "warn")]),
    ("hc-disable-string", "HEALTHCHECK-MISSING", "healthcheck: {disable: 'true'}",
     [("healthcheck.disable", "warn")]),
    ("hc-none", "HEALTHCHECK-MISSING", "healthcheck: {test: [NONE]}", [("healthcheck.test", "warn")]),
    ("hc-none-string", "HEALTHCHECK-MISSING", "healthcheck: {test: NONE}", [("healthcheck.test", "warn")]),
    ("hc-cmd", "HEALTHCHECK-MISSING", "healthcheck: {test: [CMD, wget, -q, 'http://x/']}", []),
    ("hc-cmd-shell", "HEALTHCHECK-MISSING", "healthcheck: {test: 'curl -f http://x/'}", []),
    ("hc-timing-only-uses-image", "HEALTHCHECK-MISSING", "healthcheck: {interval: 5s}", []),
    # read-only
    ("ro-missing", "FS-READONLY-MISSING", "image: a:1", [("read_only", "info")]),
    ("ro-false", "FS-READONLY-MISSING", "read_only: false", [("read_only", "info")]),
    ("ro-true", "FS-READONLY-MISSING", "read_only: true", []),
    ("ro-string", "FS-READONLY-MISSING", "read_only: 'yes'", []),
]


@pytest.mark.parametrize("rule,service,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_runtime_rule_table(rule, service, expected):
    assert fired(rule, service) == expected


@pytest.mark.parametrize("service,facts,expected", [
    ("image: a:1", {"Config": {"Healthcheck": {"Test": ["CMD-SHELL", "true"]}}}, []),
    ("image: a:1", {"Config": {"Healthcheck": {"Test": ["NONE"]}}}, [("healthcheck", "warn")]),
    ("image: a:1", {"Config": {}}, [("healthcheck", "warn")]),
    ("{image: 'a:1', healthcheck: {interval: 5s}}", {"Config": {}}, [("healthcheck", "warn")]),
    ("{image: 'a:1', healthcheck: {disable: true}}", {"Config": {"Healthcheck": {"Test": ["CMD", "x"]}}},
     [("healthcheck.disable", "warn")]),
], ids=["image-has-one", "image-none", "image-lacks", "timing-only-image-lacks", "disabled-beats-image"])
def test_runtime_healthcheck_from_image_facts(service, facts, expected):
    assert fired("HEALTHCHECK-MISSING", service, image_facts={"a:1": facts}) == expected


DEV = "PROD-DEV-ARTIFACTS"
ARTIFACTS = [
    ("build", "build: {context: .}", [("build", "error")]),
    ("build-string", "build: .", [("build", "error")]),
    ("reload", "command: [uvicorn, app:app, --reload]", [("command", "error")]),
    ("reload-dir", "command: 'uvicorn app:app --reload-dir src'", [("command", "error")]),
    ("debug-flag", "entrypoint: [flask, run, --debug]", [("entrypoint", "error")]),
    ("inspect", "command: [node, --inspect=0.0.0.0:9229, app.js]", [("command", "error")]),
    ("inspect-brk-in-sh-c", "command: [sh, -c, 'node --inspect-brk app.js']", [("command", "error")]),
    ("debugger-word-ok", "command: [app, --debugger-off]", []),
    ("log-level-debug-ok", "command: [app, --log-level, debug]", []),
    ("node-env-development", "environment: {NODE_ENV: development}", [("environment.NODE_ENV", "error")]),
    ("app-env-dev-list", "environment: [APP_ENV=dev]", [("environment.APP_ENV", "error")]),
    ("rails-env-Development", "environment: {RAILS_ENV: Development}", [("environment.RAILS_ENV", "error")]),
    ("app-env-production-ok", "environment: {APP_ENV: production}", []),
    ("app-env-devops-ok", "environment: {APP_ENV: devops}", []),
    ("debug-1", "environment: {DEBUG: '1'}", [("environment.DEBUG", "error")]),
    ("debug-true", "environment: {DEBUG: 'true'}", [("environment.DEBUG", "error")]),
    ("flask-debug-yes", "environment: {FLASK_DEBUG: 'yes'}", [("environment.FLASK_DEBUG", "error")]),
    ("debug-0-ok", "environment: {DEBUG: '0'}", []),
    ("debug-false-ok", "environment: {DEBUG: 'false'}", []),
    ("debug-passthrough-ok", "environment: {DEBUG: null}", []),
    ("debug-namespace-ok", "environment: {DEBUG: 'app:*'}", []),
]


@pytest.mark.parametrize("service,expected", [c[1:] for c in ARTIFACTS], ids=[c[0] for c in ARTIFACTS])
def test_runtime_dev_artifacts(service, expected):
    assert fired(DEV, service) == expected


def test_runtime_dev_artifacts_off_at_dev_level():
    assert fired(DEV, "{build: ., environment: {DEBUG: '1'}}", level="dev") == []
