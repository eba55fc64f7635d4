#!/bin/sh
# Installs the Debian packages the tests and benchmarks start for real
# (nginx-light as an upstream proxy, its stream module for the PROXY protocol, wrk as a load generator, openssl and curl for the TLS
# tests, passwd's useradd/userdel for the privilege-drop tests, iproute2's ss for counting a worker's
# connections, rsyslog as a real syslog receiver, python3-websockets as a third WebSocket client next to
# the runtimes' own and Bun's, tini as a container's init) when missing.
set -e
missing=""
command -v nginx >/dev/null 2>&1 || missing="$missing nginx-light"
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
[ -f /usr/lib/nginx/modules/ngx_stream_module.so ] || missing="$missing libnginx-mod-stream"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
command -v tini >/dev/null 2>&1 || missing="$missing tini"
command -v useradd >/dev/null 2>&1 || missing="$missing passwd"
command -v ss >/dev/null 2>&1 || missing="$missing iproute2"
command -v rsyslogd >/dev/null 2>&1 || [ -x /usr/sbin/rsyslogd ] || missing="$missing rsyslog"
# Debian's own python (a pyenv or venv python on PATH would not see the Debian module).
/usr/bin/python3 -c "import websockets" >/dev/null 2>&1 || missing="$missing python3-websockets"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "appserve: please install:$missing (apt-get install$missing)" >&2
  exit 1
fi
echo "appserve: installing$missing from Debian"
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
