"""Runtime rules: logging, restart policy, health check, read-only root filesystem."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from gantry.policy.findings import Hit, ServiceView
from gantry.policy.scalars import as_bool, as_list, as_number, dig

MAX_RESTARTS = 5


def check(view: ServiceView) -> Iterator[Hit]:
    yield from _logging(view)
    yield from _restart(view)
    yield from _healthcheck(view)
    if not as_bool(view.service.get("read_only")):
        yield Hit("FS-READONLY-MISSING", f"{view.base}.read_only", "read_only is not true")


def _logging(view: ServiceView) -> Iterator[Hit]:
    logging, base = view.service.get("logging"), f"{view.base}.logging"
    if not isinstance(logging, Mapping) or not logging:
        yield Hit("LOG-ROTATION-MISSING", base,
                  "no logging block: the daemon default applies (json-file without rotation unless "
                  "daemon.json sets log-opts)")
        return
    driver = str(logging.get("driver") or "").strip()
    if driver == "none":
        yield Hit("LOG-DRIVER-NONE", f"{base}.driver", "logging driver is none")
    elif driver in ("", "json-file"):
        max_size = str(dig(logging, "options", "max-size") or "").strip()
        if max_size in ("", "-1"):
            yield Hit("LOG-ROTATION-MISSING", f"{base}.options.max-size",
                      f"{driver or 'default'} logging driver without max-size")


def _restart(view: ServiceView) -> Iterator[Hit]:
    svc, base = view.service, view.base
    restart = str(svc.get("restart") or "").strip().lower()
    policy = dig(svc, "deploy", "restart_policy")
    if restart and restart != "no":
        name, _, count = restart.partition(":")
        unbounded = name in ("always", "unless-stopped") or (
            name == "on-failure" and not 0 < as_number(count) <= MAX_RESTARTS)
        if unbounded:
            yield Hit("RESTART-UNBOUNDED", f"{base}.restart", f"restart: {restart} has no bound of {MAX_RESTARTS}")
        return
    condition = str(dig(policy, "condition") or "any").strip().lower()
    if isinstance(policy, Mapping) and condition != "none":
        if not 0 < as_number(policy.get("max_attempts")) <= MAX_RESTARTS:
            yield Hit("RESTART-UNBOUNDED", f"{base}.deploy.restart_policy.max_attempts",
                      f"restart_policy {condition} without max_attempts <= {MAX_RESTARTS}")
        return
    yield Hit("RESTART-MISSING", f"{base}.restart", "no restart policy")


def _test_disabled(test: object) -> bool:
    words = as_list(test)
    return bool(words) and str(words[0]).strip().upper() == "NONE"


def _healthcheck(view: ServiceView) -> Iterator[Hit]:
    check_, path = view.service.get("healthcheck"), f"{view.base}.healthcheck"
    if isinstance(check_, Mapping) and as_bool(check_.get("disable")):
        yield Hit("HEALTHCHECK-MISSING", f"{path}.disable", "healthcheck is disabled")
        return
    test = dig(check_, "test")
    if test is not None:
        if _test_disabled(test):
            yield Hit("HEALTHCHECK-MISSING", f"{path}.test", "healthcheck test is NONE")
        return
    if view.image_facts is not None:
        image_test = dig(view.image_facts, "Config", "Healthcheck", "Test")
        if image_test is None or _test_disabled(image_test):
            yield Hit("HEALTHCHECK-MISSING", path, "no healthcheck here and none in the image")
    elif check_ is None:
        yield Hit("HEALTHCHECK-MISSING", path, "no healthcheck (one in the image is checked at deploy time)")
