"""Each pytest-xdist worker gets its own lab slot, so end-to-end modules on different workers run at once.

The fault suite's table (tests/faults) is printed here, by the controller, from the rows its workers wrote.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.labtools import FAULT_ROWS_VARIABLE, fault_table


def pytest_configure(config) -> None:
    # Slot 0 is a developer's own lab (the README's first command); the suite starts at slot 1 unless
    # GANTRY_TEST_SLOT_BASE says otherwise (two checkouts testing on one machine).
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker.removeprefix("gw")) if worker.removeprefix("gw").isdigit() else 0
    os.environ["GANTRY_LAB_SLOT"] = str(int(os.environ.get("GANTRY_TEST_SLOT_BASE", "1")) + index)
    if not hasattr(config, "workerinput") and FAULT_ROWS_VARIABLE not in os.environ:
        # Set before xdist starts its workers, which inherit it.
        os.environ[FAULT_ROWS_VARIABLE] = tempfile.mkdtemp(prefix="gantry-faults-")
        config._gantry_fault_rows = os.environ[FAULT_ROWS_VARIABLE]


@pytest.fixture(scope="module")
def apps_lab_root(tmp_path_factory):
    """Where an app-matrix module's lab keeps its state (each module gets its own lab, so its own slot's worker)."""
    return tmp_path_factory.mktemp("lab")


@pytest.fixture(scope="module")
def apps_lab(apps_lab_root):
    """Two lab hosts for one module of the app matrix, up for the module, always torn down."""
    from tests.labtools import lab_or_skip

    yield from lab_or_skip(apps_lab_root, 2)


@pytest.fixture(scope="module")
def one_host_lab(apps_lab_root):
    """One lab host, for a module whose story needs no second."""
    from tests.labtools import lab_or_skip

    yield from lab_or_skip(apps_lab_root, 1)



def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    rows_dir = os.environ.get(FAULT_ROWS_VARIABLE)
    if hasattr(config, "workerinput") or not rows_dir or not Path(rows_dir).is_dir():
        return
    table = fault_table(Path(rows_dir))
    if table:
        terminalreporter.write_sep("=", "faults survived (host state read over SSH)")
        terminalreporter.write_line(table)


def pytest_unconfigure(config) -> None:
    made = getattr(config, "_gantry_fault_rows", "")
    if made:
        shutil.rmtree(made, ignore_errors=True)
        os.environ.pop(FAULT_ROWS_VARIABLE, None)
