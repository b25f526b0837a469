#!/usr/bin/env bash
# A real SMTP server (aiosmtpd) that stores every message it accepts in a Maildir.
# Usage: smtp-sink.sh <maildir> [port]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
maildir="$1"; port="${2:-2525}"
mkdir -p "$maildir/tmp" "$maildir/new" "$maildir/cur"
exec "$root/.tools/venv/bin/python" -m aiosmtpd -n -l "127.0.0.1:$port" -c aiosmtpd.handlers.Mailbox "$maildir"
