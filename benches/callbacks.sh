#!/usr/bin/env bash
# Durable callbacks against the database's own speed (DESIGN §8, issue 8).
#
#   benches/callbacks.sh               # PostgreSQL: Holdpoint vs pgbench, same statements
#   STORE=sqlite benches/callbacks.sh  # embedded store: vs benches/sqlite_baseline.rs
#   benches/callbacks.sh --capture     # print the SQL one callback of each kind executes
#
# A throw-away PostgreSQL cluster (synchronous_commit = on, fsync on) is started under
# $WORK; a release `holdpoint serve` runs the workflows of benches/workflows on it. For each
# kind (K2 REST finish, SOAP FinishServerItem, sendCustomEvent waking one waiter) and each
# connection count, in one run and alternating:
#   1. COUNT instances are started (benches/callback_setup.rs) and the load generator
#      (benches/load.rs) sends one callback per instance: Holdpoint's req/s and p99;
#   2. COUNT more instances are started and pgbench runs benches/pgbench/<kind>.sql (the
#      statements captured from the PostgreSQL log, see --capture) once per instance with
#      the same number of clients: pgbench's TPS. With STORE=sqlite, the baseline is a
#      plain rusqlite loop over the same statements (one writer, as SQLite allows).
# Loopback only. Environment: COUNT (default 20000), CONNECTIONS ("16 64"), KINDS
# ("k2 soap event"), ROUNDS (1), WORK (/tmp/holdpoint-callbacks), PORT (18090), PGPORT
# (55440). With ROUNDS=N each kind and connection count is measured N times in a row,
# a line each: on a shared machine whose speed moves within minutes, the ratios of N
# rounds side by side say more than one.
set -euo pipefail

WORK=${WORK:-/tmp/holdpoint-callbacks}
STORE=${STORE:-postgres}
COUNT=${COUNT:-20000}
CONNECTIONS=${CONNECTIONS:-16 64}
KINDS=${KINDS:-k2 soap event}
ROUNDS=${ROUNDS:-1}
PORT=${PORT:-18090}
PGPORT=${PGPORT:-55440}
CAPTURE=false
[ "${1:-}" = "--capture" ] && CAPTURE=true
source "$(dirname "$0")/lib.sh"
trap stop_all EXIT

rm -rf "$WORK" && mkdir -p "$WORK" && chmod 777 "$WORK"
if [ "$STORE" = sqlite ]; then
    DB_ARGS=(--data-dir "$WORK/data")
else
    DB_ARGS=(--database-url "$DB")
    start_postgres
fi
cd "$ROOT"
build_all
start_holdpoint

workflow_of() { case $1 in event) echo callback-event ;; *) echo callback-item ;; esac; }
setup() { # kind first out
    "$SETUP" --url "$BASE" --workflow "$(workflow_of "$1")" \
        --count "$COUNT" --first "$2" --user bench:bench-pw --out "$3" | tail -1
}
load() { # kind connections values
    local url body type
    case $1 in
        k2) url="$BASE/api/workflow/v1/serverEvents/{v}/finish"
            body=benches/requests/k2-finish.json type=application/json ;;
        soap) url="$BASE/soap/server-items"
            body=benches/requests/finish-server-item.xml type="text/xml; charset=utf-8" ;;
        event) url="$BASE/vco/vmware-vmo-webcontrol/webservice"
            body=benches/requests/wake-custom-event.xml type="text/xml; charset=utf-8" ;;
    esac
    "$LOAD" --url "$url" --body "$body" --content-type "$type" \
        --user bench:bench-pw --connections "$2" --values "$3" --warmup 1s --duration 120s \
        | tail -1
}

