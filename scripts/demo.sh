#!/usr/bin/env bash
# The demo: installs what is missing, builds cxhost, makes a workspace with a
# client "cdnow", imports the real CDNOW purchase history through the built-in
# plugins and prints a summary and the experience report. Running it again
# imports nothing twice.
#   scripts/demo.sh [WORKSPACE]      (default: ./cxhome-demo)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
home=${1:-$PWD/cxhome-demo}
data=$(realpath -m "${CXHOST_DATA_DIR:-$root/../shared/data/cdnow}/CDNOW_master.txt")

"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" "$root/build" >/dev/null
cxhost="$root/build/cxhost"

if [ ! -f "$data" ]; then
  echo "demo: cannot find the CDNOW data at $data (set CXHOST_DATA_DIR)" >&2
  exit 1
fi
if ! "$cxhost" --home "$home" client list | grep -qx cdnow; then
  "$cxhost" --home "$home" client add cdnow
fi
"$cxhost" --home "$home" import --client cdnow "$data"
echo
"$cxhost" --home "$home" report summary --client cdnow
echo
# CDNOW holds purchases only: of the five experience modules, act scores the
# repeat purchases (docs/experience.md).
"$cxhost" --home "$home" report experience --client cdnow
echo
echo "Workspace: $home. Try: $cxhost --home $home eval --client cdnow 'cx.customer(\"07592\")'"
