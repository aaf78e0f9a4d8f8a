#!/usr/bin/env bash
# Runs every test: installs what is missing, then builds and runs the whole
# suite twice, once in a normal build (warnings are errors) and once under
# AddressSanitizer and UndefinedBehaviorSanitizer. The normal build's suite
# includes the valgrind tests (label valgrind: the C unit tests and cxhost
# itself under valgrind, failing on any definite leak or memory error).
# Exits non-zero if anything fails.
#   scripts/test.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)

"$root/scripts/install-deps.sh"

echo "== build (-Wall -Wextra -Werror) and test"
"$root/scripts/build.sh" "$root/build" -DCXHOST_WERROR=ON
(cd "$root/build" && ctest --output-on-failure -j"$jobs")

echo "== build with AddressSanitizer + UndefinedBehaviorSanitizer and test"
"$root/scripts/build.sh" "$root/build-asan" -DCXHOST_WERROR=ON -DCXHOST_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
(cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j"$jobs")
echo "== all tests passed"
