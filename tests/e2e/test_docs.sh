#!/usr/bin/env bash
# test_docs.sh: every example in the documentation runs, and says what it does.
#
# The markdown files (README.md, docs/*.md) mark their examples with an HTML
# comment on the line just before a fenced block (the comment does not show
# when the page is rendered):
#
#   <!-- example: NAME -->   the block is the whole text of docs/examples/NAME
#   <!-- from: NAME -->      the block is an excerpt of docs/examples/NAME
#                            (line by line, indentation aside)
#   <!-- run -->             shell commands: run them (bash, cxhost meaning the
#                            binary under test), they must succeed
#   <!-- run: exit N -->     ... they must end with exit status N
#   <!-- run: fails -->      ... they must end with a non-zero exit status
#   <!-- run: needs sqlite3 --> ... skipped when the sqlite3 shell is missing
#   <!-- output -->          what the run block before it prints (stdout and
#                            stderr together); a line "..." stands for any
#                            number of lines, "..." within a line for any text
#
# The run blocks of one markdown file run in order, in a fresh folder laid out
# like a checkout: docs/, plugins/, scripts/ of the source tree, and
# ../shared/data/cdnow (the CDNOW files, from $CXHOST_DATA_DIR) beside it. The
# workspace is ./cxhome there. Before comparing, import timings
# ("in 0.4 s, 19,356 records/s") and trailing blanks are ignored.
#
# It also checks that every file in docs/examples is shown and run, that the
# README opens with the two commands, and that links between the docs resolve.
#
#   CXHOST=build/cxhost tests/e2e/test_docs.sh            (ctest sets the env)
#   CXHOST=build/cxhost tests/e2e/test_docs.sh --update   rewrites the output
#       blocks that differ (not those with "...") with what the commands print:
#       read the diff before keeping it.
set -uo pipefail

