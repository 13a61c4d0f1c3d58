# Sourced by scripts/test and scripts/bench-limits: starts a private PostgreSQL cluster on a
# free loopback port in a temp dir (as user postgres when run as root, which PostgreSQL
# refuses), exports DATABASE_URL, PG_CTL and PG_OWNER, and stops it when the script exits.
# Usage: start_private_pg NAME [extra server settings, e.g. "-c fsync=off"]

find_pg() {
    command -v "$1" 2>/dev/null && return
    ls -d /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n 1
}

start_private_pg() {
    local name=$1 extra=${2:-}
    INITDB=$(find_pg initdb); PG_CTL=$(find_pg pg_ctl)
    [ -x "$INITDB" ] && [ -x "$PG_CTL" ] || { echo "$name: PostgreSQL server binaries (initdb, pg_ctl) not found" >&2; exit 1; }
    PG_WORK=$(mktemp -d "/tmp/otpd-$name.XXXXXX")
    PG_AS=()
    PG_OWNER=
    if [ "$(id -u)" = 0 ]; then
        PG_OWNER=postgres; id "$PG_OWNER" >/dev/null 2>&1 || PG_OWNER=nobody
        chown "$PG_OWNER" "$PG_WORK"
        PG_AS=(runuser -u "$PG_OWNER" --)
    fi
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    trap stop_private_pg EXIT
    (cd / && "${PG_AS[@]}" "$INITDB" -D "$PG_WORK/data" -U otpd --auth=trust -E UTF8 --no-sync >/dev/null)
    # shellcheck disable=SC2086
    (cd / && "${PG_AS[@]}" "$PG_CTL" -D "$PG_WORK/data" -l "$PG_WORK/pg.log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_WORK -c max_connections=300 $extra" start >/dev/null)
    export DATABASE_URL="postgres://otpd@127.0.0.1:$port/postgres"
    export PG_CTL PG_OWNER
    echo "$name: PostgreSQL on 127.0.0.1:$port" >&2
}

stop_private_pg() {
    (cd / && "${PG_AS[@]}" "$PG_CTL" -D "$PG_WORK/data" -m immediate stop >/dev/null 2>&1) || true
    rm -rf "$PG_WORK"
}
