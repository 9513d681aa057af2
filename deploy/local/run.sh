#!/usr/bin/env bash
# Runs covtrack's three services on this machine, on their embedded defaults: SQLite files in
# ./var, aggregation's cache in a local redis-server when one is installed (otherwise the
# in-process cache), with a password and a cache key made once in ./var/secrets. Logs go to
# ./var/log/<service>.log.
#
#   deploy/local/run.sh start    build if needed, start redis (if installed) and the services
#   deploy/local/run.sh stop     SIGTERM each service (they drain for up to 20 s), stop redis
#   deploy/local/run.sh status   what is running, and where
#
# Ports (loopback only): ingestion 50051, aggregation 50052, targets 50053, redis 6389.
# Environment: BUILD_DIR (build); COVTRACK_LOCAL_PORT_BASE (50050: services on BASE+1..3);
# COVTRACK_LOCAL_REDIS_PORT (6389); COVTRACK_LOCAL_NO_REDIS=1 to use the in-process cache even
# when redis-server is installed; COVTRACK_LOCAL_VAR (var) for the data and log folder.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build}
REDIS_PORT=${COVTRACK_LOCAL_REDIS_PORT:-6389}
VAR=${COVTRACK_LOCAL_VAR:-var}
BASE=${COVTRACK_LOCAL_PORT_BASE:-50050}
SERVICES=(ingestion aggregation targets)
declare -A PORT=([ingestion]=$((BASE + 1)) [aggregation]=$((BASE + 2)) [targets]=$((BASE + 3)))

binary() { echo "$BUILD_DIR/services/$1/covtrack-$1"; }

# The pid in var/run/NAME.pid, if that process is still the one we started.
running_pid() {
  local file=$VAR/run/$1.pid pid
  [ -f "$file" ] || return 1
  pid=$(cat "$file")
  if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2"; then
    echo "$pid"
  else
    rm -f "$file"
    return 1
  fi
}

# True while the process runs (an exited one not yet reaped by its parent counts as gone).
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

redis_wanted() { [ "${COVTRACK_LOCAL_NO_REDIS:-0}" != 1 ] && command -v redis-server >/dev/null; }

# Redis's password and the key aggregation signs cache entries with: random, made once, kept in
# $VAR/secrets (mode 0600), read by the programs from files (never on a command line).
make_secrets() {
  mkdir -p "$VAR/secrets"
  chmod 700 "$VAR/secrets"
  local name
  for name in redis-password cache-key; do
    [ -s "$VAR/secrets/$name" ] && continue
    (umask 077 && head -c 48 /dev/urandom | base64 -w0 >"$VAR/secrets/$name")
  done
}

start_redis() {
  if ! redis_wanted; then
    echo "redis: not used (in-process cache)"
    return
  fi
  if running_pid redis "redis-server" >/dev/null; then
    echo "redis: already running on 127.0.0.1:$REDIS_PORT"
    return
  fi
  if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    echo "redis: port $REDIS_PORT is already in use; set COVTRACK_LOCAL_REDIS_PORT" >&2
    exit 1
  fi
  mkdir -p "$VAR/redis"
  make_secrets
  local var
  var=$(cd "$VAR" && pwd)
  # A cache only: no snapshots, no append-only file. The password goes in on stdin (a
  # configuration file "-"), not on the command line; redis-cli reads REDISCLI_AUTH.
  printf 'requirepass %s\n' "$(cat "$VAR/secrets/redis-password")" |
    redis-server - --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
      --daemonize yes --dir "$var/redis" --pidfile "$var/run/redis.pid" \
      --logfile "$var/log/redis.log"
  export REDISCLI_AUTH
  REDISCLI_AUTH=$(cat "$VAR/secrets/redis-password")
  for _ in $(seq 100); do
    [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && break
    sleep 0.1
  done
  [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] || {
    echo "redis: did not start, see $VAR/log/redis.log" >&2
    exit 1
  }
  echo "redis: 127.0.0.1:$REDIS_PORT"
}

flags_for() {
  local listen="--listen=127.0.0.1:${PORT[$1]}"
  case $1 in
    ingestion) echo "$listen --store=sqlite:$VAR/ingestion.db" ;;
    aggregation)
      local redis="--redis="
      if redis_wanted; then
        redis="--redis=127.0.0.1:$REDIS_PORT --redis_password_file=$VAR/secrets/redis-password"
        redis="$redis --cache_key_file=$VAR/secrets/cache-key"
      fi
      echo "$listen --ingestion_addr=127.0.0.1:${PORT[ingestion]} $redis" ;;
    targets)
      echo "$listen --store=sqlite:$VAR/targets.db --aggregation_addr=127.0.0.1:${PORT[aggregation]}" \
        "--ingestion_addr=127.0.0.1:${PORT[ingestion]}" ;;
  esac
}

