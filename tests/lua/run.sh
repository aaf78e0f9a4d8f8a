#!/usr/bin/env bash
# run.sh: runs one Lua test file inside cxhost, against a fresh client.
#
#   bash tests/lua/run.sh CXHOST tests/lua/test_NAME.lua
#
# Makes a temporary workspace (removed on exit), adds the client `t` and runs
# the file with `cxhost run --client t`; the exit status is cxhost's.
# A test may declare the client it needs in a folder beside it,
# tests/lua/test_NAME.d/:
#   plugins/*.lua   copied into the client's plugins/ folder
#   config.lua      copied into the client's folder
set -u

if [ $# -ne 2 ]; then
  echo "usage: bash tests/lua/run.sh CXHOST FILE.lua" >&2
  exit 2
fi
cxhost=$1
file=$2
if [ ! -x "$cxhost" ]; then
  echo "run.sh: $cxhost is not an executable" >&2
  exit 2
fi
if [ ! -f "$file" ]; then
  echo "run.sh: $file: no such file" >&2
  exit 2
fi

home=$(mktemp -d "${TMPDIR:-/tmp}/cxhost-lua.XXXXXX") || exit 1
trap 'rm -rf "$home"' EXIT

if ! "$cxhost" --home "$home" client add t >"$home/add.log" 2>&1; then
  echo "run.sh: cannot add the test client:" >&2
  cat "$home/add.log" >&2
  exit 1
fi

decl=${file%.lua}.d
client=$home/clients/t
if [ -d "$decl" ]; then
  if [ -d "$decl/plugins" ]; then
    mkdir -p "$client/plugins"
    for p in "$decl"/plugins/*.lua; do
      [ -e "$p" ] || continue
      cp "$p" "$client/plugins/" || exit 1
    done
  fi
  if [ -f "$decl/config.lua" ]; then
    cp "$decl/config.lua" "$client/config.lua" || exit 1
  fi
fi

"$cxhost" --home "$home" run --client t "$file"
