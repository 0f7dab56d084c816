"""The rule catalogue as data: id, title, why, fix, severity per level.

Three sections, one engine: RULES judge the compose model (the catalogue of /work/shared/POLICY.md),
HOST_RULES judge a host's engine at deploy preflight, BUILT_RULES judge the images `gantry build` made.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    prod: str
    dev: str
    why: str
    fix: str
    lab: str = ""  # "": the prod column with error lowered to warn


def _rule(rid: str, title: str, prod: str, dev: str, why: str, fix: str, *, lab: str = "") -> Rule:
    return Rule(rid, title, prod, dev, why, fix, lab)


RULES: tuple[Rule, ...] = (
    _rule("PRIV-PRIVILEGED", "Container runs in privileged mode", "error", "warn",
          "A privileged container has every capability and every host device; escaping to the host is trivial.",
          "Remove `privileged`; add only the specific capabilities or devices the service needs."),
    _rule("MOUNT-DOCKER-SOCK", "Container runtime socket mounted", "error", "warn",
          "Access to the Docker/containerd socket is root on the host, even when mounted read-only.",
          "Do not mount the socket; use a socket proxy with a narrow API allow-list if the service needs it."),
    _rule("MOUNT-HOST-SENSITIVE", "Sensitive host directory mounted", "error", "info",
          "Host system directories and credential stores give the container a path to take over the host.",
          "Mount only an application data directory, or a named volume; mount host files read-only if needed."),
    _rule("NS-HOST-NETWORK", "Host network namespace shared", "error", "info",
          "With the host network every listening port is exposed and host-local services are reachable.",
          "Remove `network_mode: host`; publish the needed ports on a specific interface."),
    _rule("NS-HOST-PID", "Host PID namespace shared", "error", "warn",
          "The container can see and signal every host process and read their environments.",
          "Remove `pid: host`."),
    _rule("NS-HOST-IPC", "Host IPC namespace shared", "error", "warn",
          "Shared memory of host processes becomes readable and writable from the container.",
          "Remove `ipc: host`; use `ipc: shareable`/`service:<name>` between services if needed."),
    _rule("NS-HOST-UTS", "Host UTS namespace shared", "warn", "off",
          "The container shares the host's hostname and domain name.",
          "Remove `uts: host`."),
    _rule("NS-HOST-USERNS", "Host user namespace shared", "warn", "off",
          "It disables the daemon's user-namespace remapping for this container, so root inside is root outside.",
          "Remove `userns_mode: host`."),
    _rule("CAP-ADD-DANGEROUS", "Dangerous capability added", "error", "info",
          "These capabilities allow loading modules, mounting, raw device access or tampering with the host.",
          "Remove the capability from `cap_add`; find a narrower one or move the task out of the container."),
    _rule("CAP-DROP-MISSING", "Capabilities not dropped", "warn", "off",
          "Docker's default capability set is larger than most services need.",
          "Add `cap_drop: [ALL]` and `cap_add` back only what the service needs."),
    _rule("SECOPT-UNCONFINED", "Seccomp, AppArmor or SELinux disabled", "error", "warn",
          "Turning off the kernel confinement profiles removes a main barrier against container escape.",
          "Remove the `unconfined`/`label:disable` entry from `security_opt`; write a custom profile if needed."),
    _rule("SECOPT-NNP-MISSING", "no-new-privileges not set", "warn", "off",
          "Without it, setuid binaries in the image can raise privileges inside the container.",
          "Add `security_opt: [\"no-new-privileges:true\"]`."),
    _rule("FS-READONLY-MISSING", "Root filesystem is writable", "info", "off",
          "A writable root filesystem lets an attacker persist tools and modify the application.",
          "Set `read_only: true` and mount `tmpfs` or volumes for the paths that must be written."),
    _rule("USER-ROOT", "Container runs as root", "warn", "info",
          "A process running as uid 0 turns any escape or mount mistake into host root.",
          "Set `user:` to a non-root uid (e.g. \"65534:65534\") or add a USER line to the image."),
    _rule("RES-LIMITS-MISSING", "No memory or CPU limit", "error", "off",
          "An unbounded service can starve the host and every other service on it.",
          "Set `deploy.resources.limits.memory` and `deploy.resources.limits.cpus` (or `mem_limit`/`cpus`)."),
    _rule("RES-PIDS-LIMIT-MISSING", "No PIDs limit", "info", "off",
          "Without a PIDs limit a fork bomb in the container exhausts the host's process table.",
          "Set `deploy.resources.limits.pids` (or `pids_limit`) to a value above 0."),
    _rule("LOG-DRIVER-NONE", "Logging disabled", "warn", "off",
          "With the `none` driver there is no record of what the service did or why it failed.",
          "Use `json-file` with rotation, `local`, or a remote log driver."),
    _rule("LOG-ROTATION-MISSING", "Logs are not rotated", "warn", "off",
          "json-file logs grow without bound unless max-size is set, and eventually fill the disk.",
          "Set `logging: {driver: json-file, options: {max-size: \"10m\", max-file: \"3\"}}`, use `local`, "
          "or set `log-opts` in the host's daemon.json."),
    _rule("IMG-TAG-MUTABLE", "Image tag is mutable", "error", "info",
          "A missing or moving tag (latest, stable, ...) means each host may run different code.",
          "Pin a version tag, or better a digest (`image: repo:1.2.3@sha256:...`)."),
    _rule("IMG-DIGEST-MISSING", "Image not pinned by digest", "warn", "off",
          "A tag can be re-pushed; only a digest guarantees the scanned image is the one deployed.",
          "Append the digest: `image: repo:1.2.3@sha256:...`."),
    _rule("IMG-REGISTRY-UNTRUSTED", "Image from a registry outside the allow-list", "error", "off",
          "Images must come from registries the team controls or trusts.",
          "Mirror the image into a trusted registry, or add the registry to the allow-list."),
    _rule("PORT-HOST-WILDCARD", "Port published on all interfaces", "warn", "info",
          "A port bound to 0.0.0.0/:: is reachable from every network the host is on, bypassing host firewalls.",
          "Bind to a specific address, e.g. \"127.0.0.1:8080:80\", or drop the port if a proxy reaches it."),
    _rule("PORT-PRIVILEGED", "Privileged host port published", "warn", "off",
          "Host ports below 1024 are reserved for system services.",
          "Publish a port above 1023, or allow this service/port in the policy (e.g. a reverse proxy on 80/443)."),
    _rule("SSH-IN-CONTAINER", "SSH server in container", "error", "warn",
          "An SSH daemon adds credentials and an attack surface; use `docker exec` for access.",
          "Remove the SSH server, port 22 and the sshd command."),
    _rule("RESTART-MISSING", "No restart policy", "warn", "off",
          "Without a restart policy a crashed service stays down until someone notices.",
          "Set `restart: on-failure:5` (or `unless-stopped`), or `deploy.restart_policy`."),
    _rule("RESTART-UNBOUNDED", "Restart policy is unbounded", "info", "off",
          "Endless restarts hide a crash loop and can keep hammering dependencies.",
          "Use `restart: on-failure:N` with N <= 5, or `deploy.restart_policy.max_attempts` <= 5."),
    _rule("HEALTHCHECK-MISSING", "No health check", "warn", "off",
          "Gantry waits for health after a deploy; without a check a broken release looks healthy.",
          "Add a `healthcheck:` with a `test` that proves the service answers."),
    _rule("SECRET-ENV-LITERAL", "Secret written literally in the compose file", "error", "warn",
          "Secrets committed in compose files leak through the repository and `docker inspect`.",
          "Reference a variable (`${DB_PASSWORD}`) supplied from the secrets file, or use `*_FILE` with a secret."),
    _rule("DEVICE-HOST", "Host device exposed", "error", "warn",
          "Raw block devices, memory or kernel log devices let the container read or corrupt the host.",
          "Remove the device from `devices`."),
    _rule("MOUNT-PROPAGATION-SHARED", "Shared mount propagation", "warn", "info",
          "With shared propagation, mounts made inside the container appear on the host.",
          "Use the default `rprivate` propagation."),
    _rule("PROD-DEV-ARTIFACTS", "Development setting in a deploy", "error", "off",
          "Build contexts, debuggers, auto-reload and debug modes expose internals and run unreviewed code.",
          "Move these settings to docker-compose.dev.yml and deploy a prebuilt image."),
)

# A host Gantry cannot deploy to (too old, no disk) is an error at every level; confinement follows the level.
HOST_RULES: tuple[Rule, ...] = (
    _rule("HOST-MAC-MISSING", "Docker daemon without AppArmor or SELinux", "error", "warn",
          "Without a mandatory access control profile a container escape meets no second barrier on the host.",
          "Enable AppArmor (Debian/Ubuntu) or SELinux (RHEL) on the host and restart dockerd."),
    _rule("HOST-SECCOMP-MISSING", "Docker daemon without seccomp", "error", "warn",
          "Seccomp filters the system calls a container may make; without it every kernel call is reachable.",
          "Use a Docker build with seccomp support and do not set it unconfined."),
    _rule("HOST-ENGINE-VERSION", "Docker Engine too old or missing", "error", "error",
          "Gantry relies on Engine 20.10 features (health states, `docker compose`); an older engine fails mid-deploy.",
          "Install or upgrade Docker Engine.", lab="error"),
    _rule("HOST-COMPOSE-VERSION", "Docker Compose v2 too old or missing", "error", "error",
          "Gantry runs `docker compose` v2.20 or newer (its JSON output and flags); older releases differ.",
          "Install the Compose v2 plugin.", lab="error"),
    _rule("HOST-DISK-LOW", "Little free disk under the deploy path", "error", "error",
          "Pulls and the release upload need space; a full disk fails the deploy half-way.",
          "Free disk space (old images: docker image prune) or raise the volume.", lab="error"),
    _rule("HOST-PROJECT-RENAMED", "The environment runs under its old compose project name", "error", "error",
          "An `up` under the new name would start a second copy beside the old one, on new, empty named volumes.",
          "Move it to its new name once, named volumes included, as the README says ('Compose project names: "
          "moving an environment'); then deploy again.", lab="error"),
)

# Judged on the build side, from the built image (its size, its files); warnings, never a blocker by default.
BUILT_RULES: tuple[Rule, ...] = (
    _rule("IMG-SIZE-BUDGET", "Image over the environment's size budget", "warn", "warn",
          "Big images pull slowly on every host and usually carry files the service never uses.",
          "Slim the image (a smaller base, a multi-stage build, fewer layers) or raise policy.image_size_budget."),
    _rule("IMG-BUILD-TOOLS", "Build tools in a prod image", "warn", "off",
          "Compilers and package-manager caches in a running image help an attacker and bloat every pull; a "
          "multi-stage Dockerfile (`COPY --from=build`) or a cache cleaned in the same RUN step leaves them out.",
          "Build in a stage and copy only the result into the prod stage.", lab="off"),
)

ALL_RULES: tuple[Rule, ...] = RULES + HOST_RULES + BUILT_RULES
RULES_BY_ID: dict[str, Rule] = {r.id: r for r in ALL_RULES}
RULE_ORDER: dict[str, int] = {r.id: i for i, r in enumerate(ALL_RULES)}
