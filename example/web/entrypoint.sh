#!/bin/sh
# Writes the site into tmpfs, then runs httpd under this shell, which stays PID 1 and stops it on SIGTERM.
# (httpd itself as PID 1 would never see SIGTERM: the kernel drops signals that a namespace's init has
# no handler for, so every stop would cost Docker's 10 s grace and then a SIGKILL.)
set -e
# Variable-style secrets either way: NAME from the environment (compose over SSH, `--env-file`), or
# NAME_FILE=/run/secrets/NAME (Gantry's swarm engine: a Swarm secret, never in the service's environment).
if [ -n "${DB_PASSWORD_FILE:-}" ] && [ -z "${DB_PASSWORD:-}" ]; then DB_PASSWORD=$(cat "$DB_PASSWORD_FILE"); fi
mkdir -p /tmp/www
echo "gantry example web, version ${APP_VERSION:-unknown}" > /tmp/www/index.html
echo "${APP_VERSION:-unknown}" > /tmp/www/version
if [ -n "${DB_PASSWORD:-}" ]; then echo yes > /tmp/www/db-password-set; else echo no > /tmp/www/db-password-set; fi
if [ "${FAIL_HEALTH:-0}" = "0" ]; then echo ok > /tmp/www/health; fi
set +e  # a killed httpd's exit status must not abort the trap
trap 'kill -TERM "$httpd" 2>/dev/null; wait "$httpd"; exit 0' TERM INT
echo "gantry example web ${APP_VERSION:-unknown}: listening on 8080"
httpd -f -p 8080 -h /tmp/www &
httpd=$!
wait "$httpd"
