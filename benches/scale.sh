#!/usr/bin/env bash
# Scale on PostgreSQL (DESIGN §8, issue 8): does Holdpoint stay fast and small with
# 1,000,000 open waits, and do 100,000 deadlines falling due at once expire in time?
#
#   benches/scale.sh                 # WAITS=1000000 DEADLINES=100000
#
# One throw-away cluster (synchronous_commit = on) and a release `holdpoint serve` on it.
# The same measurements run on the empty database and again after WAITS open server items
# (rows shaped exactly like the engine's, inserted with SQL: starting a million instances
# over HTTP would take a quarter of an hour and measure nothing new):
#   - list waits: GET /api/v1/waits?limit=100 and ?event=<name>, 16 connections, 10 s;
#   - finish: COUNT K2 finishes of fresh server items, 16 connections;
#   - the server's RSS: idle (after the first phase), the highest seen under load.
# Then benches/deadlines.rs on a second database of the same cluster.
# Environment: WAITS, DEADLINES (0 skips that part), COUNT (10000), WORK, PORT (18091),
# PGPORT (55441).
set -euo pipefail

WORK=${WORK:-/tmp/holdpoint-scale}
WAITS=${WAITS:-1000000}
DEADLINES=${DEADLINES:-100000}
COUNT=${COUNT:-10000}
PORT=${PORT:-18091}
PGPORT=${PGPORT:-55441}
source "$(dirname "$0")/lib.sh"
trap stop_all EXIT

rm -rf "$WORK" && mkdir -p "$WORK" && chmod 777 "$WORK"
start_postgres
DB_ARGS=(--database-url "$DB")
cd "$ROOT"
build_all
start_holdpoint
ITEM_WORKFLOW=b0b0b0b0-0001-4b0b-8b0b-b0b0b0b0b0b0
next=0

# The highest RSS of the server while "$@" runs.
peak_rss_during() {
    local peak=0 now
    "$@" &
    local job=$!
    while kill -0 "$job" 2>/dev/null; do
        now=$(awk '/VmRSS/ { print $2 }' "/proc/$SERVER_PID/status")
        [ "$now" -gt "$peak" ] && peak=$now
        sleep 0.2
    done
    wait "$job"
    PEAK_RSS=$(awk -v kb="$peak" 'BEGIN { printf "%.1f", kb / 1024 }')
}

measure() { # label
    local label=$1 list event finish
    list=$("$LOAD" --url "$BASE/api/v1/waits?limit=100" --user bench:bench-pw \
        --connections 16 --duration 10s | tail -1)
    event=$("$LOAD" --url "$BASE/api/v1/waits?event=bench-{n}" --user bench:bench-pw \
        --connections 16 --duration 10s | tail -1)
    "$SETUP" --url "$BASE" --workflow callback-item --count "$COUNT" --first "$next" \
        --user bench:bench-pw --out "$WORK/values.txt" | tail -1 >&2
    next=$((next + COUNT))
    peak_rss_during sh -c "\"$LOAD\" --url '$BASE/api/workflow/v1/serverEvents/{v}/finish' \
        --body benches/requests/k2-finish.json --content-type application/json \
        --user bench:bench-pw --connections 16 --values '$WORK/values.txt' --duration 120s \
        | tail -1 >'$WORK/finish.txt'"
    finish=$(cat "$WORK/finish.txt")
    echo "$label list_waits: $list"
    echo "$label waits_by_event: $event"
    echo "$label k2_finish: $finish"
    echo "$label rss_peak_under_load_mib=$PEAK_RSS"
}

sleep 2
echo "empty rss_idle_mib=$(rss_mib)"
measure empty

started=$(date +%s.%N)
psql_hp <<SQL
INSERT INTO instances (id, workflow_id, definition_hash, folio, status, current_step, fields,
    trigger_event, created_at, updated_at)
SELECT 1000000000 + n, '$ITEM_WORKFLOW', 'bulk', 'callback-item', 'waiting', 'item',
    jsonb_build_object('n', n), '{}', 1795000000000, 1795000000000
FROM generate_series(1, $WAITS) AS n;
INSERT INTO waits (instance_id, step_id, kind, event_name, scope, state, deadline, created_at)
SELECT 1000000000 + n, 'item', 'server_item', NULL, NULL, 'open',
    1795000000000 + 30 * 86400000::bigint, 1795000000000
FROM generate_series(1, $WAITS) AS n;
ANALYZE;
SQL
echo "bulk: $WAITS open waits inserted in $(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s;" \
    "open waits now $(psql_hp -c "SELECT count(*) FROM waits WHERE state = 'open'")"
sleep 5
echo "million rss_idle_mib=$(rss_mib)"
measure million
echo "million rss_after_mib=$(rss_mib)"

[ "$DEADLINES" -gt 0 ] || exit 0
stop_all
SERVER_PID=
as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/postgres.log" -w start -o \
    "-p $PGPORT -k $WORK -c listen_addresses=127.0.0.1 -c synchronous_commit=on" >/dev/null
"$PGBIN/psql" -q -h 127.0.0.1 -p "$PGPORT" -U postgres -c 'CREATE DATABASE deadlines'
HOLDPOINT_BENCH_DATABASE_URL="postgres://postgres@127.0.0.1:$PGPORT/deadlines" \
    "$DEADLINES_BENCH" --waits "$DEADLINES" | tail -3
