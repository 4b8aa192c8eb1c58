#!/usr/bin/env bash
# Instructions per SOAP echo request at each log level, counted by valgrind's callgrind.
#
# On a shared machine req/s wanders by several per cent from one run to the next
# (BENCHMARKS.md), more than what a change to the hot path saves; a count of executed
# instructions does not wander. It is not a time (a cache miss or a contended lock costs
# none), so it tells which way a change goes and by how much work, not by how much speed.
#
# usage: benches/instructions.sh [LEVEL ...]          (default: warn info)
# env:   BIN_DIR   binaries built earlier (holdpoint, load), as for benches/callbacks.sh;
#                  else release builds of this tree
#        REQUESTS  answered requests counted per level (default 20000)
#        REQUEST   body under ../shared/peers/requests (default echo.xml)
#        TOP       functions listed per level (default 8)
#
# Counts the HTTP workers' threads (those that ran actix's HTTP dispatcher) and the log
# writer thread, not the engine's runners, whose work follows the clock rather than the
# requests. Prints, per level, instructions per request and the TOP functions whose own
# instructions differ most (either way) from the first level's.
set -euo pipefail
export LC_ALL=C
WORK=$(mktemp -d)
PORT=${PORT:-18471}
PGPORT=0 # lib.sh's PostgreSQL is not used here
# shellcheck source=benches/lib.sh
. "$(dirname "$0")/lib.sh"
REQUESTS=${REQUESTS:-20000}
BODY=$ROOT/../shared/peers/requests/${REQUEST:-echo.xml}
LEVELS=("$@")
[ ${#LEVELS[@]} -gt 0 ] || LEVELS=(warn info)

cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
die() { echo "instructions.sh: $*" >&2; exit 1; }
[ -f "$BODY" ] || die "no request body at $BODY (../shared beside the clone)"
for tool in valgrind callgrind_annotate callgrind_control curl; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install valgrind curl)"
done
build_all
URL=$BASE/vmware-vmo-webcontrol/webservice

# Instructions of one run's counted threads: the workers' and the log writer's files.
counted_threads() {
    local total=0 file
    for file in "$1"-*; do
        if grep -q -e 'actix_http::h1::dispatcher' -e 'telemetry::queue::write_until_closed' "$file"; then
            total=$((total + $(awk '/^totals:/ {print $2}' "$file")))
        fi
    done
    echo "$total"
}

# Instructions per request in each function of the counted threads, its own and what was
# inlined into it (callgrind's inclusive counts add up badly over inlined pieces).
per_function() {
    local out=$1 requests=$2 file
    for file in "$out"-*; do
        grep -q -e 'actix_http::h1::dispatcher' -e 'telemetry::queue::write_until_closed' "$file" || continue
        callgrind_annotate --inclusive=no --auto=no --threshold=100 "$file" 2>/dev/null
    done | awk -v n="$requests" '
        match($0, /^ *[0-9,]+ \(/) {
            count = substr($0, RSTART, RLENGTH - 2); gsub(/[ ,]/, "", count)
            name = $0; sub(/^[^)]*\) +/, "", name); sub(/ \[[^]]*\]$/, "", name)
            sub(/ \([0-9,]+x\)$/, "", name); sub(/^[^:]*:/, "", name); sum[name] += count
        }
        END { for (name in sum) printf "%.1f\t%s\n", sum[name] / n, name }'
}

# `load` with four connections and no warm-up of its own, REQUESTS=$2 requests.
send() {
    "$LOAD" --url "$URL" --body "$BODY" --connections 4 --warmup 0s --duration 600s \
        --requests "$2" >"$1"
}

run_level() {
    local level=$1 out=$WORK/callgrind-$1
    rm -rf "$WORK/data"
    HOLDPOINT_LOG__LEVEL=$level valgrind --tool=callgrind --separate-threads=yes \
        --instr-atstart=no --callgrind-out-file="$out" \
        "$HOLDPOINT" serve --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" \
        --workflows "$ROOT/benches/workflows" >/dev/null 2>"$WORK/valgrind-$level.log" &
    SERVER_PID=$!
    for _ in $(seq 120); do
        curl -fs -o /dev/null "$BASE/healthz" && break
        sleep 1
    done
    curl -fs -o /dev/null "$BASE/healthz" ||
        die "the server did not start ($level): $(tail -5 "$WORK/valgrind-$level.log")"
    # Warm: the first requests fill caches and pools that later requests reuse.
    send "$WORK/warm-$level.txt" 1000
    callgrind_control -i on "$SERVER_PID" >/dev/null 2>&1 || die "callgrind_control could not start counting"
    send "$WORK/load-$level.txt" "$REQUESTS"
    callgrind_control -i off "$SERVER_PID" >/dev/null 2>&1 || die "callgrind_control could not stop counting"
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    local requests failed
    requests=$(sed -n 's/^load_result .*requests=\([0-9]*\).*/\1/p' "$WORK/load-$level.txt")
    failed=$(sed -n 's/^load_result .*non2xx=\([0-9]*\) errors=\([0-9]*\).*/\1 + \2/p' \
        "$WORK/load-$level.txt")
    [ "${requests:-0}" -gt 0 ] && [ "$((${failed:-1}))" -eq 0 ] ||
        die "not every request was answered well ($level): $(tail -3 "$WORK/load-$level.txt")"
    per_function "$out" "$requests" | sort -t$'\t' -k2 >"$WORK/functions-$level.tsv"
    awk -v level="$level" -v total="$(counted_threads "$out")" -v n="$requests" \
        'BEGIN { printf "instructions level=%s requests=%d per_request=%.0f\n", level, n, total / n }'
}

echo "instructions: ${REQUEST:-echo.xml}, $REQUESTS requests per level, $(date -u +%FT%TZ)"
for level in "${LEVELS[@]}"; do run_level "$level"; done
first=${LEVELS[0]}
for level in "${LEVELS[@]:1}"; do
    echo "largest differences, $level against $first (a function's own instructions per request):"
    join -t$'\t' -1 2 -2 2 -a 1 -a 2 -e 0 -o 0,1.1,2.1 \
        "$WORK/functions-$level.tsv" "$WORK/functions-$first.tsv" |
        awk -F'\t' '{ d = $2 - $3; printf "%.0f\t%+9.0f  %9.0f  %s\n", d < 0 ? -d : d, d, $2,
            substr($1, 1, 110) }' |
        grep -v 'PROGRAM TOTALS' | sort -t$'\t' -k1,1 -g -r | awk -F'\t' -v top="${TOP:-8}" \
        'NR <= top { print $2 }' # not `head`: under pipefail, `sort` would die of SIGPIPE
done
