"""An existing app repository -> the files Gantry needs (`gantry init`). Pure: file texts in, file texts out.

Compose files are found the way people name them (`compose.yaml`, `docker-compose.yml`, with `.override`,
`.prod`, `.staging`, `.dev` variants beside them, at the root or in `compose/` or `docker/`). Variables the
compose files use without a default become secrets (secret-looking names) or variables to set; hosts are
`.invalid` placeholders (RFC 6761: such a name never resolves) that `validate` reports until replaced.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gantry.compose.interpolate import interpolate_tree
from gantry.errors import ConfigError, Problem
from gantry.yamlio import load_documents

BASE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
VARIANTS = ("override", "prod", "production", "staging", "dev", "development", "local")
SEARCH_DIRS = ("", "compose", "docker", "deploy")
PLACEHOLDER_SUFFIX = ".invalid"
SECRET_PARTS = ("PASS", "PWD", "KEY", "DSN", "AUTH", "CERT", "SALT", "WEBHOOK", "CREDENTIALS", "PRIVATE")
SECRET_WORDS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "DATABASE_URL")
GITIGNORE_LINES = ("secrets.*.env", "!secrets.example.env", "/.gantry/")
ENVIRONMENTS = ("staging", "prod")


@dataclass(frozen=True)
class ComposeSet:
    """The compose files found in a repository: one base and its variants by name (override, prod, ...)."""

    base: str
    variants: Mapping[str, str]

    def files_for(self, env: str) -> list[str]:
        """Base plus the env's own file: prod <- prod|production; staging <- staging, else prod's."""
        wanted = {"prod": ("prod", "production"), "staging": ("staging", "prod", "production")}[env]
        extra = next((self.variants[v] for v in wanted if v in self.variants), None)
        return [self.base, *([extra] if extra else [])]

    @property
    def all_files(self) -> list[str]:
        return [self.base, *self.variants.values()]


@dataclass(frozen=True)
class Variables:
    secrets: tuple[str, ...]  # used without a default, secret-looking
    plain: tuple[str, ...]  # used without a default, not secret-looking
    used_in: Mapping[str, str]  # name -> first place it is used


def find_compose_files(paths: Sequence[str]) -> ComposeSet | None:
    """Pick the base compose file and its variants from a repository's file list (relative POSIX paths)."""
    present = set(paths)
    for folder in SEARCH_DIRS:
        prefix = f"{folder}/" if folder else ""
        for base in BASE_NAMES:
            if prefix + base not in present:
                continue
            stem, ext = base.rsplit(".", 1)
            variants = {}
            for variant in VARIANTS:
                for e in (ext, "yml" if ext == "yaml" else "yaml"):
                    name = f"{prefix}{stem}.{variant}.{e}"
                    if name in present:
                        variants[variant] = name
                        break
            return ComposeSet(prefix + base, variants)
    return None


def is_secret_name(name: str) -> bool:
    """PASSWORD, SECRET, TOKEN anywhere in the name, or a word such as KEY, PASS, DSN between underscores."""
    upper = name.upper()
    return any(w in upper for w in SECRET_WORDS) or any(p in SECRET_PARTS for p in upper.split("_"))


def scan_variables(texts: Mapping[str, str]) -> Variables:
    """Every ${VAR} the files use with no default anywhere, split into secret-looking and plain names."""
    no_default: dict[str, str] = {}
    has_default: set[str] = set()
    for path, text in texts.items():
        for document in load_documents(text, path):
            result = interpolate_tree(document.data, lambda name: None, filename=path, marks=document.marks)
            for ref in result.references:
                if ref.has_default:
                    has_default.add(ref.name)
                else:
                    no_default.setdefault(ref.name, ref.where)
    names = sorted(n for n in no_default if n not in has_default)
    return Variables(tuple(n for n in names if is_secret_name(n)), tuple(n for n in names if not is_secret_name(n)),
                     {n: no_default[n] for n in names})


def project_name(directory_name: str) -> str:
    """A compose-safe project name from the repository's directory name."""
    name = re.sub(r"[^a-z0-9_-]+", "-", directory_name.lower()).strip("-_")
    return name or "app"