: "${CXHOST:?set CXHOST to the cxhost binary}"
SRC=${CXHOST_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
DATA=${CXHOST_DATA_DIR:-$SRC/../shared/data/cdnow}
CXHOST=$(cd "$(dirname "$CXHOST")" && pwd)/$(basename "$CXHOST")
UPDATE=0
[ "${1:-}" = "--update" ] && UPDATE=1

MARKDOWN=(README.md docs/user-guide.md docs/plugins.md docs/store.md docs/generator.md docs/experience.md docs/loyalty.md docs/refunds.md docs/repl.md docs/service.md docs/campaigns.md docs/value.md)
EXAMPLES=$SRC/docs/examples

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0
skipped=0

ok() { pass=$((pass + 1)); }
bad() {
  fail=$((fail + 1))
  printf 'FAIL: %s\n' "$1"
  if [ $# -gt 1 ]; then
    shift
    printf '%s\n' "$@" | sed 's/^/    /'
  fi
}

# Splits markdown file $1 into $2/NNNN.{kind,arg,line,range,body}, one set per
# marked block, in order. Prints problems with the markers themselves.
split_markdown() {
  awk -v dir="$2" -v file="$1" '
    function flush_marker_error() {
      if (pend != "") {
        printf "%s:%d: marker <!-- %s --> is not directly followed by a fenced block\n", file, pendline, pend
        pend = ""
      }
    }
    BEGIN { n = 0; pend = ""; inblock = 0; cur = "" }
    {
      line = $0
      sub(/\r$/, "", line)
      if (inblock) {
        if (line ~ /^```[ \t]*$/) {
          inblock = 0
          if (cur != "") {
            printf "%d %d\n", start, NR - 1 > (dir "/" cur ".range")
            close(dir "/" cur ".range")
            close(body)
          }
          cur = ""
          next
        }
        if (cur != "")
          print line > body
        next
      }
      if (line ~ /^```/) {
        inblock = 1
        start = NR + 1
        cur = ""
        if (pend != "") {
          n++
          cur = sprintf("%04d", n)
          kind = pend
          arg = pendarg
          print kind > (dir "/" cur ".kind"); close(dir "/" cur ".kind")
          print arg > (dir "/" cur ".arg"); close(dir "/" cur ".arg")
          print NR > (dir "/" cur ".line"); close(dir "/" cur ".line")
          body = dir "/" cur ".body"
          printf "" > body
          pend = ""
        }
        next
      }
      if (line ~ /^<!-- *(run|output|example|from)[ :>-]/ && line ~ /-->[ \t]*$/) {
        flush_marker_error()
        m = line
        sub(/^<!-- */, "", m)
        sub(/ *-->[ \t]*$/, "", m)
        pend = m
        pendarg = ""
        if (index(m, ":")) {
          pendarg = substr(m, index(m, ":") + 1)
          sub(/^ +/, "", pendarg)
          pend = substr(m, 1, index(m, ":") - 1)
        }
        pendline = NR
        next
      }
      flush_marker_error()
    }
    END {
      flush_marker_error()
      if (inblock)
        printf "%s: a fenced block is never closed\n", file
    }
  ' "$1"
}

# Normalizes output for comparison: timings, trailing blanks, trailing empty
# lines.
normalize() {
  sed -E -e 's/ in [0-9]+\.[0-9] s(, [0-9,]+ records\/s)?$/ in X s/' \
         -e 's/[ \t]+$//' "$1" |
    awk '{ lines[NR] = $0 } END { n = NR; while (n > 0 && lines[n] == "") n--; for (i = 1; i <= n; i++) print lines[i] }'
}

# Whether actual ($2) matches expected ($1), "..." lines matching any lines.
matches() {
  awk '
    function m(i, j,   t) {
      if (i > ne) return j > na
      if (E[i] == "...") {
        for (t = j; t <= na + 1; t++)
          if (m(i + 1, t)) return 1
        return 0
      }
      return j <= na && same(E[i], A[j]) && m(i + 1, j + 1)
    }
    # A line matches itself; "..." inside a line stands for any text.
    function same(e, a,   n, parts, k, pos, rest) {
      if (e == a) return 1
      if (index(e, "...") == 0) return 0
      n = split(e, parts, /\.\.\./)
      if (substr(a, 1, length(parts[1])) != parts[1]) return 0
      rest = substr(a, length(parts[1]) + 1)
      for (k = 2; k < n; k++) {
        pos = index(rest, parts[k])
        if (pos == 0) return 0
        rest = substr(rest, pos + length(parts[k]))
      }
      return length(rest) >= length(parts[n]) && substr(rest, length(rest) - length(parts[n]) + 1) == parts[n]
    }
    FNR == NR { E[++ne] = $0; next }
    { A[++na] = $0 }
    END { exit m(1, 1) ? 0 : 1 }
  ' "$1" "$2"
}

# Whether the lines of excerpt $1 appear, one after the other, in file $2
# (leading blanks aside).
excerpt_of() {
  awk '
    function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
    FNR == NR { X[++nx] = trim($0); next }
    { F[++nf] = trim($0) }
    END {
      while (nx > 0 && X[nx] == "") nx--
      for (s = 1; s + nx - 1 <= nf; s++) {
        for (k = 1; k <= nx && F[s + k - 1] == X[k]; k++) ;
        if (k > nx) exit 0
      }
      exit 1
    }
  ' "$1" "$2"
}

# A fresh folder laid out like a checkout with the data beside it.
make_sandbox() {
  local root=$1
  mkdir -p "$root/work" "$root/shared/data"
  ln -s "$DATA" "$root/shared/data/cdnow"
  ln -s "$SRC/docs" "$root/work/docs"
  ln -s "$SRC/plugins" "$root/work/plugins"
  ln -s "$SRC/scripts" "$root/work/scripts"
}

# shellcheck disable=SC2016 # expanded by the bash that runs each block
PRELUDE='set -eo pipefail
cxhost() { "$CXHOST" "$@"; }
export -f cxhost'

have_sqlite3=0
command -v sqlite3 >/dev/null && have_sqlite3=1

run_markdown() {
  local md=$1 parts=$TMP/parts/${1//\//_} root=$TMP/sandbox/${1//\//_}
  local problems last_out="" last_state=none last_line=0 replacements=$TMP/replace.${1//\//_}
  mkdir -p "$parts"
  : >"$replacements"
  if [ ! -f "$SRC/$md" ]; then
    bad "$md: missing"
    return
  fi
  problems=$(split_markdown "$SRC/$md" "$parts")
  if [ -n "$problems" ]; then
    bad "$md: markers" "$problems"
  fi
  make_sandbox "$root"
  local item kind arg line body
  for item in "$parts"/*.kind; do
    [ -e "$item" ] || continue
    item=${item%.kind}
    kind=$(cat "$item.kind")
    arg=$(cat "$item.arg")
    line=$(cat "$item.line")
    body=$item.body
    case $kind in
    example)
      if [ ! -f "$EXAMPLES/$arg" ]; then
        bad "$md:$line: example '$arg' is not a file in docs/examples"
      elif cmp -s "$body" "$EXAMPLES/$arg"; then
        ok
      else
        bad "$md:$line: the block differs from docs/examples/$arg (< file, > doc)" "$(diff "$EXAMPLES/$arg" "$body" | head -20)"
      fi
      ;;
    from)
      if [ ! -f "$EXAMPLES/$arg" ]; then
        bad "$md:$line: excerpt of '$arg', which is not a file in docs/examples"
      elif excerpt_of "$body" "$EXAMPLES/$arg"; then
        ok
      else
        bad "$md:$line: the block is not an excerpt of docs/examples/$arg" "$(head -5 "$body")"
      fi
      ;;
    run)
      local want=0 status
      case $arg in
      *"exit "*) want=$(sed -E 's/.*exit ([0-9]+).*/\1/' <<<"$arg") ;;
      *fails*) want=fails ;;
      esac
      last_out=$item.out
      last_line=$line
      last_state=ran
      if [[ $arg == *"needs sqlite3"* ]] && [ $have_sqlite3 = 0 ]; then
        skipped=$((skipped + 1))
        last_state=skipped
        printf 'skipped: %s:%s (no sqlite3 shell)\n' "$md" "$line"
        continue
      fi
      (cd "$root/work" && unset CXHOST_HOME && export CXHOST &&
        timeout 120 bash -c "$PRELUDE"$'\n'"$(cat "$body")") >"$last_out" 2>&1 </dev/null
      status=$?
      if [ "$status" = "$want" ] || { [ "$want" = fails ] && [ "$status" != 0 ]; }; then
        ok
      else
        bad "$md:$line: the commands ended with exit status $status, not $want" \
          "$(sed 's/^/$ /' "$body")" "$(head -30 "$last_out")"
      fi
      ;;
    output)
      if [ $last_state = skipped ]; then
        last_state=none
        continue
      elif [ $last_state = none ]; then
        bad "$md:$line: an output block with no run block before it"
        continue
      fi
      normalize "$body" >"$item.want"
      normalize "$last_out" >"$item.got"
      if matches "$item.want" "$item.got"; then
        ok
      else
        bad "$md:$line: the commands at line $last_line print something else (- doc, + actual)" \
          "$(diff "$item.want" "$item.got" | head -40)"
        if [ $UPDATE = 1 ] && ! grep -qF '...' "$body"; then
          echo "$(cat "$item.range") $last_out" >>"$replacements"
        fi
      fi
      last_state=none
      ;;
    *)
      bad "$md:$line: unknown marker '$kind'"
      ;;
    esac
  done
  if [ $UPDATE = 1 ] && [ -s "$replacements" ]; then
    update_markdown "$SRC/$md" "$replacements"
    echo "updated $md: $(wc -l <"$replacements") output block(s)"
  fi
}

# Replaces body line ranges of $1 with files, as listed in $2 ("START END FILE").
update_markdown() {
  local tmp=$1.update.$$
  awk -v list="$2" '
    BEGIN {
      while ((getline l < list) > 0) {
        split(l, f, " ")
        S[f[1]] = f[2]
        F[f[1]] = f[3]
      }
    }
    function emit(file,   l, n, i, keep) {
      n = 0
      while ((getline l < file) > 0) { sub(/[ \t]+$/, "", l); keep[++n] = l }
      close(file)
      while (n > 0 && keep[n] == "") n--
      for (i = 1; i <= n; i++) print keep[i]
    }
    skip_to >= NR { next }
    (NR in S) {
      emit(F[NR])
      if (S[NR] < NR) { print; next }   # the block was empty: this is its closing fence
      skip_to = S[NR]
      next
    }
    { print }
  ' "$1" >"$tmp" && mv "$tmp" "$1"
}

for md in "${MARKDOWN[@]}"; do
  run_markdown "$md"
done

# Every example file is shown whole somewhere and used by a run block.
for f in "$EXAMPLES"/*; do
  [ -f "$f" ] || continue
  name=$(basename "$f")
  shown=0
  used=0
  for kindfile in "$TMP"/parts/*/*.kind; do
    item=${kindfile%.kind}
    case $(cat "$kindfile") in
    example) [ "$(cat "$item.arg")" = "$name" ] && shown=1 ;;
    run) grep -q "examples/$name" "$item.body" && used=1 ;;
    esac
  done
  if [ $shown = 1 ]; then ok; else bad "docs/examples/$name is not shown whole in any doc (<!-- example: $name -->)"; fi
  if [ $used = 1 ]; then ok; else bad "docs/examples/$name is not used by any run block"; fi
