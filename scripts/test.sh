#!/usr/bin/env bash
# The test command: installs what the tests need when it is missing
# (Debian's chromium and chromium-driver for the browser tests, PostgreSQL
# for the second store), then runs every test on the embedded SQLite store
# and the integration suite again on PostgreSQL. Extra arguments go to
# both `cargo test` runs (CI passes --locked).
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    apt_install chromium chromium-driver
fi

# PostgreSQL on 127.0.0.1:5432, user postgres without a password (the
# tests' default TEST_PG_URL). A server already answering is used as it is.
export TEST_PG_URL="${TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
        apt_install postgresql
    fi
    version=$(ls /usr/lib/postgresql | sort -n | tail -1)
    if ! pg_lsclusters -h 2>/dev/null | grep -q .; then
        pg_createcluster "$version" main >/dev/null
    fi
    cluster=$(pg_lsclusters -h | head -1 | awk '{print $1" "$2}')
    hba=$(pg_lsclusters -h | head -1 | awk '{print "/etc/postgresql/"$1"/"$2"/pg_hba.conf"}')
    # Loopback connections without a password: a test machine's database.
    if ! grep -q "^host all postgres 127.0.0.1/32 trust" "$hba"; then
        sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
    fi
    # shellcheck disable=SC2086
    pg_ctlcluster $cluster start || pg_ctlcluster $cluster reload
    for _ in $(seq 1 60); do
        pg_isready -q -h 127.0.0.1 -p 5432 && break
        sleep 1
    done
    pg_isready -h 127.0.0.1 -p 5432
fi

cargo test "$@"
TEST_STORE=postgres cargo test "$@" --test api