def environment_yaml(env: str, project: str, compose_files: Sequence[str], variables: Variables,
                     unused: Sequence[str]) -> str:
    """An environments/<env>.yml skeleton; its placeholder hosts make `validate` fail until edited."""
    count = 2 if env == "prod" else 1
    hosts = "".join(f"  - {{address: {env}-{i}.CHANGE-ME{PLACEHOLDER_SUFFIX}, user: deploy}}\n"
                    for i in range(1, count + 1))
    files = "".join(f"  - {f}\n" for f in compose_files)
    lines = [f"# {env}: written by `gantry init`. Replace the placeholder hosts, then run `gantry validate --env "
             f"{env}`.\n",
             f"project: {project}\n", "deploy_path: /srv/gantry\n",
             "hosts:  # address (DNS name or IP), user, port, identity_file\n", hosts,
             "compose_files:\n", files]
    if unused:
        lines.append(f"# also found, not used here: {', '.join(unused)}\n")
    if variables.plain:
        lines.append("# The compose files use these without a default: set each one here (or in the job's "
                     "environment).\n")
        lines.append("variables: {}\n")
        lines += [f"#  {n}: \"\"   # used by {variables.used_in[n]}\n" for n in variables.plain]
    lines += ["rollout:\n", f"  batch_size: {1 if env == 'staging' else 0}\n",
              "keep_releases: 5\n", f"confirm: {'true' if env == 'prod' else 'false'}\n",
              "policy:\n", "  level: prod\n", "  allow_registries: []  # registry hosts you trust, e.g. ghcr.io\n"]
    return "".join(lines)


def secrets_example(variables: Variables) -> str:
    head = ("# Every secret the compose files need, with a placeholder. Real values go in secrets.<env>.env\n"
            "# (chmod 600, git-ignored) or the job's environment. Written by `gantry init`.\n")
    return head + "".join(f"# used by {variables.used_in[n]}\n{n}=change-me\n" for n in variables.secrets)


def gitignore_addition(existing: str) -> str:
    """The .gitignore lines still missing (appended, never rewritten)."""
    have = {line.strip() for line in existing.splitlines()}
    missing = [line for line in GITIGNORE_LINES if line not in have]
    if not missing:
        return ""
    sep = "" if not existing or existing.endswith("\n") else "\n"
    return sep + "# Gantry: secrets files (the example is committed) and the local lab\n" + \
        "".join(f"{line}\n" for line in missing)


def workflow_yaml(secret_names: Sequence[str]) -> str:
    """A GitHub workflow: validate on every push, deploy prod on a pushed v* tag."""
    env_lines = "".join(f"      {n}: ${{{{ secrets.{n} }}}}\n" for n in secret_names)
    env_block = f"    env:\n{env_lines}" if env_lines else ""
    return f"""# Written by `gantry init`. Repository secrets: DEPLOY_SSH_KEY, DEPLOY_KNOWN_HOSTS and each secret below.
name: deploy

on:
  push:

concurrency:
  group: deploy-prod
  cancel-in-progress: false

permissions:
  contents: read

jobs:
  deploy:
    runs-on: ubuntu-latest
{env_block}    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - run: pip install gantry
      - run: gantry validate --env prod
      - name: Deploy a tag
        if: startsWith(github.ref, 'refs/tags/v')
        env:
          DEPLOY_SSH_KEY: ${{{{ secrets.DEPLOY_SSH_KEY }}}}
          DEPLOY_KNOWN_HOSTS: ${{{{ secrets.DEPLOY_KNOWN_HOSTS }}}}
        run: |
          install -m 700 -d ~/.ssh
          printf '%s\\n' "$DEPLOY_SSH_KEY" > ~/.ssh/id_ed25519 && chmod 600 ~/.ssh/id_ed25519
          printf '%s\\n' "$DEPLOY_KNOWN_HOSTS" > ~/.ssh/known_hosts
          gantry deploy --env prod --yes
"""


def plan_files(repo_files: Sequence[str], texts: Mapping[str, str], directory_name: str, *,
               gitignore: str | None, workflow: bool) -> dict[str, str]:
    """The files `gantry init` writes (path -> text); `.gitignore` is text to append. Raises when no compose file."""
    found = find_compose_files(repo_files)
    if found is None:
        raise ConfigError(".", "no compose file found (compose.yaml, docker-compose.yml, in ., compose/ or docker/)",
                          "run gantry init in the repository that holds the app's compose files")
    variables = scan_variables({p: texts[p] for p in found.all_files})
    project = project_name(directory_name)
    out = {}
    for env in ENVIRONMENTS:
        used = found.files_for(env)
        unused = [f for f in found.all_files if f not in used]
        out[f"environments/{env}.yml"] = environment_yaml(env, project, used, variables, unused)
    out["secrets.example.env"] = secrets_example(variables)
    addition = gitignore_addition(gitignore or "")
    if addition:
        out[".gitignore"] = addition
    if workflow:
        out[".github/workflows/deploy.yml"] = workflow_yaml(variables.secrets)
    return out


def placeholder_hosts(env) -> list[Problem]:
    """Hosts still on the placeholders `gantry init` wrote."""
    return [Problem(f"{env.source}: hosts[{i}].address", f"{h.address} is a placeholder written by gantry init",
                    "put the host's DNS name or IP address here")
            for i, h in enumerate(env.hosts) if h.address.lower().endswith(PLACEHOLDER_SUFFIX)]
