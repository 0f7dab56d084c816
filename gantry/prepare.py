"""The offline half of a deploy: read the project's files at the edge, then run the pure stages.

Environment -> ComposeModel -> Secrets -> PolicyReport -> Release. Nothing here touches a host.
Variables are looked up in the process environment first (as Compose does; that is how a CI job
passes values), then the environment's `variables`, then the secrets.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import secrets as pysecrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gantry import compose, policy, yamlio
from gantry.compose import validcache
from gantry.compose.schema import schema_digest
from gantry.config import Environment
from gantry.errors import ConfigError, Problem, ProblemList
from gantry.release import Release, SourceDigest, make_release, sha256_text
from gantry.secrets import (
    EXAMPLE_FILE,
    NO_VALUE,
    Secrets,
    load_secrets,
    missing_example_problem,
    render_env_file,
)
from gantry.secrets.sources import AGE_SUFFIX, read_secret_text

KEY_VARIABLE = "GANTRY_FINGERPRINT_KEY"  # wins over the key file (a CI job keeps it as a secret)
KEY_DIR = ".gantry/keys"


@dataclass(frozen=True)
class Prepared:
    env: Environment
    model: compose.ComposeModel
    raw_model: compose.ComposeModel | None
    secrets: Secrets
    problems: tuple[Problem, ...] = ()  # compose variables with no value, ${VAR:?} failures
    secret_problems: tuple[Problem, ...] = ()  # missing, empty or placeholder secrets; bad file mode
    warnings: tuple[str, ...] = ()
    sources: tuple[SourceDigest, ...] = field(default_factory=tuple)


def read_sources(env: Environment) -> list[compose.SourceFile]:
    root = Path(env.root)
    files = []
    for rel in env.compose_files:
        path = root / rel
        if not os.path.lexists(path):
            raise ConfigError(f"{env.source}: compose_files", f"{rel} does not exist",
                              "fix the path (relative to the project root)")
        files.append(compose.SourceFile(rel, yamlio.read_text(path, rel)))
    return files


def read_secrets(env: Environment, environ: Mapping[str, str]) -> tuple[Secrets, list[Problem]]:
    """The secrets; a secrets file that is a directory, a FIFO or a dangling link is a problem, not absent."""
    root = Path(env.root)
    example = root / EXAMPLE_FILE
    if not os.path.lexists(example):
        return Secrets(), []  # prepare() says whether that is a problem
    try:
        example_text = yamlio.read_text(example, EXAMPLE_FILE)
    except ConfigError as exc:
        return Secrets(), [exc.problem]
    source = read_secret_text(env, environ)
    secrets, more = load_secrets(example_text, source.text, source.name, environ)
    if source.problems and source.text is None:  # the source's own problem says it; "no value" would repeat it
        more = [p for p in more if p.what != NO_VALUE]
    return secrets, source.problems + more


def secrets_source_present(env: Environment) -> bool:
    """Whether the environment names a source of secret values (a command, an age file or a plain file)."""
    plain = Path(env.root) / env.secrets_file
    return bool(env.secrets.command) or os.path.lexists(plain) or os.path.lexists(f"{plain}{AGE_SUFFIX}")


def project_dir(env: Environment) -> str:
    """Compose's project directory: the first compose file's folder (relative paths resolve from it)."""
    return str((Path(env.root) / env.compose_files[0]).parent) if env.compose_files else str(Path(env.root))


def read_text(path: str) -> str:
    """A file a compose file names (extends.file, env_file, label_file), through the one bounded reader.

    A missing file raises FileNotFoundError, which the loader turns into its own error (or, for an env
    file with `required: false`, into nothing)."""
    if not os.path.lexists(path):
        raise FileNotFoundError(path)
    return yamlio.read_text(path, path)


def with_env_file_secrets(secrets: Secrets, problems: list[Problem], from_env_files: Mapping[str, str],
                          referenced: set[str]) -> tuple[Secrets, list[Problem]]:
    """Secret keys the env files give a value join the secrets (so they go to the 0600 .env, masked).

    "no value" stays a problem for a name the compose files also use as `${NAME}`: Compose fills those
    from the project environment, never from a service's env file.
    """
    if not from_env_files:
        return secrets, problems
    values = {**secrets.values, **from_env_files}
    sources = {**secrets.sources, **{n: "env_file" for n in from_env_files if n not in secrets.sources}}
    kept = [p for p in problems if not any(p.where == f"{EXAMPLE_FILE}: {n}" and n not in referenced
                                           for n in from_env_files)]
    return Secrets(values, sources, secrets.declared), kept


def undeclared_secrets(env: Environment, model: compose.ComposeModel, secrets: Secrets, lookup) -> list[Problem]:
    """Variables with a value whose names look like secrets (SECRET-ENV-LITERAL's words) but that
    secrets.example.env does not declare: their values would be written into compose.yaml and plans."""
    from gantry.policy.secrets import is_secret_name

    seen: dict[str, str] = {}
    for ref in model.references:
        if ref.name not in secrets.declared and ref.name not in seen and is_secret_name(ref.name) \
                and lookup(ref.name) is not None:
            seen[ref.name] = ref.where
    return [Problem(where, f"${{{name}}} looks like a secret but is not declared in {EXAMPLE_FILE}, so its value "
                    "would be written into compose.yaml and shown in plans",
                    f"add {name}=change-me to {EXAMPLE_FILE}; keep the value in {env.secrets_file} or the job's "
                    "environment") for name, where in seen.items()]


def fingerprint_key(env: Environment, environ: Mapping[str, str]) -> bytes:
    """This environment's key for secret fingerprints, kept on the deploying side (created once, 0600)."""
    if environ.get(KEY_VARIABLE):
        return environ[KEY_VARIABLE].encode("utf-8", "surrogateescape")
    folder = Path(env.root) / KEY_DIR
    path = folder / f"{env.name}.key"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return _read_key(path, f"{KEY_DIR}/{env.name}.key")
    key = pysecrets.token_hex(32).encode()
    with os.fdopen(fd, "wb") as fh:
        fh.write(key + b"\n")
    return key


def _read_key(path: Path, shown: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise ConfigError(shown, f"cannot be read ({exc.strerror})",
                          "it must be a regular file (not a link); delete it to make a new key") from None
    with os.fdopen(fd, "rb") as fh:
        key = fh.read(4096).strip()
    if len(key) < 16:
        raise ConfigError(shown, "holds no key", "delete it to make a new one")
    return key


def make_lookup(env: Environment, secrets: Secrets, environ: Mapping[str, str]):
    def lookup(name: str) -> str | None:
        if name in secrets.values:
            return secrets.values[name]
        if name in environ:
            return environ[name]
        return env.variables.get(name)

    return lookup


def _valid_trees(env: Environment, environ: Mapping[str, str]) -> validcache.ValidTrees | None:
    """The trees of this environment that passed the schema before (keyed like the secret fingerprints)."""
    try:
        key = fingerprint_key(env, environ)
    except (ConfigError, OSError):
        return None  # build_release reports a bad key file
    return validcache.load(env.root, env.name, key, schema_digest())


def prepare(env: Environment, environ: Mapping[str, str] | None = None, *, raw: bool = False,
            cache: bool = False) -> Prepared:
    """Load, merge and interpolate the compose files and collect every problem (secrets, variables).

    `cache`: skip the schema for trees that passed it in an earlier run (compose.validcache)."""
    environ = dict(os.environ if environ is None else environ)
    secrets, secret_problems = read_secrets(env, environ)
    problems: list[Problem] = []
    sources = read_sources(env)
    lookup = make_lookup(env, secrets, environ)
    valid = _valid_trees(env, environ) if cache else None
    try:
        model = compose.load_compose(sources, lookup, project_dir=project_dir(env),
                                     project_name=env.compose_project, profiles=env.profiles,
                                     keep=frozenset(secrets.declared | secrets.names), read_file=read_text,
                                     valid=valid)
    except ProblemList as exc:
        raise ProblemList(secret_problems + exc.problems) from None
    except ConfigError as exc:
        raise ProblemList([*secret_problems, exc.problem]) from None
    if valid is not None:
        validcache.save(env.root, env.name, valid)
    secrets, secret_problems = with_env_file_secrets(secrets, secret_problems, model.env_file_secrets,
                                                     {ref.name for ref in model.references})
    if not os.path.lexists(Path(env.root) / EXAMPLE_FILE):
        unresolved = {r.name for r in model.references if lookup(r.name) is None and not r.has_default}
        bad = missing_example_problem(env.secrets_file, secrets_source_present(env), len(unresolved))
        if bad:
            problems.append(bad)
    for ref in model.references:
        if ref.name in secrets.declared:
            continue  # reported by the secrets check, once
        if lookup(ref.name) is None and not ref.has_default:
            problems.append(Problem(ref.where, f"uses ${{{ref.name}}}, which has no value and no default",
                                    f"add {ref.name} to variables in {env.source}, to the secrets, "
                                    "or to the job's environment"))
    problems += option_like_names(model.data)
    raw_model = None
    # A secret with no value is reported by the secrets check; Compose's "not set" warning would repeat it.
    warnings = [w for w in model.warnings if not any(f'"{n}" variable is not set' in w for n in secrets.declared)]
    for problem in undeclared_secrets(env, model, secrets, lookup):
        if env.policy.level == "prod":
            problems.append(problem)
        else:
            warnings.append(f"{problem.where}: {problem.what}")
    if raw:
        try:
            raw_model = compose.load_compose(sources, lookup, project_dir=project_dir(env),
                                             project_name=env.compose_project, profiles=env.profiles,
                                             interpolate=False, read_file=read_text, validate=False)
        except (ConfigError, ProblemList) as exc:
            warnings.append(f"the uninterpolated model could not be built, so SECRET-ENV-LITERAL was skipped: "
                            f"{str(exc).splitlines()[0]}")
    digests = tuple(SourceDigest(s.path, sha256_text(s.text)) for s in sources)
    return Prepared(env, model, raw_model, secrets, tuple(_dedupe(problems)), tuple(secret_problems),
                    tuple(warnings), digests)


def option_like_names(data: Mapping) -> list[Problem]:
    """Service, image and container names beginning with '-' would be read as options by docker commands;
    Docker itself refuses such images and container names at `up` (Compose's `config` does not)."""
    out = []
    for name, svc in sorted((data.get("services") or {}).items()):
        svc = svc if isinstance(svc, Mapping) else {}
        for key, value in (("service name", name), ("image", svc.get("image")),
                           ("container_name", svc.get("container_name"))):
            if isinstance(value, str) and value.startswith("-"):
                where = f"services.{name[:40]}" + ("" if key == "service name" else f".{key}")
                out.append(Problem(where, f"{key} {yamlio.excerpt(value)} begins with '-'",
                                   "Docker would read it as an option; rename it"))
    return out


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def images_of(model: compose.ComposeModel) -> dict[str, str]:
    return {name: str(svc.get("image", "")) for name, svc in sorted(model.data.get("services", {}).items())}


def active_services(model: compose.ComposeModel) -> compose.ComposeModel:
    """The model as the hosts must run it: the services of inactive profiles are already left out, and the
    active ones lose their `profiles:` key, since `docker compose up` on a host (no `--profile`) would
    otherwise skip them (Compose spec, profiles: a service with profiles starts only when one is enabled)."""
    services = {name: {k: v for k, v in svc.items() if k != "profiles"}
                for name, svc in (model.data.get("services") or {}).items()}
    return dataclasses.replace(model, data={**model.data, "services": services}) if services else model


def build_release(prep: Prepared, *, now: datetime.datetime, who: str, git_commit: str,
                  environ: Mapping[str, str] | None = None) -> Release:
    if prep.problems or prep.secret_problems:
        raise ProblemList(list(prep.problems + prep.secret_problems))
    key = fingerprint_key(prep.env, os.environ if environ is None else environ)
    return make_release(
        environment=prep.env.name,
        project=prep.env.project,
        compose_yaml=compose.render_yaml(active_services(prep.model)),
        env_file=render_env_file(prep.secrets.values),
        sources=prep.sources,
        images=images_of(prep.model),
        secret_fingerprints={n: prep.secrets.fingerprint(n, key) for n in prep.secrets.names},
        git_commit=git_commit,
        now=now,
        who=who,
        key=key,
    )


def policy_settings(env: Environment) -> policy.PolicySettings:
    return policy.settings_for(env)


def check(prep: Prepared, *, today: datetime.date) -> policy.PolicyReport:
    raw = prep.raw_model.data if prep.raw_model is not None else None
    return policy.check_policy(prep.model.data, raw, policy_settings(prep.env), today=today)


IMAGE_RULES = ("USER-ROOT", "HEALTHCHECK-MISSING")


def image_judge(prep: Prepared, report: policy.PolicyReport, *, today: datetime.date):
    """A judge for the images' own USER/HEALTHCHECK, read on the hosts at preflight: (errors, warnings).

    Only findings that the compose files alone did not already produce are returned.
    """
    seen = {(f.rule, f.service, f.path) for f in report.findings}
    raw = prep.raw_model.data if prep.raw_model is not None else None

    def judge(image_facts: dict) -> tuple[list[str], list[str]]:
        again = policy.check_policy(prep.model.data, raw, policy_settings(prep.env), today=today,
                                    image_facts=image_facts)
        new = [f for f in again.findings if f.rule in IMAGE_RULES and not f.waived
               and (f.rule, f.service, f.path) not in seen]
        text = [f"{f.rule}: {f.path}: {f.message} (read from the image on the hosts)" for f in new]
        return ([t for t, f in zip(text, new) if f.severity == "error"],
                [t for t, f in zip(text, new) if f.severity == "warn"])

    return judge
