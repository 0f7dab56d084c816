"""Differential suite: `gantry.compose` against the real `docker compose config --format json` (v2.40.3).

Every case runs both on the same files (written to a temporary project directory), the same
variables and the same profiles. Outcomes must agree: both succeed with equal trees after the
normalisations below, or both fail (the binary exits non-zero, ours raises a Gantry error).

Normalisations (each is a deliberate, explained difference; anything else is a bug in ours):
  N1  (retired) Mapping keys containing `$`: the binary escapes them as `$$` on output although keys
      are never interpolated; `render_json` (what `inv compose.config` prints) now does the same, so
      nothing is normalised. The release bundle (`render_yaml`) keeps keys as they are, so that it loads
      back with the same meaning: the round-trip tests check that.
  N2  `cpus`: the binary holds cpus as float32 and prints float32's shortest digits; we keep float64.
      Both sides are rounded through float32 before comparing.
  N3  Errors: only the outcome is compared. Our messages are ours by design (file, key path, hint).
  N4  Warnings (unset variables, obsolete `version`) are not compared: the binary logs them to
      stderr with timestamps; ours are returned in `ComposeModel.warnings`.
  N5  `extra_hosts`: when files spell one pair two ways (`db:10.0.0.1` and `db=10.0.0.1`) the binary
      prints it twice, and its own schema (uniqueItems) then rejects that output on reload. We print
      it once; the comparison drops the binary's repeats.

Round-trip tests (our render_yaml fed back to the binary) add one more:
  R1  Ports: compose-go keys a long port with an int `published` apart from the same port with a
      string one, so both survive the merge (we keep both too, as the binary does); on reload both
      are strings and collapse into one. The round trip compares ports without exact repeats.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from gantry.compose import SourceFile, load_compose, render_json, render_yaml
from gantry.errors import GantryError, ProblemList

pytestmark = pytest.mark.compose

CASES_DIR = Path(__file__).parent / "compose_cases"
HOME = "/home/gantry-test"
_counter = {"cases": 0}


def _have_compose() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


if not _have_compose():
    pytest.skip("docker compose v2 is not installed", allow_module_level=True)


@dataclass(frozen=True)
class Case:
    files: tuple[str, ...]
    env: dict = field(default_factory=dict)
    profiles: tuple[str, ...] = ()
    no_interpolate: bool = False
    extra: tuple[tuple[str, str], ...] = ()  # other files in the project dir (extends.file targets)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    data: object  # the normalised tree when ok, else the message


def run_binary(case: Case, project: Path) -> Outcome:
    names = [f"compose{i}.yml" for i in range(len(case.files))]
    argv = ["docker", "compose"]
    for name in names:
        argv += ["-f", name]
    for profile in case.profiles:
        argv += ["--profile", profile]
    argv += ["config", "--format", "json"] + (["--no-interpolate"] if case.no_interpolate else [])
    env = {"PATH": os.environ["PATH"], "HOME": HOME, "PWD": str(project),
           "DOCKER_CONFIG": os.environ.get("DOCKER_CONFIG", str(Path.home() / ".docker")), **case.env}
    result = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        return Outcome(False, result.stderr.strip())
    return Outcome(True, _normalise(json.loads(result.stdout), ours=False))


def run_ours(case: Case, project: Path) -> Outcome:
    env = {"HOME": HOME, "PWD": str(project), **case.env}
    files = [SourceFile(f"compose{i}.yml", text) for i, text in enumerate(case.files)]
    try:
        model = load_compose(files, env.get, project_dir=str(project), profiles=case.profiles,
                             interpolate=not case.no_interpolate, read_file=lambda p: Path(p).read_text())
    except (GantryError, ProblemList) as exc:
        return Outcome(False, str(exc))
    return Outcome(True, _normalise(json.loads(render_json(model)), ours=not case.no_interpolate))


def _normalise(tree: object, *, ours: bool) -> object:
    if isinstance(tree, dict):
        result = {}
        for key, value in tree.items():
            if key == "cpus" and isinstance(value, (int, float)):  # N2
                value = struct.unpack("f", struct.pack("f", value))[0]
            if key == "extra_hosts" and isinstance(value, list):  # N5
                value = sorted(set(value))
            result[key] = _normalise(value, ours=ours)
        return result
    if isinstance(tree, list):
        return [_normalise(item, ours=ours) for item in tree]
    return tree


def compare(case: Case) -> tuple[Outcome, Outcome]:
    _counter["cases"] += 1
    with tempfile.TemporaryDirectory(prefix="gantry-diff-") as tmp:
        project = Path(tmp) / "proj"
        project.mkdir()
        for i, text in enumerate(case.files):
            (project / f"compose{i}.yml").write_text(text)
        for name, text in case.extra:
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            (project / name).write_text(text)
        return run_binary(case, project), run_ours(case, project)


def assert_same(case: Case) -> None:
    binary, ours = compare(case)
    assert binary.ok == ours.ok, f"binary: {binary.data}\nours: {ours.data}\ncase: {case}"  # N3
    if binary.ok:
        assert ours.data == binary.data, f"case: {case}"


# --- hand-written traps: tests/compose_cases/*.yml ------------------------------------------------


def _load_cases() -> list:
    params = []
    for path in sorted(CASES_DIR.glob("*.yml")):
        spec = yaml.safe_load(path.read_text())
        case = Case(tuple(spec["files"]), {k: str(v) for k, v in (spec.get("env") or {}).items()},
                    tuple(spec.get("profiles") or ()), bool(spec.get("no_interpolate")),
                    tuple((spec.get("extra_files") or {}).items()))
        params.append(pytest.param(case, spec.get("expect_error", False), id=path.stem))
    return params


@pytest.mark.parametrize(("case", "expect_error"), _load_cases())
def test_compose_differential_trap(case: Case, expect_error: bool) -> None:
    binary, ours = compare(case)
    assert binary.ok == ours.ok, f"binary: {binary.data}\nours: {ours.data}"
    assert binary.ok is not expect_error, f"the case expects {'an error' if expect_error else 'success'}"
    if binary.ok:
        assert ours.data == binary.data


def test_compose_differential_example_app() -> None:
    root = Path(__file__).parent.parent / "compose"
    for overlay in ("docker-compose.prod.yml", "docker-compose.dev.yml"):
        files = ((root / "docker-compose.yml").read_text(), (root / overlay).read_text())
        assert_same(Case(files, {"DB_PASSWORD": "pw", "API_TOKEN": "t", "WEB_PORT": "8081"}))


def _rendered_roundtrip(case: Case, keep: frozenset[str] = frozenset()) -> tuple[Outcome, Outcome]:
    """The binary on the original files, and the binary on our render_yaml of them."""
    _counter["cases"] += 1
    with tempfile.TemporaryDirectory(prefix="gantry-rt-") as tmp:
        project = Path(tmp) / "proj"
        project.mkdir()
        for i, text in enumerate(case.files):
            (project / f"compose{i}.yml").write_text(text)
        for name, text in case.extra:
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            (project / name).write_text(text)
        original = run_binary(case, project)
        env = {"HOME": HOME, "PWD": str(project), **case.env}
        files = [SourceFile(f"compose{i}.yml", t) for i, t in enumerate(case.files)]
        model = load_compose(files, env.get, project_dir=str(project), profiles=case.profiles, keep=keep,
                             read_file=lambda p: Path(p).read_text())
        for i in range(len(case.files)):
            (project / f"compose{i}.yml").unlink()
        (project / "compose0.yml").write_text(render_yaml(model))
        return original, run_binary(Case(("rendered",), case.env, case.profiles), project)


@pytest.mark.parametrize(("case", "expect_error"),
                         [p for p in _load_cases() if not p.values[1] and not p.values[0].no_interpolate])
def test_compose_render_roundtrip_trap(case: Case, expect_error: bool) -> None:
    """What we render loads in the binary to the same project as the original files."""
    original, rendered = _rendered_roundtrip(case)
    assert rendered.ok, rendered.data
    assert _unique_ports(rendered.data) == _unique_ports(original.data)


def _unique_ports(tree: dict) -> dict:
    """R1: drop exact repeats from every service's ports."""
    services = {}
    for name, service in tree.get("services", {}).items():
        ports = [p for i, p in enumerate(service.get("ports", [])) if p not in service["ports"][:i]]
        services[name] = {**service, "ports": ports} if ports else service
    return {**tree, "services": services}


