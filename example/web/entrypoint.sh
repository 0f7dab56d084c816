#!/bin/sh
# Writes the site into tmpfs, then execs httpd so that it is PID 1 and stops at once on SIGTERM.
set -e
mkdir -p /tmp/www
echo "gantry example web, version ${APP_VERSION:-unknown}" > /tmp/www/index.html
echo "${APP_VERSION:-unknown}" > /tmp/www/version
if [ "${FAIL_HEALTH:-0}" = "0" ]; then echo ok > /tmp/www/health; fi
exec httpd -f -p 8080 -h /tmp/www
