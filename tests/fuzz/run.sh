#!/usr/bin/env bash
# Builds the fuzz targets and runs each for SECONDS (default 600), one after
# another, then replays the lua_string corpus through a real Lua (lua5.4,
# and lua5.2 when installed).
# Exits 1 if any target crashed (its input is in tests/fuzz/artifacts/TARGET/)
# or Lua decoded a literal wrongly.
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]
#   tests/fuzz/run.sh 15                       # 15 s each
#   FUZZ_SANITIZER=none tests/fuzz/run.sh 10   # CI's smoke run
#
# By default it builds with cargo-fuzz on the nightly toolchain, with
# AddressSanitizer (`cargo install cargo-fuzz`). FUZZ_SANITIZER=none builds
# with the default toolchain and plain cargo instead: the same libFuzzer
# coverage instrumentation cargo-fuzz asks rustc for (stable codegen
# options; only the sanitizer needs nightly) and the default codegen units,
# so a cold build takes about 1.5 minutes instead of 6.5. A machine with a
# single toolchain and no cargo-fuzz runs that one, which is why CI does.
# lua5.4 for the Lua check. One libFuzzer process at a time: no -jobs or
# -fork, so it uses one core. New inputs go to tests/fuzz/corpus/TARGET/
# (git-ignored) and runs build on it; tests/fuzz/seeds/TARGET/ is read too.
# With FUZZ_LOGS=DIR each target's whole libFuzzer output is kept there.
# docs/FUZZING.md says what each target checks.
set -uo pipefail
cd "$(dirname "$0")/../.."

secs=${1:-600}
shift || true
dir=tests/fuzz
triple=x86_64-unknown-linux-gnu
if [ $# -gt 0 ]; then
  targets=("$@")
else
  # The [[bin]] sections of the fuzz crate's manifest, as `cargo fuzz list`.
  mapfile -t targets < <(awk '/^\[\[bin\]\]/ { bin = 1; next }
    /^\[/ { bin = 0 }
    bin && /^name = / { gsub(/"/, "", $3); print $3 }' "$dir/Cargo.toml")
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "no fuzz targets found in $dir/Cargo.toml" >&2
  exit 2
fi

case "${FUZZ_SANITIZER:-address}" in
  none)
    echo "== build (default toolchain, no sanitizer, debug assertions)"
    target_dir=$dir/target/no-sanitizer
    flags="--cfg fuzzing -Cpasses=sancov-module"
    for f in level=4 inline-8bit-counters pc-table trace-compares stack-depth; do
      flags+=" -Cllvm-args=-sanitizer-coverage-$f"
    done
    flags+=" -Cllvm-args=-simplifycfg-branch-fold-threshold=0 -Cdebug-assertions"
    RUSTFLAGS=$flags cargo build --manifest-path "$dir/Cargo.toml" --release \
      --target "$triple" --target-dir "$target_dir" --bins || exit 1
    bin_dir=$target_dir/$triple/release
    ;;
  address)
    echo "== build (nightly, AddressSanitizer, debug assertions)"
    cargo +nightly fuzz build --fuzz-dir "$dir" || exit 1
    bin_dir=$dir/target/$triple/release
    # What `cargo fuzz run` adds, since the loop below runs the binaries.
    export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0
    ;;
  *)
    echo "FUZZ_SANITIZER must be address (the default) or none" >&2
    exit 2
    ;;
esac

failed=()
for t in "${targets[@]}"; do
  echo "== $t: ${secs}s"
  mkdir -p "$dir/corpus/$t"
  mkdir -p "$dir/artifacts/$t"
  opts=(-max_total_time="$secs" -timeout=10 -print_final_stats=1 -artifact_prefix="$dir/artifacts/$t/")
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
  if "$bin_dir/$t" "${opts[@]}" "$dir/corpus/$t" "${seeds[@]}" >"$log" 2>&1; then
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
  if ! LUA_CHECK_CASES=$cases "$bin_dir/lua_string" -runs=0 "$dir/corpus/lua_string" "$dir/seeds/lua_string" >/dev/null 2>&1; then
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