def test_compose_render_roundtrip_keeps_secrets_for_the_host() -> None:
    """Kept secrets are rendered as ${NAME}: the host's env fills them in to the same project."""
    root = Path(__file__).parent.parent / "compose"
    files = ((root / "docker-compose.yml").read_text(), (root / "docker-compose.prod.yml").read_text())
    case = Case(files, {"DB_PASSWORD": "pa$$w0rd \"quoted\"", "API_TOKEN": "t0k$n"})
    original, rendered = _rendered_roundtrip(case, keep=frozenset({"DB_PASSWORD", "API_TOKEN"}))
    assert rendered.ok, rendered.data
    assert rendered.data == original.data


# --- generated cases ------------------------------------------------------------------------------
#
# A generated case is 1-3 files over the service keys that matter for deploys. Values are emitted by a
# tiny writer so that plain YAML scalars (`yes`, `0o17`, `1_000`, `1:30`), tags (`!reset`, `!override`)
# and templates (`${VAR:-default}`, `$$`) reach both loaders exactly as written. Every generated
# file is valid for the compose schema: named volumes and networks used are declared in file 0.


@dataclass(frozen=True)
class Raw:
    """A scalar written verbatim (plain YAML)."""

    text: str


@dataclass(frozen=True)
class Tagged:
    tag: str
    value: object


