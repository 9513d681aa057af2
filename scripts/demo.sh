#!/usr/bin/env bash
# The demo (README's first command, after scripts/install-deps.sh and scripts/build.sh):
# starts the services on their embedded defaults (SQLite under ./var/demo, the in-process cache
# instead of Redis), loads the reference unit catalogue, the 2025 reform's crosswalk (the shipped
# merger map) and generated sample data for 82 Tiền Giang, 87 Đồng Tháp and 14 Sơn La (2023-01 ..
# 2025-09, so across the 1 July 2025 reform, when 82 and 87 merged into the new 82 Đồng Tháp) and
# for every commune of the country in 2024-12 (so that the 34 provinces can be ranked for 2024),
# and shows covctl at work. The services are LEFT RUNNING so you can try covctl yourself; stop them with
#   scripts/demo.sh stop
# Each run starts from an empty ./var/demo. Ports: COVTRACK_DEMO_PORTS="50051 50052 50053"
# (ingestion, aggregation, targets). Build folder: BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
DEMO_DIR=var/demo
read -r INGESTION_PORT AGGREGATION_PORT TARGETS_PORT <<<"${COVTRACK_DEMO_PORTS:-50051 50052 50053}"

INGESTION_BIN=$BUILD_DIR/services/ingestion/covtrack-ingestion
AGGREGATION_BIN=$BUILD_DIR/services/aggregation/covtrack-aggregation
TARGETS_BIN=$BUILD_DIR/services/targets/covtrack-targets
COVCTL=$BUILD_DIR/tools/covctl/covctl
DATAGEN=$BUILD_DIR/tools/sampledata/covtrack-datagen

# covctl reads its server addresses from the environment.
export COVTRACK_SERVER=127.0.0.1:$INGESTION_PORT
export COVTRACK_AGGREGATION_SERVER=127.0.0.1:$AGGREGATION_PORT
export COVTRACK_TARGETS_SERVER=127.0.0.1:$TARGETS_PORT

# Stops the services a previous demo started (only the processes whose ids it recorded),
# callers first.
stop_services() {
  local name pid_file pid
  for name in targets aggregation ingestion; do
    pid_file=$DEMO_DIR/$name.pid
    [ -e "$pid_file" ] || continue
    pid=$(cat "$pid_file")
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q covtrack-; then
      kill -TERM "$pid" 2>/dev/null || true
      # Graceful shutdown drains calls; wait for it, but not for ever.
      for _ in $(seq 250); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
      echo "stopped $(basename "$pid_file" .pid) (pid $pid)"
    fi
    rm -f "$pid_file"
  done
}

if [ "${1:-}" = "stop" ]; then
  stop_services
  exit 0
fi

for binary in "$INGESTION_BIN" "$COVCTL" "$DATAGEN"; do
  if [ ! -x "$binary" ]; then
    echo "demo: $binary is missing; run scripts/install-deps.sh and scripts/build.sh first" >&2
    exit 1
  fi
done

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Starts a service in the background, logging to var/demo/NAME.log, and waits (at most 20 s)
# until its port accepts connections.
start_service() {
  local name=$1 port=$2
  shift 2
  if port_open "$port"; then
    echo "demo: port $port is already in use; set COVTRACK_DEMO_PORTS or stop what runs there" >&2
    exit 1
  fi
  "$@" 2>"$DEMO_DIR/$name.log" &
  echo $! >"$DEMO_DIR/$name.pid"
  for _ in $(seq 200); do
    if port_open "$port"; then
      echo "started $name on 127.0.0.1:$port (pid $(cat "$DEMO_DIR/$name.pid"), log $DEMO_DIR/$name.log)"
      return 0
    fi
    if ! kill -0 "$(cat "$DEMO_DIR/$name.pid")" 2>/dev/null; then
      echo "demo: $name exited; its log:" >&2
      cat "$DEMO_DIR/$name.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "demo: $name did not open port $port within 20 s; see $DEMO_DIR/$name.log" >&2
  exit 1
}

# Prints a covctl command, then runs it.
covctl() {
  printf '\n$ covctl'
  printf ' %q' "$@"
  printf '\n'
  "$COVCTL" "$@"
}

section() { printf '\n==> %s\n' "$*"; }

started=$(date +%s)
stop_services
rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR/data"

section "Starting the services (SQLite under $DEMO_DIR, in-process cache)"
start_service ingestion "$INGESTION_PORT" "$INGESTION_BIN" \
  --listen="127.0.0.1:$INGESTION_PORT" --store="sqlite:$DEMO_DIR/ingestion.db" \
  --metrics_listen="127.0.0.1:$((INGESTION_PORT + 1000))"
