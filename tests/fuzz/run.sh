#!/usr/bin/env bash
# Builds the fuzz targets and runs each for SECONDS (default 600), one after
# another, then replays the lua_string corpus through a real Lua (lua5.4,
# and lua5.2 when installed).
# Exits 1 if any target crashed (its input is in tests/fuzz/artifacts/TARGET/)
# or Lua decoded a literal wrongly.
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]
#   tests/fuzz/run.sh 15          # the smoke run: 15 s each
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`);
# lua5.4 for the Lua check. One libFuzzer process at a time: no -jobs or
# -fork, so it uses one core. New inputs go to tests/fuzz/corpus/TARGET/
# (git-ignored) and runs build on it; tests/fuzz/seeds/TARGET/ is read too.
# With FUZZ_LOGS=DIR each target's whole libFuzzer output is kept there.
# docs/FUZZING.md says what each target checks.
set -uo pipefail
cd "$(dirname "$0")/../.."

secs=${1:-600}
shift || true
fuzz=(cargo +nightly fuzz)
dir=tests/fuzz
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <("${fuzz[@]}" list --fuzz-dir "$dir")
fi

echo "== build (nightly, AddressSanitizer, debug assertions)"
"${fuzz[@]}" build --fuzz-dir "$dir" || exit 1

failed=()
for t in "${targets[@]}"; do
  echo "== $t: ${secs}s"
  mkdir -p "$dir/corpus/$t"
  opts=(-max_total_time="$secs" -timeout=10 -print_final_stats=1)
  [ -f "$dir/dicts/$t.dict" ] && opts+=(-dict="$dir/dicts/$t.dict")
  seeds=()
  [ -d "$dir/seeds/$t" ] && seeds=("$dir/seeds/$t")
  if [ -n "${FUZZ_LOGS:-}" ]; then
    mkdir -p "$FUZZ_LOGS"
    log=$FUZZ_LOGS/$t.log
  else
    log=$(mktemp)
  fi
  # libFuzzer reports on stderr; keep the summary lines and any crash.
  if "${fuzz[@]}" run --fuzz-dir "$dir" "$t" "$dir/corpus/$t" "${seeds[@]}" -- "${opts[@]}" >"$log" 2>&1; then
    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" | sed "s/^/$t: /"
  else
    tail -n 60 "$log"
    failed+=("$t")
  fi
  [ -n "${FUZZ_LOGS:-}" ] || rm -f "$log"
done

# The Lua property against a real interpreter: the target writes each
# corpus input as a check, one lua5.4 runs them all, and lua5.2 too when
# installed (Factorio's Lua is 5.2).
if printf '%s\n' "${targets[@]}" | grep -qx lua_string; then
  echo "== lua_string through a real Lua"
  cases=$(mktemp)
  bin=$dir/target/x86_64-unknown-linux-gnu/release/lua_string
  if ! LUA_CHECK_CASES=$cases "$bin" -runs=0 "$dir/corpus/lua_string" "$dir/seeds/lua_string" >/dev/null 2>&1; then
    failed+=(lua_check)
  fi
  luas=(lua5.4)
  command -v lua5.2 >/dev/null 2>&1 && luas+=(lua5.2)
  for lua in "${luas[@]}"; do
    "$lua" "$dir/lua_check.lua" "$cases" || failed+=("lua_check($lua)")
  done
  rm -f "$cases"
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo "FAIL: ${failed[*]} (inputs in $dir/artifacts/)"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${secs}s each without a crash"
