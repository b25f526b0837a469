#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432, user postgres) and RabbitMQ (127.0.0.1:5672,
# guest/guest) are running, starting installed servers and installing them from Debian
# packages when missing; that the Python SMTP sink (aiosmtpd) is installed in .tools/; and
# that faketime (scheduler clock-skew test) and chromium + chromedriver (console test) are there.
# Idempotent: fast when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/../.."

log() { echo "ensure-infra: $*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 1; done
  log "port $1 did not open"; return 1
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=""
apt_install() {
  [ -n "$apt_updated" ] || { as_root apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  if port_open 5432; then return 0; fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    log "installing postgresql"
    apt_install postgresql
    local version; version=$(ls /etc/postgresql | sort -V | tail -1)
    # Local development only: trust connections from this machine, as the test suite assumes.
    local hba="/etc/postgresql/$version/main/pg_hba.conf"
    as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
  fi
  local version; version=$(ls /etc/postgresql | sort -V | tail -1)
  log "starting postgresql $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_port 5432
}

ensure_rabbitmq() {
  if port_open 5672; then return 0; fi
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    log "installing rabbitmq-server"
    apt_install rabbitmq-server
  fi
  log "starting rabbitmq"
  as_root rabbitmq-server -detached || true
  wait_port 5672
  # The port opens before the broker accepts logins.
  for _ in $(seq 1 30); do as_root rabbitmqctl -q await_startup >/dev/null 2>&1 && break; sleep 1; done
}

# Python tools in .tools/venv: the aiosmtpd SMTP sink; georeport, a stock Open311
# GeoReport v2 client the Open311 test drives; and moto's S3-compatible server, which
# the attachment store is tested against as production would configure it.
ensure_python_tools() {
  if [ -x .tools/venv/bin/python ] && .tools/venv/bin/python -c 'import aiosmtpd, georeport, moto' 2>/dev/null; then return 0; fi
  log "installing aiosmtpd, georeport and moto's S3 server into .tools/venv"
  if ! python3 -m venv .tools/venv 2>/dev/null; then
    apt_install python3-venv
    python3 -m venv .tools/venv
  fi
  .tools/venv/bin/pip install -q 'aiosmtpd==1.4.6' 'georeport==0.3.1' 'moto[s3,server]==5.2.5'
}

# The scheduler test runs one routing replica with its clock hours ahead (libfaketime).
ensure_faketime() {
  if command -v faketime >/dev/null 2>&1; then return 0; fi
  log "installing faketime"
  apt_install faketime
}

# The console test drives Debian's chromium through chromedriver.
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then return 0; fi
  log "installing chromium and chromium-driver"
  apt_install chromium chromium-driver
}

ensure_postgres
ensure_rabbitmq
ensure_python_tools
ensure_faketime
ensure_chromium