done

# store.md describes every table and view and each of their columns: under a
# heading that names the table, each column appears as `column`.
mkdir -p "$TMP/schema"
schema=$("$CXHOST" --home "$TMP/schema" client add s >/dev/null &&
  "$CXHOST" --home "$TMP/schema" eval --client s 'for _, r in ipairs(cx.query("SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type IN (?1, ?2) AND m.name NOT LIKE ?3 ORDER BY m.name, p.cid", "table", "view", "sqlite%")) do print(r.t .. " " .. r.c) end')
if [ -z "$schema" ]; then
  bad "cannot list the store's tables and columns"
fi
while read -r table column; do
  [ -n "$table" ] || continue
  section=$(awk -v t="$table" '
    /^```/ { f = !f }
    !f && /^#+ / { h = $0; gsub(/[#,`]/, " ", h); n = split(h, w, " "); on = 0; for (i = 1; i <= n; i++) if (w[i] == t) on = 1; next }
    on' "$SRC/docs/store.md")
  if [ -z "$section" ]; then
    bad "docs/store.md: no heading names the table '$table'"
  elif grep -qF "\`$column\`" <<<"$section"; then
    ok
  else
    bad "docs/store.md: column $table.$column is not described under its heading"
  fi
done <<<"$schema"

# The README opens with the two commands a new user types.
first_block=$(awk '/^```/ { if (inb) exit; inb = 1; next } inb { print }' "$SRC/README.md" 2>/dev/null)
if [ "$first_block" = $'scripts/demo.sh\nscripts/test.sh' ]; then ok; else
  bad "README.md: the first code block is not exactly scripts/demo.sh and scripts/test.sh" "$first_block"
