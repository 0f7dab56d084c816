#!/usr/bin/env bash
# The plain parallel loop the benchmark compares against: on every host at once, copy the release
# (compose.yaml and .env) with scp, then `docker compose up -d --wait` over ssh. No tool, no checks.
# usage: SSH_OPTS="..." ssh-loop.sh RELEASE_DIR REMOTE_DIR PROJECT HOST...
set -u
rel=$1 dir=$2 project=$3
shift 3
pids=()
for host in "$@"; do
  # shellcheck disable=SC2086  # SSH_OPTS is a word list
  ( scp $SSH_OPTS -q "$rel/compose.yaml" "$rel/.env" "root@$host:$dir/" &&
    ssh $SSH_OPTS "root@$host" docker compose -p "$project" --project-directory "$dir" -f "$dir/compose.yaml" \
      --env-file "$dir/.env" up -d --remove-orphans --wait --wait-timeout 120 --quiet-pull ) &
  pids+=("$!")
done
status=0
for pid in "${pids[@]}"; do
  wait "$pid" || status=1
done
exit "$status"
