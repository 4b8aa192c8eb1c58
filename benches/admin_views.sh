#!/usr/bin/env bash
# The admin pages that draw (issue 21) with many open waits, on both stores: the plans of
# their two aggregate queries (EXPLAIN) and the time of the pages that run them.
#
#   benches/admin_views.sh            # WAITS=1000000
#
# WAITS open server items of the `callback-item` bench workflow, deadlines spread from
# 2 h overdue to 70 h ahead, and one instance in a hundred failed: rows shaped like the
# engine's, inserted with SQL (as benches/scale.sh does). Then, for PostgreSQL and the
# embedded store each:
#   - EXPLAIN of the per-step counts and of the deadline outlook (all, one workflow);
#   - GET /admin/workflows/{id} (the map) and /admin/waits (the outlook), RUNS times each.
# HOLDPOINT (default: a release build) is the binary measured. Environment: WAITS, RUNS
# (5), WORK, PORT (18093), PGPORT (55443).
set -euo pipefail

WORK=${WORK:-/tmp/holdpoint-admin-views}
WAITS=${WAITS:-1000000}
RUNS=${RUNS:-5}
PORT=${PORT:-18093}
PGPORT=${PGPORT:-55443}
source "$(dirname "$0")/lib.sh"
trap stop_all EXIT

rm -rf "$WORK" && mkdir -p "$WORK" && chmod 777 "$WORK"
if [ -z "${HOLDPOINT:-}" ]; then
    (cd "$ROOT" && cargo build --release --quiet)
    HOLDPOINT=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/holdpoint
fi
WORKFLOW=b0b0b0b0-0001-4b0b-8b0b-b0b0b0b0b0b0
NOW=$(($(date +%s) * 1000))
START=$((NOW - 2 * 3600000))
SPREAD=$((72 * 3600000))

# The statements as the store builds them, with `now` written in.
STEP_COUNTS="SELECT step, SUM(waiting), SUM(overdue), SUM(failed) FROM (SELECT w.step_id AS step,
 1 AS waiting, CASE WHEN w.deadline <= $NOW THEN 1 ELSE 0 END AS overdue, 0 AS failed FROM waits w
 JOIN instances i ON i.id = w.instance_id WHERE w.state = 'open' AND i.workflow_id = '$WORKFLOW'
 UNION ALL SELECT current_step, 0, 0, 1 FROM instances WHERE workflow_id = '$WORKFLOW'
 AND status = 'failed' AND current_step IS NOT NULL) counted GROUP BY step ORDER BY step"
outlook() { # FROM WHERE-extra
    echo "SELECT CASE WHEN w.deadline <= $NOW THEN -1 ELSE (w.deadline - $NOW - 1) / 3600000 END
 AS hour, COUNT(*) FROM $1 WHERE w.state = 'open' AND w.deadline <= $((NOW + 48 * 3600000))$2
 GROUP BY 1 ORDER BY 1"
}
OUTLOOK_ALL=$(outlook "waits w" "")
OUTLOOK_ONE=$(outlook "waits w JOIN instances i ON i.id = w.instance_id" \
    " AND i.workflow_id = '$WORKFLOW'")

# Rows for n in 1..WAITS: instance 1000000000+n, its open wait; every 100th failed.
bulk_sql() { # series
    cat <<SQL
INSERT INTO instances (id, workflow_id, definition_hash, folio, status, current_step, fields,
    trigger_event, created_at, updated_at)
SELECT 1000000000 + n, '$WORKFLOW', 'bulk', 'callback-item',
    CASE WHEN n % 100 = 0 THEN 'failed' ELSE 'waiting' END, 'item', '{}', '{}', $NOW, $NOW
FROM $1;
INSERT INTO waits (instance_id, step_id, kind, event_name, scope, state, deadline, created_at)
SELECT 1000000000 + n, 'item', 'server_item', NULL, NULL, 'open',
    $START + (CAST(n AS BIGINT) * 7919) % $SPREAD, $NOW
FROM $1 WHERE n % 100 <> 0;
SQL
}

pages() { # label
    for path in "/admin/workflows/$WORKFLOW" "/admin/waits" "/admin/waits?workflow=$WORKFLOW"; do
        local times=()
        for _ in $(seq "$RUNS"); do
            times+=("$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -u bench:bench-pw \
                "$BASE$path")")
        done
        echo "$1 GET $path: ${times[*]}"
    done
}

serve_and_measure() { # label, store args…
    local label=$1
    shift
    "$HOLDPOINT" accounts add bench --admin --password bench-pw "$@" >/dev/null 2>&1 || true
    "$HOLDPOINT" serve --listen "127.0.0.1:$PORT" --workflows "$ROOT/benches/workflows" "$@" \
        >"$WORK/$label.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do curl -sf "$BASE/readyz" >/dev/null && break; sleep 0.2; done
    pages "$label"
    kill "$SERVER_PID" && wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

# PostgreSQL ------------------------------------------------------------------------------
start_postgres
"$HOLDPOINT" migrate --database-url "$DB" --workflows "$ROOT/benches/workflows" >/dev/null
started=$(date +%s.%N)
{ bulk_sql "generate_series(1, $WAITS) AS n"; echo "VACUUM ANALYZE;"; } | psql_hp
echo "postgres: $WAITS instances inserted in" \
    "$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s"
for query in "$STEP_COUNTS" "$OUTLOOK_ALL" "$OUTLOOK_ONE"; do
    echo "--- postgres: EXPLAIN ANALYZE $(echo "$query" | head -c 60)…"
    psql_hp -c "EXPLAIN (ANALYZE, COSTS OFF) $query"
done
serve_and_measure postgres --database-url "$DB"

# Embedded store --------------------------------------------------------------------------
"$HOLDPOINT" migrate --data-dir "$WORK/data" --workflows "$ROOT/benches/workflows" >/dev/null
started=$(date +%s.%N)
{
    echo "PRAGMA journal_mode = WAL;"
    bulk_sql "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < $WAITS)
        SELECT n FROM s)"
    echo "ANALYZE;"
} | sqlite3 "$WORK/data/holdpoint.db"
echo "sqlite: $WAITS instances inserted in" \
    "$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s"
for query in "$STEP_COUNTS" "$OUTLOOK_ALL" "$OUTLOOK_ONE"; do
    echo "--- sqlite: EXPLAIN QUERY PLAN and time of $(echo "$query" | head -c 60)…"
    printf '.timer on\nEXPLAIN QUERY PLAN %s;\n%s;\n' "$query" "$query" |
        sqlite3 "$WORK/data/holdpoint.db"
done
serve_and_measure sqlite --data-dir "$WORK/data"
