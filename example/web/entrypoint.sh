#!/bin/sh
# Writes the site into tmpfs, then runs httpd under this shell, which stays PID 1 and stops it on SIGTERM.
# (httpd itself as PID 1 would never see SIGTERM: the kernel drops signals that a namespace's init has
# no handler for, so every stop would cost Docker's 10 s grace and then a SIGKILL.)
set -e
mkdir -p /tmp/www
echo "gantry example web, version ${APP_VERSION:-unknown}" > /tmp/www/index.html
echo "${APP_VERSION:-unknown}" > /tmp/www/version
if [ "${FAIL_HEALTH:-0}" = "0" ]; then echo ok > /tmp/www/health; fi
set +e  # a killed httpd's exit status must not abort the trap
trap 'kill -TERM "$httpd" 2>/dev/null; wait "$httpd"; exit 0' TERM INT
httpd -f -p 8080 -h /tmp/www &
httpd=$!
wait "$httpd"
