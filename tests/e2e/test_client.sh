#!/usr/bin/env bash
# test_client.sh: `cxhost client` add/list/remove, client names, help on every
# command, unknown commands and options, the version.
. "$(dirname "$0")/lib.sh"

# --- add, list, remove -------------------------------------------------------
run client list
assert_status "client list in an empty workspace" 0
assert_eq "client list in an empty workspace prints nothing" "" "$OUT"

run client add acme
assert_status "client add acme" 0
assert_contains "client add says where" "$OUT" "clients/acme"
[ -f "$H/clients/acme/store.db" ] && pass || fail "client add makes clients/acme/store.db"
assert_eq "a new client's store is empty" "0" "$(q acme 'SELECT COUNT(*) AS n FROM events')"

run client add beta.2_x-y
assert_status "client add with '.', '_' and '-' inside the name" 0
run client add Zed
assert_status "client add Zed" 0

run client list
assert_status "client list" 0
assert_eq "client list: sorted, one per line" "$(printf 'Zed\nacme\nbeta.2_x-y')" "$OUT"

run client add acme
assert_status "duplicate client add" 1
assert_contains "duplicate client add says so" "$ERR" "already exists"
assert_eq "the duplicate add left the store alone" "0" "$(q acme 'SELECT COUNT(*) AS n FROM events')"

# remove needs --yes
run client remove beta.2_x-y
assert_status "client remove without --yes" 2
assert_contains "client remove without --yes asks for it" "$ERR" "--yes"
[ -d "$H/clients/beta.2_x-y" ] && pass || fail "client remove without --yes must keep the folder"

run client remove beta.2_x-y --yes
assert_status "client remove --yes" 0
[ ! -e "$H/clients/beta.2_x-y" ] && pass || fail "client remove --yes deletes the folder"
run client list
assert_eq "client list after remove" "$(printf 'Zed\nacme')" "$OUT"

run client remove beta.2_x-y --yes
assert_status "removing a client that is not there" 1
assert_contains "removing a missing client names it" "$ERR" "beta.2_x-y"

run eval --client nosuch 'return 1'
assert_status "eval on a missing client" 1
assert_contains "eval on a missing client says how to create it" "$ERR" "client add nosuch"

# A folder that is not a client (no store) is not listed.
mkdir -p "$H/clients/stray"
run client list
assert_eq "client list ignores folders that are not clients" "$(printf 'Zed\nacme')" "$OUT"
rmdir "$H/clients/stray"

# --- names -------------------------------------------------------------------
long=$(printf 'a%.0s' $(seq 65))
max=$(printf 'b%.0s' $(seq 64))
bad_names=("x/y" ".." "." ".hidden" "-dash" $'a\x01b' $'tab\there' "a b" "$long" "")
for name in "${bad_names[@]}"; do
  shown=$(printf '%q' "$name")
  run client add "$name"
  if [ "$RC" -eq 1 ] || [ "$RC" -eq 2 ]; then pass; else fail "client add $shown: exit $RC, want 1 or 2" "$OUT" "$ERR"; fi
  if [ -n "$ERR" ] && [[ $ERR == *name* || $ERR == *usage* || $ERR == *option* ]]; then
    pass
  else
    fail "client add $shown: the message should say what is wrong" "stderr: $ERR"
  fi
  run client remove "$name" --yes
  if [ "$RC" -eq 1 ] || [ "$RC" -eq 2 ]; then pass; else fail "client remove $shown: exit $RC, want 1 or 2" "$OUT" "$ERR"; fi
done
run client add "x/y"
assert_contains "slash: the message names the character" "$ERR" "'/'"
run client add ".."
assert_contains "dot-dot: the message says why" "$ERR" "must not start with '.'"
run client add $'a\x01b'
assert_contains "control character: the message says why" "$ERR" "control character"
run client add "$long"
assert_contains "65 characters: the message gives the limit" "$ERR" "64"
# Nothing escaped the clients folder, nothing odd was created.
[ ! -e "$H/x" ] && [ ! -e "$H/clients/x" ] && pass || fail "client add x/y created something"
assert_eq "no client was added by a bad name" "$(printf 'Zed\nacme')" "$(cx client list)"
# remove must not follow a path out of the workspace
mkdir -p "$TMP/victim" && touch "$TMP/victim/keep"
run client remove "../tmp/victim" --yes
if [ "$RC" -ne 0 ] && [ -f "$TMP/victim/keep" ]; then pass; else fail "client remove ../tmp/victim must be refused" "$ERR"; fi

run client add "$max"
assert_status "a 64-character name is allowed" 0
run client remove "$max" --yes
assert_status "removing the 64-character client" 0

# --- usage errors ------------------------------------------------------------
run client
assert_status "client with no verb" 2
assert_contains "client with no verb prints usage" "$ERR" "usage:"
run client frob
assert_status "client frob" 2
run client add
assert_status "client add with no name" 2
run client add a b
assert_status "client add with two names" 2
run client list --frob
assert_status "unknown option after a command" 2
assert_contains "unknown option is named" "$ERR" "--frob"
run --frob
assert_status "unknown global option" 2
assert_contains "unknown global option is named" "$ERR" "--frob"
run frobnicate
assert_status "unknown command" 2
assert_contains "unknown command is named" "$ERR" "frobnicate"
run
assert_status "no command at all" 2
assert_contains "no command prints the overview" "$ERR" "usage:"
run import --client acme
assert_status "import without a file" 2
run eval 'return 1'
assert_status "eval without --client" 2
assert_contains "eval without --client asks for one" "$ERR" "--client"
run eval --client
assert_status "--client without a value" 2
run --home
assert_status "--home without a value" 2

# --- help ----------------------------------------------------------------------
for c in client import eval run plugins refresh report version help; do
  run "$c" --help
  assert_status "cxhost $c --help" 0
  assert_contains "cxhost $c --help prints usage" "$OUT" "usage: cxhost $c"
  run help "$c"
  assert_status "cxhost help $c" 0
  assert_contains "cxhost help $c prints usage" "$OUT" "usage: cxhost $c"
  run "$c" -h
  assert_status "cxhost $c -h" 0
done
run --help
assert_status "cxhost --help" 0
for c in client import eval run plugins refresh report; do
  assert_contains "the overview lists $c" "$OUT" "cxhost $c"
done
run help
assert_status "cxhost help" 0
assert_contains "cxhost help prints the overview" "$OUT" "commands:"
run help frobnicate
assert_status "help on an unknown command" 2
# --help wins over missing arguments
run import --help
assert_status "import --help without a client" 0

# --- version ---------------------------------------------------------------------
run --version
assert_status "cxhost --version" 0
if [[ $OUT =~ ^cxhost\ [0-9]+(\.[0-9]+)*.*Lua\ 5\.4.*schema\ [0-9]+ ]]; then pass; else fail "--version output" "$OUT"; fi
v1=$OUT
run version
assert_status "cxhost version" 0
assert_eq "version and --version agree" "$v1" "$OUT"

# --- CXHOST_HOME -------------------------------------------------------------------
CXHOST_HOME=$H "$CXHOST" client list >"$TMP/o" 2>&1
assert_eq "CXHOST_HOME is the default workspace" "$(printf 'Zed\nacme')" "$(cat "$TMP/o")"

finish
