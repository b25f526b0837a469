#!/usr/bin/env bash
# `make run`: the whole system on this machine with the Kalsel seed data.
# Starts PostgreSQL/RabbitMQ if needed, an SMTP sink, and the four services; Ctrl-C stops all.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

deploy/scripts/ensure-infra.sh
cargo build --release --bins

mkdir -p var/log var/mail
# A development vault key, kept in var/ so the identities stored in earlier runs stay readable.
# Production sets LAPOR__VAULT__KEY from a secret store.
if [ ! -s var/dev-vault.key ]; then head -c 32 /dev/urandom | base64 > var/dev-vault.key; fi
export LAPOR__VAULT__KEY="${LAPOR__VAULT__KEY:-$(cat var/dev-vault.key)}"
# The development JWT signing secret; `laporctl token` reads the same file.
if [ ! -s var/dev-auth.secret ]; then head -c 48 /dev/urandom | base64 | tr -d '\n/+=' > var/dev-auth.secret; fi
export LAPOR__AUTH__DEV_SECRET="${LAPOR__AUTH__DEV_SECRET:-$(cat var/dev-auth.secret)}"
# The secret notification presents to intake to read reporters' contacts for messages.
if [ ! -s var/dev-service.token ]; then head -c 32 /dev/urandom | base64 | tr -d '\n/+=' > var/dev-service.token; fi
export LAPOR__INTERNAL__SERVICE_TOKEN="${LAPOR__INTERNAL__SERVICE_TOKEN:-$(cat var/dev-service.token)}"
export LAPOR__INTAKE__SERVICE_TOKEN="$LAPOR__INTERNAL__SERVICE_TOKEN"
# The secret an SMS aggregator's webhook presents (POST /api/v1/sms/inbound).
if [ ! -s var/dev-sms-webhook.token ]; then head -c 24 /dev/urandom | base64 | tr -d '\n/+=' > var/dev-sms-webhook.token; fi
export LAPOR__SMS__WEBHOOK_TOKEN="${LAPOR__SMS__WEBHOOK_TOKEN:-$(cat var/dev-sms-webhook.token)}"
# The API key of a development Open311 client (POST /open311/v2/requests.json).
if [ ! -s var/dev-open311.key ]; then head -c 24 /dev/urandom | base64 | tr -d '\n/+=' > var/dev-open311.key; fi
export LAPOR__OPEN311__API_KEYS="${LAPOR__OPEN311__API_KEYS:-$(cat var/dev-open311.key)}"
export LAPOR_CONFIG_DIR="$root/deploy/config"

pids=()
stop() {
  trap - INT TERM
  echo
  echo "stopping LAPOR..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "stopped."
  exit 0
}
trap stop INT TERM

deploy/scripts/smtp-sink.sh "$root/var/mail" 2525 >var/log/smtp-sink.log 2>&1 &
pids+=($!)
# The SMSC simulator: notification binds to it to send SMS (each lands as a JSON line in
# var/log/smsc.log), intake's 1708 receiver to take citizens' texts, which are typed into
# var/sms-in as "<from> <to> <text>" lines.
: >var/sms-in
tail -n0 -f var/sms-in | target/release/lapor-smsc-sim 127.0.0.1:2775 >var/log/smsc.log 2>var/log/smsc-sim.log &
pids+=($!)
for service in intake routing notification analytics; do
  "target/release/lapor-$service" >"var/log/$service.log" 2>&1 &
  pids+=($!)
done

declare -A http_port=([intake]=8080 [routing]=8081 [notification]=8082 [analytics]=8083)
for service in intake routing notification analytics; do
  for _ in $(seq 1 60); do
    if curl -fsS "http://127.0.0.1:${http_port[$service]}/readyz" >/dev/null 2>&1; then break; fi
    sleep 0.5
  done
  if ! curl -fsS "http://127.0.0.1:${http_port[$service]}/readyz" >/dev/null 2>&1; then
    echo "lapor-$service did not become ready; see var/log/$service.log" >&2
    stop
  fi
done

cat <<MSG

LAPOR is running with the Kalimantan Selatan seed data.

  gRPC   intake :50051  routing :50052  notification :50053  analytics :50054
  HTTP   intake :8080   routing :8081   notification :8082   analytics :8083   (/readyz, /metrics)
  citizens http://127.0.0.1:8080/  (the web form and status page; Open311 at /open311/v2)
  console http://127.0.0.1:8081/console  (sign in with a token from: laporctl token --role admin)
  logs   var/log/<service>.log
  e-mail every message is delivered over SMTP to a local sink on 127.0.0.1:2525 and stored
         as one file per message in var/mail/new/
  sms    every SMS goes over SMPP to the SMSC simulator on 127.0.0.1:2775, one JSON line per
         message in var/log/smsc.log; text the 1708 short code by appending to var/sms-in

Submit a complaint and follow it:

  target/release/laporctl submit --title "Lampu jalan mati" --body "Sudah seminggu gelap" \\
      --category infrastruktur.jalan-jembatan --kabupaten 6371 --email warga@example.id
  target/release/laporctl status <tracking-id>
  grep -l <tracking-id> var/mail/new/*
  grep <tracking-id> var/log/smsc.log
  echo '+6281311112222 1708 LAPOR#puskesmas#Banjarmasin#Obat habis di puskesmas' >> var/sms-in
  echo '+6281311112222 1708 STATUS <tracking-id>' >> var/sms-in
  target/release/laporctl summary

Act as officers (development tokens signed with var/dev-auth.secret):

  export LAPOR_TOKEN=\$(target/release/laporctl token --role admin)
  target/release/laporctl deliveries list --tracking-id <tracking-id>
  target/release/laporctl dead-letters list
  target/release/laporctl queue                       # cases waiting for verification
  target/release/laporctl act <tracking-id> verify dinkes
  export LAPOR_TOKEN=\$(target/release/laporctl token --role penghubung --skpd dinkes)
  target/release/laporctl act <tracking-id> follow-up "Sudah ditangani petugas"
  target/release/laporctl audit <tracking-id>

Press Ctrl-C to stop everything.
MSG
wait
