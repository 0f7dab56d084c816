"""Which lab hosts manage and which work (pure part of gantry.lab.swarm)."""

from pathlib import Path

import pytest

from gantry.lab.model import Lab, LabError, LabHost
from gantry.lab.swarm import layout_of

HOSTS = tuple(LabHost(f"lab-{i}", f"10.231.47.{10 + i}", 22, f"unix:///run/x/lab-{i}/docker.sock") for i in (1, 2, 3))
LAB = Lab(Path("/p"), HOSTS, "10.231.47.1:5000", Path("/k"), Path("/kh"), Path("/inv"))


@pytest.mark.parametrize("managers, workers, want", [
    (1, 2, (["lab-1"], ["lab-2", "lab-3"])), (2, 1, (["lab-1", "lab-2"], ["lab-3"])), (1, 0, (["lab-1"], [])),
], ids=["one-manager", "two-managers", "manager-only"])
def test_swarm_lab_layout(managers, workers, want):
    layout = layout_of(LAB, managers, workers)
    assert ([h.name for h in layout.managers], [h.name for h in layout.workers]) == want
    assert layout.role(HOSTS[0]) == "manager"


@pytest.mark.parametrize("managers, workers, words", [
    (0, 2, "at least one manager"), (2, 2, "need 4 hosts, the lab has 3"),
], ids=["no-manager", "too-few-hosts"])
def test_swarm_lab_layout_refused(managers, workers, words):
    with pytest.raises(LabError) as caught:
        layout_of(LAB, managers, workers)
    assert words in str(caught.value)
