#!/usr/bin/env bash
# The README's walkthrough, end to end: start the emulator with the sample fleet, preview windows,
# export iCalendar, plan, apply, show history and roll back. Nothing leaves 127.0.0.1.
#
# Run from the repository root with planner on PATH:  PATH="$PWD/.venv/bin:$PATH" bash samples/walkthrough.sh
# PLANNER_DEMO_PORT picks the emulator's port (default 8787); PLANNER_DEMO_OUT the output folder.
set -euo pipefail
cd "$(dirname "$0")/.."

port="${PLANNER_DEMO_PORT:-8787}"
out="${PLANNER_DEMO_OUT:-walkthrough-output}"
mkdir -p "$out"

planner emulator --port "$port" --connectors samples/connectors.json > "$out/emulator.log" 2>&1 &
emulator=$!
trap 'kill "$emulator" 2>/dev/null || true' EXIT

# Wait until the emulator accepts connections, for at most 10 seconds.
python3 - "$port" <<'PY'
import socket, sys, time
deadline = time.monotonic() + 10
while True:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("the emulator did not start; see its log in the output folder")
        time.sleep(0.1)
PY

export CLOUDFLARE_BASE_URL="http://127.0.0.1:$port/client/v4"
export CLOUDFLARE_ACCOUNT_ID=023e105f4ecef8ad9ca31a8372d0c353
export CLOUDFLARE_API_TOKEN=emulator-token

echo "== The fleet as the API has it"
planner connectors list

echo "== One spec across the night the clocks change in Berlin"
planner windows --timezone Europe/Berlin --days Sat,Sun --hour 2 --duration 4 --from 2027-03-27 --count 3

echo "== Every connector's windows as iCalendar"
planner ics --live --from 2027-01-01 --until 2027-04-01 --output "$out/fleet.ics"

echo "== The plan, as a change record, saved for apply"
planner plan samples/fleet.toml --markdown --out "$out/plan.json" --ics "$out/plan.ics" > "$out/plan.md"
head -n 8 "$out/plan.md"

echo "== Apply it, show the journal, roll it back"
planner apply "$out/plan.json" --yes --journal "$out/journal.sqlite3"
planner history --journal "$out/journal.sqlite3"
planner rollback last --yes --journal "$out/journal.sqlite3"
planner history --journal "$out/journal.sqlite3"
