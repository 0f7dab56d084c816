"""The house's import rules as an allow-list (STYLE.md, 'Imports point down the pipeline').

Every module belongs to a unit (its folder, or itself at the top level); a unit may import only the units
listed for it in ALLOWED. A new edge is a decision: add it here, with the reason in the commit. Besides the
table: no import circle between modules, only the executor talks to Fabric/paramiko, only the shell module
quotes, only the CLI imports Invoke and the lab, and the pure stages import no network or process library.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "gantry"

# unit -> the units it may import (its own modules always)
CORE = {"errors", "yamlio", "shell", "units"}  # shell: pure rendering/splitting of argvs; units: Go durations, sizes
ALLOWED: dict[str, set[str]] = {
    "__init__": set(),
    "errors": set(),
    "shell": set(),
    "units": set(),
    "yamlio": {"errors"},
    "output": {"errors"},
    "compose": CORE,
    "config": CORE,
    "secrets": CORE | {"output"},  # masking of a secret command's stderr
    "policy": CORE,
    "release": CORE,
    "prepare": CORE | {"compose", "config", "secrets", "policy", "release"},
    "health": CORE,
    "plan": CORE | {"release", "health"},
    "audit": CORE,
    "notify": CORE,
    "init": CORE | {"compose"},
    "remote": CORE,
    "build": CORE | {"remote", "policy"},  # the policy judges what the build read of its images
    "engines": CORE | {"release", "health", "plan"},
    "engines.hosts": CORE | {"engines", "release", "health", "plan", "remote", "audit", "policy"},
    "engines.swarm": CORE | {"engines", "engines.hosts", "release", "health", "plan", "remote", "audit", "compose"},
    "engines.bluegreen": CORE | {"engines", "engines.hosts", "release", "health", "plan", "remote", "audit",
                                 "policy", "compose", "config"},
    "run": CORE | {"config", "release", "health", "plan", "engines", "audit", "policy", "remote"},
    "lab": {"errors"},
    # tasks: flags -> stages -> output; hosts are reached through the engines only (never `remote` directly)
    "cli": CORE | {"config", "compose", "secrets", "policy", "prepare", "release", "plan", "run", "engines",
                   "engines.hosts", "engines.swarm", "health", "audit", "output", "notify", "build", "init", "lab"},
    "__main__": {"cli"},
}
PURE = {"errors", "yamlio", "shell", "units", "compose", "config", "policy", "release", "prepare", "health", "plan",
        "audit", "engines", "init"}
NETWORK_LIBS = {"fabric", "paramiko", "invoke", "subprocess", "socket"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG).with_suffix("")
    parts = rel.parts[:-1] if rel.parts[-1] == "__init__" else rel.parts
    return ".".join(parts) or "__init__"


def unit_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "engines" and len(parts) > 1 and (PKG / "engines" / parts[1]).is_dir():
        return f"engines.{parts[1]}"
    return parts[0]


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:  # `from gantry.x import y`: y may be a module of its own, or a name in gantry.x
                sub = f"{node.module}.{a.name}"
                out.add(sub if _is_module(sub) else node.module)
    return out


def _is_module(dotted: str) -> bool:
    if not dotted.startswith("gantry."):
        return False
    rel = dotted[len("gantry."):].replace(".", "/")
    return (PKG / f"{rel}.py").exists() or (PKG / rel / "__init__.py").exists()


def _gantry_modules(imports: set[str]) -> set[str]:
    """Imported gantry modules, as module names (an imported name that is not a module counts as its module)."""
    out = set()
    for name in imports:
        if not name.startswith("gantry.") or name == "gantry.__version__":
            continue
        mod = name[len("gantry."):]
        while mod and not ((PKG / (mod.replace(".", "/") + ".py")).exists() or (PKG / mod.replace(".", "/")).is_dir()):
            mod = mod.rpartition(".")[0]
        out.add(mod)
    return out


MODULES = sorted(PKG.rglob("*.py"))
GRAPH = {_module_name(p): _gantry_modules(_imports(p)) - {_module_name(p)} for p in MODULES}


@pytest.mark.parametrize("path", MODULES, ids=[_module_name(p) for p in MODULES])
def test_layering_every_edge_is_allowed(path):
    name = _module_name(path)
    unit = unit_of(name)
    assert unit in ALLOWED, f"{name}: unit {unit} is not in the allow-list"
    allowed = ALLOWED.get(unit, set())
    for dep in sorted(GRAPH[name]):
        dep_unit = unit_of(dep)
        if dep_unit == unit or "*" in allowed or dep_unit in allowed or dep == "__init__":
            continue
        raise AssertionError(f"{name} imports {dep} ({unit} -> {dep_unit})")


def test_layering_no_import_circle():
    """No module reaches itself through imports, lazy ones included (a package imports its own modules)."""
    def cyclic_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        seen = set()
        while stack:
            node, path = stack.pop()
            for dep in GRAPH.get(node, ()):
                if dep == start:
                    return path + [dep]
                if dep not in seen:
                    seen.add(dep)
                    stack.append((dep, path + [dep]))
        return None

    circles = [c for m in sorted(GRAPH) if (c := cyclic_from(m))
               and not all(c[i + 1].startswith(c[i] + ".") or c[i] == "__init__" for i in range(len(c) - 1))]
    assert not circles, f"import circle: {' -> '.join(circles[0])}"


@pytest.mark.parametrize("path", MODULES, ids=[_module_name(p) for p in MODULES])
def test_layering_libraries_stay_in_their_place(path):
    name = _module_name(path)
    unit = unit_of(name)
    top = {i.split(".")[0] for i in _imports(path)}
    if name != "remote.executor":
        assert not top & {"fabric", "paramiko"}, f"{name} imports Fabric/paramiko (only remote.executor may)"
    if name != "shell":
        assert "shlex" not in top, f"{name} imports shlex (only gantry.shell quotes and splits)"
    if unit not in ("cli", "lab"):
        assert "invoke" not in top, f"{name} imports invoke (only the CLI may)"
    if unit in PURE:
        assert not top & NETWORK_LIBS, f"pure module {name} imports {top & NETWORK_LIBS}"
