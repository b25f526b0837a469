#!/usr/bin/env bash
# Removes databases and RabbitMQ vhosts left behind by test runs that were killed before
# they could clean up (names start with lapor_test_). Run before the suites, never during.
set -euo pipefail
for db in $(psql -U postgres -h 127.0.0.1 -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'lapor\_test\_%'"); do
  psql -U postgres -h 127.0.0.1 -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null
done
for vhost in $(rabbitmqctl -q list_vhosts 2>/dev/null | grep '^lapor_test_' || true); do
  rabbitmqctl -q delete_vhost "$vhost" >/dev/null
done
