#!/usr/bin/env bash
# CI's short fuzz run: every target, ~10 s each from the checked-in seeds,
# AddressSanitizer on. A crash fails the script (libFuzzer exits non-zero
# and leaves the input under fuzz/artifacts/<target>/).
set -euo pipefail
cd "$(dirname "$0")"
secs="${SIGMALINE_FUZZ_SECONDS:-10}"
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1 # cargo-fuzz passes -Z flags; stable rustc needs this
dir=target/smoke
cargo fuzz build -O --target-dir "$dir"
for t in $(cargo fuzz list); do
  work=$(mktemp -d)
  rc=0
  cargo fuzz run -O --target-dir "$dir" "$t" "$work" "corpus/$t" -- \
    -max_total_time="$secs" -print_final_stats=1 >"$work.log" 2>&1 || rc=$?
  grep -E '^Done|ERROR|panicked' "$work.log" || true
  [ "$rc" -eq 0 ] || tail -40 "$work.log" >&2
  rm -rf "$work" "$work.log"
  if [ "$rc" -ne 0 ]; then
    echo "fuzz smoke: $t failed (exit $rc); see fuzz/artifacts/$t/" >&2
    exit 1
  fi
  echo "fuzz smoke: $t ok"
done