start_service() {
  local name=$1 bin log pid
  bin=$(binary "$name")
  log=$VAR/log/$name.log
  if pid=$(running_pid "$name" "covtrack-$name"); then
    echo "$name: already running (pid $pid) on 127.0.0.1:${PORT[$name]}"
    return
  fi
  # shellcheck disable=SC2046 # flags_for prints separate words without spaces inside them
  nohup "$bin" $(flags_for "$name") >>"$log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$VAR/run/$name.pid"
  # Ready when its port accepts connections: the server listens only once its store is open
  # and migrated (the port was free before, see start). Bounded wait.
  local lines_before=$2
  for _ in $(seq 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/${PORT[$name]}") 2>/dev/null; then
      echo "$name: 127.0.0.1:${PORT[$name]} (pid $pid, log $log)"
      return
    fi
    if ! alive "$pid"; then
      break
    fi
    sleep 0.1
  done
  echo "$name: did not start; from $log:" >&2
  tail -n +"$((lines_before + 1))" "$log" | tail -n 20 >&2
  kill -TERM "$pid" 2>/dev/null || true
  rm -f "$VAR/run/$name.pid"
  exit 1
}

start() {
  for name in "${SERVICES[@]}"; do
    if [ ! -x "$(binary "$name")" ]; then
      echo "building ($(binary "$name") is missing)..."
      BUILD_DIR=$BUILD_DIR scripts/build.sh
      break
    fi
  done
  mkdir -p "$VAR/log" "$VAR/run"
  # gRPC servers bind with SO_REUSEPORT, so a second one on a busy port would start and share
  # it silently: refuse instead (scripts/demo.sh uses the same ports).
  for name in "${SERVICES[@]}"; do
    if ! running_pid "$name" "covtrack-$name" >/dev/null &&
      (exec 3<>"/dev/tcp/127.0.0.1/${PORT[$name]}") 2>/dev/null; then
      echo "$name: port ${PORT[$name]} is already in use (scripts/demo.sh stop?);" \
        "set COVTRACK_LOCAL_PORT_BASE to use others" >&2
      exit 1
    fi
  done
  start_redis
  for name in "${SERVICES[@]}"; do
    touch "$VAR/log/$name.log"
    start_service "$name" "$(wc -l <"$VAR/log/$name.log")"
  done
  echo "stop with: deploy/local/run.sh stop"
}

stop() {
  local name pid
  # Reverse order: callers before the services they call.
  for name in targets aggregation ingestion; do
    if pid=$(running_pid "$name" "covtrack-$name"); then
      kill -TERM "$pid"
      # The server drains in-flight calls for up to 20 s after SIGTERM.
      for _ in $(seq 250); do
        alive "$pid" || break
        sleep 0.1
      done
      if alive "$pid"; then
        echo "$name: still running after 25 s (pid $pid); sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
      else
        echo "$name: stopped"
      fi
      rm -f "$VAR/run/$name.pid"
    fi
  done
  if running_pid redis "redis-server" >/dev/null; then
    REDISCLI_AUTH=$(cat "$VAR/secrets/redis-password" 2>/dev/null) \
      redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    echo "redis: stopped"
  fi
}

status() {
  local name pid
  for name in "${SERVICES[@]}"; do
    if pid=$(running_pid "$name" "covtrack-$name"); then
      echo "$name: running (pid $pid) on 127.0.0.1:${PORT[$name]}, log $VAR/log/$name.log"
    else
      echo "$name: stopped"
    fi
  done
  if pid=$(running_pid redis "redis-server"); then
    echo "redis: running (pid $pid) on 127.0.0.1:$REDIS_PORT"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