fi
for s in scripts/demo.sh scripts/test.sh; do
  if [ -x "$SRC/$s" ]; then ok; else bad "$s is missing or not executable"; fi
done

# Links between the docs point at files and headings that exist.
slug() {
  tr '[:upper:]' '[:lower:]' <<<"$1" | sed -E 's/[^a-z0-9 _-]//g; s/ /-/g'
}
for md in "${MARKDOWN[@]}"; do
  [ -f "$SRC/$md" ] || continue
  dir=$(dirname "$SRC/$md")
  while IFS= read -r target; do
    [ -n "$target" ] || continue
    case $target in http:* | https:* | mailto:*) continue ;; esac
    path=${target%%#*}
    anchor=
    [[ $target == *"#"* ]] && anchor=${target#*#}
    file=$SRC/$md
    [ -n "$path" ] && file=$dir/$path
    if [ ! -e "$file" ]; then
      bad "$md: link to $target: no such file"
      continue
    fi
    if [ -n "$anchor" ]; then
      found=0
      while IFS= read -r heading; do
        [ "$(slug "$heading")" = "$anchor" ] && found=1 && break
      done < <(awk '/^```/ { f = !f } !f && /^#+ / { sub(/^#+ +/, ""); print }' "$file")
      if [ $found = 1 ]; then ok; else bad "$md: link to $target: no such heading"; fi
    else
      ok
    fi
  done < <(awk '/^```/ { f = !f; next } !f' "$SRC/$md" | grep -oE '\]\([^) ]+\)' | sed -E 's/^\]\((.*)\)$/\1/')
done

[ $skipped -gt 0 ] && printf '%d run block(s) skipped: no sqlite3 shell\n' "$skipped"
printf '%d passed, %d failed\n' "$pass" "$fail"
[ $fail -eq 0 ]
