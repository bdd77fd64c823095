#!/usr/bin/env bash
# The vidx command as a user runs it: help, exit codes, --db / VIDX_DB resolution,
# `vidx info` on an empty and an existing database, a held lock.
set -u
vidx="$1"
make_db="${2:-}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# expect CODE CMD... : runs the command, checks its exit code, keeps its output.
expect() {
  local want=$1
  shift
  "$@" >"$work/out" 2>"$work/err"
  local got=$?
  [ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want; stderr: $(cat "$work/err")"
}

expect 0 "$vidx" --help
grep -q 'commands:' out || fail "--help lists no commands"
expect 2 "$vidx"
expect 2 "$vidx" frobnicate
grep -q "unknown command 'frobnicate'" err || fail "unknown command message: $(cat err)"
[ "$(wc -l <err)" -eq 1 ] || fail "unknown command error is not one line"

for cmd in index search similar event feed serve embed tokenize info; do
  expect 0 "$vidx" "$cmd" --help
  grep -q "usage: vidx $cmd" out || fail "$cmd --help has no usage line"
  expect 2 "$vidx" "$cmd" --no-such-flag
  grep -q "unknown option '--no-such-flag'" err || fail "$cmd: bad flag message: $(cat err)"
  [ "$(wc -l <err)" -eq 1 ] || fail "$cmd: bad flag error is not one line"
done
expect 2 "$vidx" search
expect 2 "$vidx" info extra-argument
expect 2 "$vidx" info --db
grep -q "needs a value" err || fail "missing value message: $(cat err)"
expect 2 "$vidx" info --json=yes

# info on a database that does not exist yet: zeros, nothing created.
expect 0 "$vidx" info --db "$work/none"
grep -q 'empty' out || fail "info on a missing database does not say empty"
[ ! -e "$work/none" ] || fail "info created a database"
expect 0 "$vidx" info --json --db "$work/none"
grep -q '"videos":{"indexed":0,"failed":0,"removed":0' out || fail "info --json: $(cat out)"

# --db, then VIDX_DB, then ./vidx-data.
expect 0 "$vidx" info --json
grep -q '"database":"vidx-data"' out || fail "default database is not ./vidx-data: $(cat out)"
VIDX_DB="$work/env-db" expect 0 "$vidx" info --json
grep -q "\"database\":\"$work/env-db\"" out || fail "VIDX_DB ignored: $(cat out)"
VIDX_DB="$work/env-db" expect 0 "$vidx" info --json --db "$work/flag-db"
grep -q "\"database\":\"$work/flag-db\"" out || fail "--db does not win over VIDX_DB: $(cat out)"

# An existing database, made by the catalog (the test helper writes one).
if [ -n "$make_db" ]; then
  "$make_db" "$work/db" || fail "could not make a database"
  expect 0 "$vidx" info --json --db "$work/db"
  grep -q '"indexed":2' out || fail "info on an existing database: $(cat out)"
  grep -q '"users":1,"events":3' out || fail "info counts users and events: $(cat out)"
  # While another process holds the database, info says who.
  flock "$work/db/LOCK" sleep 3 &
  holder=$!
  sleep 0.3
  expect 1 "$vidx" info --db "$work/db"
  grep -q "in use by another vidx process" err || fail "locked database message: $(cat err)"
  kill "$holder" 2>/dev/null
  wait "$holder" 2>/dev/null
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures failures" >&2
  exit 1
fi
echo "cli ok"
