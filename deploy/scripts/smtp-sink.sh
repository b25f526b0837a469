#!/usr/bin/env bash
# A real SMTP server (aiosmtpd) that stores every message it accepts in a Maildir; see
# smtp_sink.py for its idempotency by Message-ID and the test-only fault options.
# Usage: smtp-sink.sh <maildir> [port] [--fail-every N] [--drop-every M]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
maildir="$1"; port="${2:-2525}"
shift; [ $# -gt 0 ] && shift
mkdir -p "$maildir/tmp" "$maildir/new" "$maildir/cur"
exec "$root/.tools/venv/bin/python" "$root/deploy/scripts/smtp_sink.py" "$maildir" "$port" "$@"
