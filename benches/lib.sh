# Shared by the benchmark scripts (sourced, not run): a throw-away PostgreSQL cluster, the
# release binaries, and a `holdpoint serve` on loopback. Expects WORK, PORT, PGPORT set.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGBIN=$(dirname "$(ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | tail -1 || true)")
[ -x "$PGBIN/pgbench" ] || PGBIN=$(dirname "$(command -v pgbench || echo /none/pgbench)")
DB="postgres://postgres@127.0.0.1:$PGPORT/holdpoint"
BASE="http://127.0.0.1:$PORT"
SERVER_PID=

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
psql_hp() { "$PGBIN/psql" -qAt -h 127.0.0.1 -p "$PGPORT" -U postgres -d holdpoint "$@"; }

# A fresh cluster in $WORK/pg with a `holdpoint` database; fsync and synchronous_commit on.
start_postgres() {
    [ -x "$PGBIN/initdb" ] || { echo "PostgreSQL not found (apt-get install postgresql)" >&2; exit 1; }
    as_pg "$PGBIN/initdb" -D "$WORK/pg" -U postgres -A trust -E UTF8 >/dev/null
    as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/postgres.log" -w start -o \
        "-p $PGPORT -k $WORK -c listen_addresses=127.0.0.1 -c synchronous_commit=on -c fsync=on \
         -c max_connections=300 -c shared_buffers=256MB -c log_line_prefix='%m [%p] '" >/dev/null
    "$PGBIN/psql" -q -h 127.0.0.1 -p "$PGPORT" -U postgres -c 'CREATE DATABASE holdpoint'
}

stop_all() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null; fi
    if [ -d "$WORK/pg" ]; then as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -m fast stop >/dev/null 2>&1; fi
    true
}

# Release build of the server and of the bench tools, run directly afterwards (no cargo,
# and so no rebuild, between measured phases). BIN_DIR=DIR runs binaries built earlier
# instead (holdpoint, load, callback_setup, sqlite_baseline, deadlines), e.g. a copy of
# another commit's build for a before/after comparison in one session.
build_all() {
    if [ -n "${BIN_DIR:-}" ]; then
        HOLDPOINT=$BIN_DIR/holdpoint LOAD=$BIN_DIR/load SETUP=$BIN_DIR/callback_setup
        BASELINE=$BIN_DIR/sqlite_baseline DEADLINES_BENCH=$BIN_DIR/deadlines
        return
    fi
    (cd "$ROOT" && cargo build --release --quiet)
    HOLDPOINT=$ROOT/target/release/holdpoint
    LOAD=$(bench_binary load)
    SETUP=$(bench_binary callback_setup)
    BASELINE=$(bench_binary sqlite_baseline)
    DEADLINES_BENCH=$(bench_binary deadlines)
}
bench_binary() {
    (cd "$ROOT" && cargo bench --no-run --bench "$1" --message-format=json 2>/dev/null) \
        | grep -F "\"kind\":[\"bench\"],\"crate_types\":[\"bin\"],\"name\":\"$1\"" \
        | sed -nE 's/.*"executable":"([^"]+)".*/\1/p' | tail -1
}

# `holdpoint serve` with the bench workflows and a `bench` account; DB_ARGS picks the store.
start_holdpoint() {
    "$HOLDPOINT" accounts add bench --password bench-pw --right send_events \
        "${DB_ARGS[@]}" --workflows "$ROOT/benches/workflows" >/dev/null
    HOLDPOINT_LOG__LEVEL=warn "$HOLDPOINT" serve "${DB_ARGS[@]}" \
        --workflows "$ROOT/benches/workflows" --listen "127.0.0.1:$PORT" >"$WORK/holdpoint.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do curl -sf "$BASE/readyz" >/dev/null && return; sleep 0.1; done
    echo "holdpoint did not become ready; see $WORK/holdpoint.log" >&2
    exit 1
}

rss_mib() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$SERVER_PID/status"; }