have_aggregation=false
have_targets=false
if [ -x "$AGGREGATION_BIN" ]; then
  start_service aggregation "$AGGREGATION_PORT" "$AGGREGATION_BIN" \
    --listen="127.0.0.1:$AGGREGATION_PORT" --ingestion_addr="127.0.0.1:$INGESTION_PORT" --redis= \
    --metrics_listen="127.0.0.1:$((AGGREGATION_PORT + 1000))"
  have_aggregation=true
fi
if [ -x "$TARGETS_BIN" ] && $have_aggregation; then
  start_service targets "$TARGETS_PORT" "$TARGETS_BIN" \
    --listen="127.0.0.1:$TARGETS_PORT" --store="sqlite:$DEMO_DIR/targets.db" \
    --aggregation_addr="127.0.0.1:$AGGREGATION_PORT" --ingestion_addr="127.0.0.1:$INGESTION_PORT" \
    --metrics_listen="127.0.0.1:$((TARGETS_PORT + 1000))"
  have_targets=true
fi

section "Generating sample data: 82 Tiền Giang, 87 Đồng Tháp, 14 Sơn La 2023-01 .. 2025-09; the whole country 2024-12"
# 87 is given for the months before the reform (it names no unit afterwards and adds nothing
# then): the new 82 is old 82 + old 87, and its comparisons with 2024 need both.
"$DATAGEN" --out_dir="$DEMO_DIR/data" --provinces=82,87,14 --from_month=2023-01 \
  --to_month=2025-09 --from_year=2023 --to_year=2025
mkdir -p "$DEMO_DIR/data/country-2024-12"
"$DATAGEN" --out_dir="$DEMO_DIR/data/country-2024-12" --from_month=2024-12 --to_month=2024-12 \
  --from_year=2024 --to_year=2024

# The merger map as shipped: with its kind column (full / partial) when present, else the plain
# map, whose old codes on several rows are partial splits (docs/cli.md, crosswalk import).
MERGE_MAP=data/vn-admin-units/merge_map_2025_detail.csv
[ -e "$MERGE_MAP" ] || MERGE_MAP=data/vn-admin-units/merge_map_2025.csv

section "Loading the reference catalogue (63 provinces before the reform, 34 after), the crosswalk and the data"
covctl units import "$DEMO_DIR/data/units.csv"
covctl crosswalk import "$MERGE_MAP" --effective_date=2025-07-01 \
  --source="Nghị quyết 202/2025/QH15 và các nghị quyết sắp xếp đơn vị hành chính cấp xã"
covctl denominators import "$DEMO_DIR/data/denominators.csv" --source="Cục Thống kê (sample)"
covctl ingest "$DEMO_DIR/data/participation.csv" --source="BHXH tỉnh (sample)"
# The figures beside participants (docs/measures.md): distinct participants, new and lost
# participants, health participants by payer group, arrears. Stored, audited and on the change
# feed; aggregation and targets do not answer them yet (issue 11).
covctl measures import "$DEMO_DIR/data/measures.csv" --source="BHXH tỉnh (sample)"
covctl denominators import "$DEMO_DIR/data/country-2024-12/denominators.csv" \
  --source="Cục Thống kê (sample)"
covctl ingest "$DEMO_DIR/data/country-2024-12/participation.csv" --source="BHXH tỉnh (sample)"

section "Code 82 names two units: Tiền Giang until 2025-06-30, the merged Đồng Tháp from 2025-07-01"
covctl units list --code=82
covctl units list --parent=815 --as_of=2024-12-31

section "A correction: the latest value wins, the earlier one stays in the audit trail"
cat >"$DEMO_DIR/correction.csv" <<'CSV'
unit_code,month,scheme,participants,in_province_participants
28249,2024-12,health,15104,14760
CSV
covctl revisions 28249 --month=2024-12 --scheme=health
covctl ingest "$DEMO_DIR/correction.csv" --source="BHXH thành phố Mỹ Tho"
covctl revisions 28249 --month=2024-12 --scheme=health

section "What the system of record holds, as the CSV files the import commands read"
covctl export "$DEMO_DIR/export-82-2024" 2024-01 2024-12 --parent=82

section "Bad rows are reported with their line numbers, and nothing is sent"
cat >"$DEMO_DIR/bad.csv" <<'CSV'
unit_code,month,scheme,participants,in_province_participants
28249,2024-12,health,10000,9000
28249,2024-13,health,10000,
28252,2024-12,social,500,
28252,2024-12,health,-3,
CSV
if covctl ingest "$DEMO_DIR/bad.csv"; then
  echo "demo: the bad file was accepted?" >&2
  exit 1
else
  echo "(exit code $?)"
fi

