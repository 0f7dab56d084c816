"""Imports point down the pipeline only (STYLE.md, 'Imports point down the pipeline')."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "gantry"
PURE = {"yamlio", "interpolate", "compose", "compose_merge", "compose_normalize", "compose_bind", "config", "secrets",
        "config_checks",
        "policy",
        "release", "shell", "commands", "facts", "plan", "audit", "errors"}
NETWORK_LIBS = {"fabric", "paramiko", "invoke", "subprocess", "socket"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG).with_suffix("")
    return ".".join(rel.parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            if node.module == "gantry":
                out |= {f"gantry.{a.name}" for a in node.names}
    return out


MODULES = sorted(PKG.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[_module_name(p) for p in MODULES])
def test_layering_imports_point_down(path):
    name = _module_name(path)
    top = name.split(".")[0]
    imports = _imports(path)
    gantry_deps = {i.split(".")[1] for i in imports if i.startswith("gantry.")}
    assert "cli" not in gantry_deps or name.startswith("cli"), f"{name} imports cli"
    if top in ("errors",):
        assert not gantry_deps - {"errors"}, f"errors imports {gantry_deps}"
    if top in PURE:
        bad = {i for i in imports if i.split(".")[0] in NETWORK_LIBS}
        assert not bad, f"pure module {name} imports {bad}"
        assert not gantry_deps & {"executor", "deploy", "hostops", "health", "lab", "cli", "cli_base", "cli_ops"}, \
            f"pure module {name} imports {gantry_deps}"
    if top not in ("cli", "cli_ops", "cli_base"):
        assert "lab" not in gantry_deps or top == "lab", f"{name} imports lab"
    if top not in ("executor",):
        assert not {i for i in imports if i.split(".")[0] in ("fabric", "paramiko")}, f"{name} imports fabric"
