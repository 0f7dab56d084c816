"""Each pytest-xdist worker gets its own lab slot, so end-to-end modules on different workers run at once."""

from __future__ import annotations

import os


def pytest_configure(config) -> None:
    # Slot 0 is a developer's own lab (the README's first command); the suite starts at slot 1 unless
    # GANTRY_TEST_SLOT_BASE says otherwise (two checkouts testing on one machine).
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker.removeprefix("gw")) if worker.removeprefix("gw").isdigit() else 0
    os.environ["GANTRY_LAB_SLOT"] = str(int(os.environ.get("GANTRY_TEST_SLOT_BASE", "1")) + index)