def emit(value: object, indent: int = 0) -> str:
    """Block-style YAML for dicts/lists; scalars as Raw text or JSON (valid YAML double-quoted)."""
    pad = "  " * indent
    if isinstance(value, Tagged):
        if value.value is None:
            return f" {value.tag}\n"
        body = emit(value.value, indent)
        return f" {value.tag}{body}" if body.startswith("\n") else f" {value.tag}{body}"
    if isinstance(value, dict):
        if not value:
            return " {}\n"
        lines = "".join(f"{pad}{key}:{emit(item, indent + 1)}" for key, item in value.items())
        return "\n" + lines
    if isinstance(value, list):
        if not value:
            return " []\n"
        return "\n" + "".join(f"{pad}-{emit(item, indent + 1).replace(chr(10) + pad + '  ', chr(10) + pad + '  ', 1)}"
                               for item in value)
    if isinstance(value, Raw):
        return f" {value.text}\n"
    return f" {json.dumps(value)}\n"


def _strategies():
    from hypothesis import strategies as st

    var_names = ["TAG", "PORT", "PRIV", "MEM", "CPUS", "EMPTY", "USERID", "REQ", "SECRETISH"]
    env_values = {"TAG": ["2.0", "latest"], "PORT": ["8088", "9999"], "PRIV": ["true", "false", "yes"],
                  "MEM": ["64m", "1g"], "CPUS": ["0.5", "2"], "EMPTY": [""], "USERID": ["1000"],
                  "REQ": ["set"], "SECRETISH": ["s3cr$t", "a b"]}
    env = st.fixed_dictionaries({}, optional={n: st.sampled_from(env_values[n]) for n in var_names})

    def maybe_tpl(name: str, default: str) -> st.SearchStrategy:
        return st.sampled_from([default, f"${{{name}:-{default}}}", f"${{{name}-{default}}}", f"${{{name}}}"])

    scalar_trap = st.sampled_from([Raw("yes"), Raw("on"), Raw("0o17"), Raw("1_000"), Raw("1:30"), Raw("0012"),
                                   Raw("1.50"), Raw("null"), "0012", "yes", "a$$b", "${TAG:-x}", "$$HOME",
                                   "${SECRETISH}", "${EMPTY:-fallback}", "${EMPTY-kept}", "${TAG:+set}",
                                   "${REQ:?REQ is required}", "plain text", Raw("true"), Raw("42")])
    keys = st.sampled_from(["A", "B", "C", "DEBUG"])
    environment = st.one_of(
        st.dictionaries(keys, scalar_trap, max_size=3),
        st.lists(st.tuples(keys, st.sampled_from(["1", "x", "${TAG:-t}", "$$v", ""])).map(
            lambda kv: f"{kv[0]}={kv[1]}" if kv[1] else kv[0]), max_size=3),
    )
    labels = st.one_of(st.dictionaries(st.sampled_from(["com.a", "com.b", "traefik.port"]), scalar_trap, max_size=3),
                       st.lists(st.sampled_from(["com.a=1", "com.b", "com.c=${TAG:-c}"]), max_size=3))
    short_port = st.sampled_from(["80", "8080:80", "127.0.0.1:8081:81", "9000-9001:9000-9001", "53:53/udp",
                                  "${PORT:-8000}:80", "0.0.0.0:8443:443/tcp", "7000-7002", "8080:80"])
    long_port = st.fixed_dictionaries({"target": st.sampled_from([80, 443, Raw("${PORT:-81}")])}, optional={
        "published": st.sampled_from(["8080", "8443", "${PORT:-8000}"]),
        "host_ip": st.sampled_from(["127.0.0.1", "0.0.0.0"]), "protocol": st.sampled_from(["tcp", "udp"]),
        "mode": st.just("host")})
    ports = st.lists(st.one_of(short_port, long_port), max_size=3)
    short_volume = st.sampled_from(["./data:/data", "data:/var/lib/data:ro", "/srv/abs:/abs:z", "./cfg:/cfg/",
                                    "/tmp/cache", "data:/d2:nocopy", "~/x:/x:ro", "./${TAG:-v}:/tag"])
    long_volume = st.one_of(
        st.fixed_dictionaries({"type": st.just("bind"), "source": st.sampled_from(["./src", "/opt/src"]),
                               "target": st.sampled_from(["/src", "/app/src/"])},
                              optional={"read_only": st.sampled_from([Raw("true"), Raw("false"), "${PRIV:-true}"]),
                                        "bind": st.just({"create_host_path": Raw("false")})}),
        st.fixed_dictionaries({"type": st.just("volume"), "source": st.just("data"), "target": st.just("/vol")},
                              optional={"volume": st.just({"nocopy": Raw("true")})}),
        st.fixed_dictionaries({"type": st.just("tmpfs"), "target": st.just("/run/t")},
                              optional={"tmpfs": st.just({"size": Raw("1048576")})}))
    volumes = st.lists(st.one_of(short_volume, long_volume), max_size=3)
    command = st.one_of(st.sampled_from(["echo hello", "sh -c 'echo $$HOME'", "run --port ${PORT:-80}"]),
                        st.lists(st.sampled_from(["run", "--flag", "${TAG:-v}", "a b"]), max_size=3))
    healthcheck = st.fixed_dictionaries({}, optional={
        "test": st.one_of(st.sampled_from(["curl -f http://localhost/", "exit 0"]),
                          st.just(["CMD", "true"]), st.just(["CMD-SHELL", "wget -q -O- localhost"])),
        "interval": st.sampled_from(["1s", "90s", "1m30s", "500ms"]), "timeout": st.sampled_from(["2s", "1h"]),
        "retries": st.sampled_from([Raw("3"), Raw("0"), "${RETRIES:-2}"]), "start_period": st.just("5s")})
    resources = st.fixed_dictionaries({}, optional={
        "cpus": st.sampled_from(["0.5", Raw("0.25"), Raw("1"), "${CPUS:-0.75}", "0.3333"]),
        "memory": st.sampled_from(["64M", "1g", "512m", "1048576", "${MEM:-32m}", "1.5g"])})
    limits = st.tuples(resources, st.sampled_from([None, Raw("64"), "100"])).map(
        lambda rp: {**rp[0], **({"pids": rp[1]} if rp[1] is not None else {})})
    deploy = st.one_of(st.just({}), limits.map(lambda r: {"resources": {"limits": r}}),
                       resources.map(lambda r: {"resources": {"reservations": r}}),
                       st.just({"replicas": Raw("2")}))
    logging = st.fixed_dictionaries({"driver": st.sampled_from(["json-file", "local", "syslog"])}, optional={
        "options": st.dictionaries(st.sampled_from(["max-size", "max-file", "tag"]),
                                   st.sampled_from(["10m", Raw("3"), "x"]), max_size=2)})
    service = st.fixed_dictionaries({}, optional={
        "image": st.sampled_from(["nginx", "nginx:${TAG:-1.25}", "registry.local/app:${TAG}", "redis:7"]),
        "command": command, "entrypoint": command, "environment": environment, "labels": labels,
        "ports": ports, "volumes": volumes, "healthcheck": healthcheck, "deploy": deploy,
        "restart": st.sampled_from(["no", "always", "on-failure:3", "unless-stopped", Raw("'no'")]),
        "privileged": st.sampled_from([Raw("true"), Raw("false"), "${PRIV:-false}", "${PRIV:-true}"]),
        "read_only": st.sampled_from([Raw("true"), "${PRIV:-false}"]),
        "security_opt": st.lists(st.sampled_from(["no-new-privileges:true", "seccomp=unconfined",
                                                  "label=disable"]), max_size=2),
        "cap_add": st.lists(st.sampled_from(["NET_ADMIN", "SYS_TIME", "CHOWN"]), max_size=2),
        "cap_drop": st.lists(st.sampled_from(["ALL", "NET_RAW"]), max_size=2),
        "logging": logging, "user": st.sampled_from(["1000", "1000:1000", "${USERID:-nobody}", "root"]),
        "networks": st.one_of(st.lists(st.sampled_from(["front", "back"]), max_size=2, unique=True),
                              st.dictionaries(st.sampled_from(["front", "back"]),
                                              st.one_of(st.none(), st.just({"aliases": ["alias1"]})), max_size=2)),
        "profiles": st.lists(st.sampled_from(["debug", "tools"]), min_size=1, max_size=2, unique=True),
        "mem_limit": st.sampled_from(["256m", "${MEM:-128m}"]),
        "stop_grace_period": st.sampled_from(["10s", "1m"]),
        "expose": st.lists(st.sampled_from([Raw("3000"), "4000"]), max_size=2),
        "dns": st.one_of(st.just("1.1.1.1"), st.lists(st.sampled_from(["8.8.8.8", "9.9.9.9"]), max_size=2)),
        "extra_hosts": st.one_of(st.lists(st.sampled_from(["db:10.0.0.2", "cache=10.0.0.3"]), max_size=2),
                                 st.dictionaries(st.sampled_from(["api", "db"]), st.just("10.0.0.9"), max_size=1)),
        "ulimits": st.dictionaries(st.sampled_from(["nofile", "nproc"]),
                                   st.one_of(st.just(Raw("1024")), st.just({"soft": Raw("1"), "hard": Raw("2")})),
                                   max_size=2),
    })
    resettable = ["command", "environment", "ports", "volumes", "labels", "healthcheck", "cap_add", "user"]

    @st.composite
    def override_service(draw):
        svc = draw(service)
        for key in draw(st.lists(st.sampled_from(resettable), max_size=2, unique=True)):
            if draw(st.booleans()):
                svc[key] = Tagged("!reset", None)
            elif key in svc:
                svc[key] = Tagged("!override", svc[key])
        return svc

    @st.composite
    def cases(draw):
        names = ["web", "worker", "db"]
        first = {n: draw(service) for n in draw(st.lists(st.sampled_from(names), min_size=1, max_size=3,
                                                          unique=True))}
        for name, svc in first.items():
            svc.setdefault("image", "busybox")
            if draw(st.integers(0, 4)) == 0 and name != "web" and "web" in first and "extends" not in first["web"]:
                svc["extends"] = Raw("web") if draw(st.booleans()) else {"service": "web"}
        top = {"services": first,
               "networks": {"front": {}, "back": {}, "unused": {}},
               "volumes": {"data": {}, "spare": {}}}
        if draw(st.booleans()):
            top["x-common"] = {"k": draw(scalar_trap)}
        files = [emit(top).lstrip("\n")]
        for _ in range(draw(st.integers(0, 2))):
            overrides = {n: draw(override_service()) for n in draw(
                st.lists(st.sampled_from(list(first)), min_size=1, max_size=len(first), unique=True))}
            files.append(emit({"services": overrides}).lstrip("\n"))
        return {"files": files, "env": draw(env),
                "profiles": draw(st.lists(st.sampled_from(["debug", "tools"]), max_size=2, unique=True)),
                "no_interpolate": draw(st.integers(0, 9)) == 0}

    return cases


