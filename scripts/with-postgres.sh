#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL on loopback, if the server binaries are installed.
# Exports ABONENT_TEST_POSTGRES_URL for the command; stops and deletes the cluster afterwards.
# Without PostgreSQL binaries the command runs anyway (SQLite only) unless
# ABONENT_REQUIRE_POSTGRES=1, in which case that is an error.
set -euo pipefail

if [[ -n "${ABONENT_TEST_POSTGRES_URL:-}" ]]; then
    exec "$@"  # a server was given from outside
fi

pg_bin=""
for candidate in /usr/lib/postgresql/*/bin; do
    [[ -x "$candidate/initdb" ]] && pg_bin="$candidate"
done
if [[ -z "$pg_bin" ]]; then
    if [[ "${ABONENT_REQUIRE_POSTGRES:-}" == "1" ]]; then
        echo "with-postgres: PostgreSQL is required but not installed (apt-get install postgresql)" >&2
        exit 1
    fi
    echo "with-postgres: PostgreSQL not installed; storage tests run on SQLite only" >&2
    exec "$@"
fi

port="${ABONENT_TEST_PG_PORT:-55432}"
workdir=$(mktemp -d /tmp/abonent-pg.XXXXXX)
chmod 755 "$workdir"
mkdir "$workdir/pg"
as_pg=()
if [[ "$(id -u)" == "0" ]]; then
    chown postgres "$workdir/pg"
    as_pg=(runuser -u postgres --)
fi

cleanup() {
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$workdir/pg" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$workdir"
}
trap cleanup EXIT

"${as_pg[@]}" "$pg_bin/initdb" -A trust -U postgres -D "$workdir/pg" >/dev/null
if ! "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$workdir/pg" -l "$workdir/pg/log" -w -t 180 \
    -o "-p $port -k $workdir/pg -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=on" \
    start >/dev/null; then
    echo "with-postgres: PostgreSQL did not start on port $port; its log:" >&2
    tail -n 20 "$workdir/pg/log" >&2 || true
    exit 1
fi
export ABONENT_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
export ABONENT_PG_BIN="$pg_bin"
echo "with-postgres: PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
"$@"
