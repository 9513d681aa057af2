#!/usr/bin/env bash
# Starts (start DIR) or stops (stop DIR) a throw-away PostgreSQL and Redis on loopback for the
# tests, and prints the environment the tests read. Ports: COVTRACK_TEST_PG_PORT (5440),
# COVTRACK_TEST_REDIS_PORT (6390).
set -euo pipefail
cmd=$1
dir=$2
pg_port=${COVTRACK_TEST_PG_PORT:-5440}
redis_port=${COVTRACK_TEST_REDIS_PORT:-6390}
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "$cmd" in
  start)
    mkdir -p "$dir"
    # PostgreSQL refuses to run as root: its folder belongs to the postgres user.
    if [ "$(id -u)" -eq 0 ]; then install -d -o postgres -g postgres -m 700 "$dir/pg"; else mkdir -p "$dir/pg"; fi
    as_postgres "$pg_bin/initdb" -D "$dir/pg/data" -A trust -U postgres --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
    as_postgres "$pg_bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/log" \
      -o "-p $pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp -c fsync=off -c max_connections=300" -w start >/dev/null
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
      --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    echo "export COVTRACK_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:$pg_port/postgres"
    echo "export COVTRACK_TEST_REDIS=127.0.0.1:$redis_port"
    echo "export COVTRACK_TEST_REDIS_SERVER=$(command -v redis-server)"
    ;;
  stop)
    redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
    [ -d "$dir/pg/data" ] && as_postgres "$pg_bin/pg_ctl" -D "$dir/pg/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
