"""A rollback pins images by writing `image: repo@sha256:..` into the host's copy of the release, never by
retagging: release.pinned_compose (pure) and the commands that write and use the pinned copy."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from gantry import yamlio
from gantry.compose.render import render_yaml
from gantry.engines.hosts import commands
from gantry.release import pinned_compose
from gantry.shell import render

WEB, WORKER = "reg:5000/app/web:1.0", "reg:5000/app/worker:1.0"
WEB_AT = "reg:5000/app/web@sha256:" + "a" * 64
WORKER_AT = "reg:5000/app/worker@sha256:" + "b" * 64
MODEL = {"services": {
    "web": {"image": WEB, "labels": {"image": WEB}, "environment": {"IMAGE": WEB, "PRICE": "$5"},
            "command": ["httpd", "-f"]},
    "worker": {"image": WORKER, "x-note": {"image": WEB}},
    "db": {"image": "postgres:16", "ports": ["5432"]},
}, "x-image": {"image": WEB}}


def rendered(data=MODEL) -> str:
    return render_yaml(SimpleNamespace(data=data, interpolated=True))


def load(text: str) -> dict:
    return yamlio.load_documents(text, "compose.yaml")[0].data


@pytest.mark.parametrize("pins, images", [
    ({WEB: WEB_AT}, {"web": WEB_AT, "worker": WORKER, "db": "postgres:16"}),
    ({WEB: WEB_AT, WORKER: WORKER_AT}, {"web": WEB_AT, "worker": WORKER_AT, "db": "postgres:16"}),
    ({}, {"web": WEB, "worker": WORKER, "db": "postgres:16"}),
    ({"other/image:2": "other/image@sha256:" + "c" * 64}, {"web": WEB, "worker": WORKER, "db": "postgres:16"}),
], ids=["one", "two", "none", "not-in-release"])
def test_pinning_rewrites_only_service_images(pins, images):
    original = rendered()
    pinned = pinned_compose(original, pins)
    got = load(pinned)
    assert {name: svc["image"] for name, svc in got["services"].items()} == images
    # labels, environment, extensions that happen to hold the same text are left alone; so is every other line
    assert got["services"]["web"]["labels"] == {"image": WEB} and got["services"]["web"]["environment"]["IMAGE"] == WEB
    assert got["services"]["worker"]["x-note"] == {"image": WEB} and got["x-image"] == {"image": WEB}
    assert [a for a, b in zip(original.splitlines(), pinned.splitlines()) if a != b] == \
        [line for line in original.splitlines() if line.startswith("    image: ") and line[11:] in pins]
    assert "$$5" in pinned  # the bundle's escaping survives: compose on the host reads the same value


def test_pinning_refuses_a_file_not_in_the_renderers_shape():
    flow = "services: {web: {image: " + WEB + "}}\n"
    with pytest.raises(ValueError, match="not in the shape"):
        pinned_compose(flow, {WEB: WEB_AT})
    assert pinned_compose(flow, {}) == flow


LAYOUT = commands.Layout("/srv/my app/p/e")
PINNED = "'/srv/my app/p/e/compose.pinned.yaml'"


def test_pinning_commands_write_and_use_the_pinned_copy():
    assert commands.pinned_header("r1") == "# pinned copy of release r1\n"
    assert render(commands.write_pinned(LAYOUT)) == \
        f"cat > {PINNED[:-1]}.tmp' && mv -f -- {PINNED[:-1]}.tmp' {PINNED}"
    up = render(commands.pull_and_up("p-e", LAYOUT, "r1", (), pinned=True))
    assert f"-f {PINNED}" in up and "compose.yaml'" not in up.replace("compose.pinned.yaml", "")
    assert "docker tag" not in up and "rm -f" not in up
    plain = render(commands.pull_and_up("p-e", LAYOUT, "r1", ("reg/web:1",)))
    # a forward up runs compose.yaml and drops a pinned copy an earlier rollback left
    assert plain.startswith(f"rm -f -- {PINNED} && ") and "-f '/srv/my app/p/e/releases/r1/compose.yaml'" in plain


def test_pinning_drift_hashes_the_config_the_containers_came_from():
    text = render(commands.drift_details("p-e", LAYOUT, "r1"))
    check = f"grep -qxF -e '# pinned copy of release r1' -- {PINNED}"
    plain = "-f '/srv/my app/p/e/releases/r1/compose.yaml'"
    assert text.index(check) < text.index(f"-f {PINNED} --env-file") < text.index(plain) < \
        text.index("--gantry:containers")