if $have_aggregation; then
  section "Coverage, rolled up from the communes (stocks at the period's last month)"
  # The replica follows ingestion's change feed; --consistency=full makes this first read wait
  # until it has applied every upload above (a read after it on the same replica is never older).
  covctl coverage 82 2024 --previous_year_ends=1 --consistency=full
  covctl coverage 815 2024-H1 --schemes=health,social --previous_year_ends=1
  covctl coverage list 82 2024 --level=district --scheme=health --order=coverage_asc
  covctl coverage series 815 health 2024-06 2024-12
  section "Every figure a review carries: distinct participants, new and lost, payer groups, arrears"
  # Stocks at the period's last month, flows summed over its months, the arrears ratio from sums.
  covctl measures show 815 2024
  covctl measures list 82 2024 --level=district --order_by=arrears_ratio --descending
  section "After the reform: 82 is the merged Đồng Tháp (old 82 Tiền Giang + 87 Đồng Tháp)"
  covctl crosswalk list --code=82
  # The comparisons are on the new 82's territory: 2024-09 is old 82 + old 87 ("exact"), with
  # old 82's own figure alongside ("then Tỉnh Tiền Giang: ...").
  covctl coverage 82 2025-09 --schemes=health,social --previous_year_ends=1
  covctl coverage series 82 health 2025-04 2025-09
  covctl coverage 14 2025-Q3 --schemes=health --format=json
  section "The 34 provinces ranked for 2024, on today's territory (each re-expressed from the 63)"
  covctl coverage list VN 2024 --territory_date=2025-07-01 --scheme=health --order=coverage_desc
else
  section "covtrack-aggregation is not built: skipping coverage"
fi

if $have_targets; then
  section "Targets, achievement and the year-end paragraph"
  covctl targets set 82 health 2024 89.5 --kind=coverage_percent \
    --assigned_by="UBND tỉnh Tiền Giang" --decision_ref="Quyết định số 123/QĐ-UBND"
  covctl targets set 14 social 2024 39 --kind=coverage_percent --assigned_by="UBND tỉnh Sơn La"
  covctl targets set 82 compulsory_social 2024 345000 --assigned_by="UBND tỉnh Tiền Giang"
  covctl targets allocate 82 compulsory_social 2024 --level=district --method=labor_force
  covctl targets lagging 82 2024-08 --scheme=compulsory_social --level=district
  # A ceiling (lower is better): "nợ dưới 2,1%"; and the people in any scheme, counted once.
  covctl targets set 82 none 2024 2.1 --measure=arrears_ratio --assigned_by="UBND tỉnh Tiền Giang"
  covctl targets set 82 none 2024 1600000 --measure=distinct_participants \
    --assigned_by="UBND tỉnh Tiền Giang"
  covctl report 82 2024
  # Some reviews print percentages with two decimals.
  covctl report 82 2024 --percent_decimals=2
  section "A 2025 target set on old 82 Tiền Giang before the merger counts for the new 82"
  covctl targets set 82 health 2025 93 --kind=coverage_percent --unit_as_of=2025-06-30 \
    --assigned_by="Thủ tướng Chính phủ" --decision_ref="Quyết định số 546/QĐ-TTg"
  covctl targets set 87 health 2025 92 --kind=coverage_percent --unit_as_of=2025-06-30 \
    --assigned_by="Thủ tướng Chính phủ" --decision_ref="Quyết định số 546/QĐ-TTg"
  # The paragraph compares on the new territory and says so once ("theo địa giới hành chính
  # mới"); the table marks the target re-expressed from old 82's and 87's.
  covctl report 82 2025-09
else
  section "covtrack-targets is not built: skipping targets"
fi

section "Metrics (Prometheus text at http://127.0.0.1:$((INGESTION_PORT + 1000))/metrics, and +1, +2)"
# GET /metrics with bash alone (curl is not on every fresh machine).
scrape() {
  exec 3<>"/dev/tcp/127.0.0.1/$1"
  printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  cat <&3
  exec 3<&-
}
scrape $((INGESTION_PORT + 1000)) |
  grep -E '^covtrack_ingestion_records_total|^covtrack_rpc_requests_total\{method="/covtrack.v1.IngestionService/StreamReports"' || true
if $have_aggregation; then
  scrape $((AGGREGATION_PORT + 1000)) | grep -E '^covtrack_cache_|^covtrack_change_feed_lag' || true
fi

section "Done in $(( $(date +%s) - started )) s"
cat <<EOF_NOTE
The services are still running (ingestion 127.0.0.1:$INGESTION_PORT$($have_aggregation && echo ", aggregation 127.0.0.1:$AGGREGATION_PORT" || true)$($have_targets && echo ", targets 127.0.0.1:$TARGETS_PORT" || true)).
Try, for example:
  $COVCTL coverage list 14 2024 --level=district --scheme=social --order=coverage_asc
  $COVCTL revisions 28249 --format=json
Stop them with:
  scripts/demo.sh stop
EOF_NOTE