if $CAPTURE; then
    for kind in $KINDS; do
        COUNT=1 setup "$kind" 0 "$WORK/capture-$kind.txt" >/dev/null
        psql_hp -c "ALTER SYSTEM SET log_statement = 'all'" -c 'SELECT pg_reload_conf()' >/dev/null
        sleep 0.5
        from=$(wc -l <"$WORK/postgres.log")
        load "$kind" 1 "$WORK/capture-$kind.txt" >/dev/null
        sleep 0.3
        psql_hp -c "ALTER SYSTEM RESET log_statement" -c 'SELECT pg_reload_conf()' >/dev/null
        echo "== $kind: statements of one callback"
        tail -n +"$((from + 1))" "$WORK/postgres.log" | grep -E 'statement: |execute |parameters:' \
            | grep -v -E 'outbox SET state = .running|inbound_events SET state|deadline <= |DELETE FROM (buffered_events|dedup_keys)|ALTER SYSTEM|pg_reload_conf' \
            | sed -E 's/^[^]]*\] //'
    done
    exit 0
fi

echo "store kind connections holdpoint_rps holdpoint_p99_ms baseline_tps baseline_p99_ms ratio"
next=0
for kind in $KINDS; do
    for connections in $CONNECTIONS; do
        for _ in $(seq "$ROUNDS"); do
            setup "$kind" "$next" "$WORK/values.txt" >&2
            next=$((next + COUNT))
            result=$(load "$kind" "$connections" "$WORK/values.txt")
            echo "$result" >&2
            rps=$(sed -E 's/.*rps=([0-9.]+).*/\1/' <<<"$result")
            p99=$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$result")
            failed=$(sed -E 's/.*non2xx=([0-9]+) errors=([0-9]+).*/\1+\2/' <<<"$result")
            [ "$((failed))" = 0 ] || echo "warning: $failed callbacks failed" >&2

            if [ "$STORE" = sqlite ]; then
                baseline=$("$BASELINE" --dir "$WORK" --count "$COUNT" \
                    --kind "$([ "$kind" = event ] && echo event || echo item)" | tail -1)
                tps=$(sed -E 's/.*tps=([0-9.]+).*/\1/' <<<"$baseline")
                base_p99=$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$baseline")
                ratio=$(awk -v a="$rps" -v b="$tps" 'BEGIN { printf "%.2f", a / b }')
                echo "sqlite $kind $connections $rps $p99 $tps $base_p99 $ratio"
                continue
            fi
            # pgbench's own batch of open waits, in the order it will take them.
            setup "$kind" "$next" "$WORK/pg-values.txt" >&2
            psql_hp <<SQL
DROP TABLE IF EXISTS bench_targets; DROP SEQUENCE IF EXISTS bench_seq;
CREATE TABLE bench_targets (k bigint PRIMARY KEY, wait_id bigint NOT NULL);
INSERT INTO bench_targets SELECT row_number() OVER (ORDER BY w.id), w.id FROM waits w
  JOIN instances i ON i.id = w.instance_id
  WHERE w.state = 'open' AND i.workflow_id = '$(grep -m1 '^id' "benches/workflows/$(workflow_of "$kind").toml" | cut -d'"' -f2)';
CREATE SEQUENCE bench_seq START $([ "$kind" = event ] && echo "$next" || echo 1);
ANALYZE;
SQL
            next=$((next + COUNT))
            script="$WORK/$kind.sql" # readable by the postgres user
            cp "benches/pgbench/$([ "$kind" = event ] && echo event || echo k2).sql" "$script"
            per_client=$((COUNT / connections))
            rm -f "$WORK"/pgbench_log*
            tps=$(as_pg "$PGBIN/pgbench" -n -M prepared -h 127.0.0.1 -p "$PGPORT" -U postgres \
                -c "$connections" -j 2 -t "$per_client" -f "$script" -l --log-prefix="$WORK/pgbench_log" \
                holdpoint 2>&1 | tee "$WORK/pgbench.log" | sed -nE 's/^tps = ([0-9.]+).*/\1/p')
            [ -n "$tps" ] || { cat "$WORK/pgbench.log" >&2; exit 1; }
            # Per-transaction log: the third field is the latency in microseconds.
            pg_p99=$(cat "$WORK"/pgbench_log* | awk '{ print $3 }' | sort -n \
                | awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.3f", v[i] / 1000 }')
            ratio=$(awk -v a="$rps" -v b="$tps" 'BEGIN { printf "%.2f", a / b }')
            echo "postgres $kind $connections $rps $p99 $tps $pg_p99 $ratio"
        done
    done
done
echo "holdpoint RSS after the run: $(rss_mib) MiB" >&2