compose_cases = _strategies()
GENERATED = 300


@settings(max_examples=GENERATED, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(compose_cases())
def test_compose_differential_generated(spec: dict) -> None:
    assert_same(Case(tuple(spec["files"]), spec["env"], tuple(spec["profiles"]), spec["no_interpolate"]))


# --- every key the schema names -------------------------------------------------------------------
#
# For each service key and each top-level key of the vendored compose-spec.json: a value built from
# the schema (the first alternative, required keys only), in one file, merged over two and three
# files, and a value of the wrong type (an error case: the binary must reject it, so must we).

_SPEC = json.loads((Path(__file__).parent.parent / "gantry" / "compose" / "compose-spec.json").read_text())


def _deref(schema: dict) -> dict:
    while "$ref" in schema:
        schema = _SPEC["definitions"][schema["$ref"].split("/")[-1]]
    return schema


def _sample(schema: dict) -> object:
    schema = _deref(schema)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return _sample(schema[key][0])
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "array":
        return [_sample(schema.get("items", {"type": "string"}))]
    if kind == "object" or "properties" in schema:
        return {k: _sample(schema["properties"][k]) for k in schema.get("required", [])
                if k in schema.get("properties", {})}
    return {"boolean": True, "integer": 1, "number": 1}.get(kind, "x")


def _wrong(value: object) -> object:
    return 1.5 if isinstance(value, (dict, list)) else {"nested": [1]}


_SERVICE_KEYS = sorted(set(_deref(_SPEC["definitions"]["service"])["properties"]) - {"image", "extends", "provider"})
_TOP = {"networks": "network", "volumes": "volume", "secrets": "secret", "configs": "config", "models": "model"}


def _schema_cases() -> list:
    params = []
    for key in _SERVICE_KEYS:
        value = _sample(_deref(_SPEC["definitions"]["service"])["properties"][key])
        one = json.dumps({"services": {"s": {"image": "busybox", key: value}}})
        again = json.dumps({"services": {"s": {key: value}}})
        for files, label in (((one,), "one"), ((one, again), "two"), ((one, again, again), "three"),
                             ((json.dumps({"services": {"s": {"image": "busybox", key: _wrong(value)}}}),), "wrong")):
            params.append(pytest.param(Case(files), id=f"services.{key}-{label}"))
    for top, definition in _TOP.items():
        value = _sample(_SPEC["definitions"][definition])
        uses = {"networks": {"networks": ["r"]}, "volumes": {"volumes": ["r:/r"]}, "secrets": {"secrets": ["r"]},
                "configs": {"configs": ["r"]}, "models": {"models": ["r"]}}[top]
        text = json.dumps({"services": {"s": {"image": "busybox", **uses}}, top: {"r": value}})
        params.append(pytest.param(Case((text,)), id=f"{top}-sample"))
        params.append(pytest.param(Case((text, json.dumps({top: {"r": {"labels": {"a": "1"}}}}))), id=f"{top}-merge"))
    for key in ("unknown_top", "x-ok", "name", "version"):
        text = json.dumps({"services": {"s": {"image": "busybox"}}, key: "p" if key == "name" else "1"})
        params.append(pytest.param(Case((text,)), id=f"top-{key}"))
    return params


@pytest.mark.parametrize("case", _schema_cases())
def test_compose_differential_schema_key(case: Case) -> None:
    assert_same(case)


# --- env files with the awkward dotenv forms --------------------------------------------------------

_ENV_FORMS = {
    "escapes": 'C="q\\nz\\t\\$A \\\\ \\"in\\" \\0101 \\012"\n',
    "single-literal": "D='$A \\n'\n",
    "comments": "# c\nE=e #cmt\nE2=e#not\n  # indented\n",
    "inherit": "HOME\nUNSET_X\n",
    "yaml-style": "G: yaml style\nH = spaced  \n",
    "multiline": 'I="multi\nline"\n',
    "after-quote": "J='single' K=after\n",
    "templates": "A=1\nB=${A}x\nL=${UNSET:-def}\nM=${A:+alt}\nN=$$dollar\nR=\"${B}-${OWN:-x}\"\n",
    "export-and-dots": "export EXP=1\nT.dot-x[1]=ok\n",
    "bom-bare-last": "\ufeffX=1\nLAST",
    "space-in-key": "A B=1\n",
    "unterminated": 'A="open\n',
    "required-var": "A=${NOPE:?need it}\n",
    "crlf": "A=1\r\nB=2\r\n",
}


@pytest.mark.parametrize("body", list(_ENV_FORMS.values()), ids=list(_ENV_FORMS))
@pytest.mark.parametrize("layout", ["alone", "with-environment", "raw", "three-files"])
def test_compose_differential_env_file_forms(body: str, layout: str) -> None:
    service = {"image": "busybox", "env_file": ["app.env"]}
    files = [service]
    if layout == "with-environment":
        service["environment"] = {"OWN": "o", "A": "fromenv", "HOME": None}
    if layout == "raw":
        service["env_file"] = [{"path": "app.env", "format": "raw"}]
    if layout == "three-files":
        files = [service, {"env_file": [{"path": "second.env", "required": False}]}, {"env_file": ["third.env"]}]
    texts = tuple(json.dumps({"services": {"s": f}}) for f in files)
    extra = (("app.env", body), ("third.env", "THIRD=${A:-none}\nA=3\n"))
    assert_same(Case(texts, {"A": "os"} if layout == "alone" else {}, extra=extra))


def test_compose_differential_case_count(capsys: pytest.CaptureFixture) -> None:
    """Report how many cases ran against the binary (meaningful after the whole module ran)."""
    with capsys.disabled():
        print(f"\ncompose differential: {_counter['cases']} cases compared with docker compose")
