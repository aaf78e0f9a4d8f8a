#!/usr/bin/env bash
# Installs what cxhost needs to build and test, with apt-get, when it is missing.
# Safe to run again: it installs nothing when everything is there.
set -euo pipefail

packages=(build-essential cmake pkg-config liblua5.4-dev lua5.4 libuv1-dev libsqlite3-dev libreadline-dev valgrind sqlite3 python3)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "cxhost: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null; then
  sudo=(sudo)
else
  echo "cxhost: need root (or sudo) to install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
