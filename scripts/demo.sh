#!/usr/bin/env bash
# The main job on a fresh machine: start the Twilio emulator, read every
# stream from it with the Airbyte `read` command, and summarize what came
# out. Usage: scripts/demo.sh [output.jsonl]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-twilio-demo.jsonl}
work=$(mktemp -d)
trap 'kill "$emu_pid" 2>/dev/null || true; rm -rf "$work"' EXIT

go build -o "$work/twilio-elt" ./cmd/twilio-elt
port=$(( 20000 + RANDOM % 20000 ))
"$work/twilio-elt" emulator --addr "127.0.0.1:$port" --subaccounts 5 --days 120 --sims 20 >"$work/config.json" 2>"$work/emulator.log" &
emu_pid=$!
for _ in $(seq 50); do [ -s "$work/config.json" ] && break; sleep 0.1; done
[ -s "$work/config.json" ] || { cat "$work/emulator.log" >&2; exit 1; }

cat >"$work/catalog.json" <<'JSON'
{"streams": [
  {"stream": {"name": "accounts"}, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"},
  {"stream": {"name": "usage_records"}, "sync_mode": "incremental", "destination_sync_mode": "append_dedup"},
  {"stream": {"name": "sims"}, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"},
  {"stream": {"name": "sim_usage_records"}, "sync_mode": "incremental", "destination_sync_mode": "append_dedup"}
]}
JSON
"$work/twilio-elt" read --config "$work/config.json" --catalog "$work/catalog.json" >"$out"
echo "wrote $(wc -l <"$out") Airbyte messages to $out"
echo "records per stream:"
grep '"type":"RECORD"' "$out" | sed -E 's/.*"stream":"([a-z_]+)".*/\1/' | sort | uniq -c
