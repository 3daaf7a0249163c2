#!/usr/bin/env bash
# Runs AFL++ on the fuzz harnesses, one after the other, and fails if any
# run saved a crash or a hang.
#
#   scripts/fuzz.sh [--time SECONDS] [--out DIR] [--build DIR] [--resume] [HARNESS...]
#
#   --time     seconds per harness (default 120: the CI's bounded run; a long
#              campaign is e.g. --time 1800, see docs/fuzzing.md)
#   --out      where AFL++ keeps its state, one folder per harness
#              (default build-ci-afl/findings)
#   --build    the AFL++ build folder (default build-ci-afl)
#   --resume   continue the previous campaign in --out (-i -)
#   HARNESS    names under fuzz/corpus/ (default: every harness built)
#
# The harnesses are compiled by afl-clang-fast with AddressSanitizer and
# UndefinedBehaviorSanitizer (UBSan aborts, so AFL++ sees its findings as
# crashes), start from fuzz/corpus/<harness>, and run in persistent mode.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs=120
build="$root/build-ci-afl"
out=""
resume=0
harnesses=()
while [ $# -gt 0 ]; do
    case "$1" in
    --time) secs="$2"; shift 2 ;;
    --time=*) secs="${1#*=}"; shift ;;
    --out) out="$2"; shift 2 ;;
    --out=*) out="${1#*=}"; shift ;;
    --build) build="$2"; shift 2 ;;
    --build=*) build="${1#*=}"; shift ;;
    --resume) resume=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) harnesses+=("$1"); shift ;;
    esac
done
out="${out:-$build/findings}"

command -v afl-fuzz >/dev/null || { echo "fuzz.sh: afl-fuzz missing (scripts/install-deps.sh)" >&2; exit 1; }

# Instrumentation settings afl-clang-fast reads from the environment at
# every compile (docs/fuzzing.md, Stability): thread-safe edge counters, as a
# two-thread plan runs kernels on a worker thread at the same time as on the
# caller's, and non-atomic increments of one counter lose counts at random;
# and no coverage in the thread pool itself (fuzz/afl-denylist.txt), whose
# waits depend on the scheduler.
export AFL_LLVM_THREADSAFE_INST=1
export AFL_LLVM_DENYLIST="$root/fuzz/afl-denylist.txt"
# ninja does not see the environment: a build made with other settings (or
# another denylist) is rebuilt from scratch, once.
inst="threadsafe $(sha256sum "$AFL_LLVM_DENYLIST" | cut -d' ' -f1)"
if [ -f "$build/build.ninja" ] && [ "$(cat "$build/.rl-afl-instrumentation" 2>/dev/null)" != "$inst" ]; then
    echo "fuzz.sh: $build was instrumented differently; configuring it again"
    rm -rf "$build"
fi

# Configure once; later runs only rebuild.
if [ ! -f "$build/build.ninja" ]; then
    CC=afl-clang-fast CXX=afl-clang-fast++ meson setup "$build" "$root" \
        -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args=-fno-sanitize-recover=all -Dcpp_args=-fno-sanitize-recover=all
    echo "$inst" >"$build/.rl-afl-instrumentation"
fi

if [ "${#harnesses[@]}" -eq 0 ]; then
    # Read the list whole: `ninja ... | grep -q` lets grep exit at its first
    # match, ninja then dies of SIGPIPE, and under pipefail the test fails
    # at random (a CI run skipped labels_fuzz that way).
    defined="$(ninja -C "$build" -t targets all 2>/dev/null)"
    for d in "$root"/fuzz/corpus/*/; do
        h="$(basename "$d")"
        # Only the harnesses this build defines (the tool's readers need tools/).
        if grep -q "^fuzz/$h:" <<<"$defined"; then
            harnesses+=("$h")
        fi
    done
fi
[ "${#harnesses[@]}" -gt 0 ] || { echo "fuzz.sh: no harness to run" >&2; exit 1; }
targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz/$h"); done
ninja -C "$build" ${REGIONLOSS_JOBS:+-j "$REGIONLOSS_JOBS"} "${targets[@]}"

# afl-fuzz sets the sanitizer options it needs; ones inherited from the
# caller (the sanitizer test stage sets some) would make it refuse to start.
unset ASAN_OPTIONS UBSAN_OPTIONS MSAN_OPTIONS
export AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
# Two cores shared with builds: do not pin to a core AFL++ thinks is free.
export AFL_NO_AFFINITY=1

stat_of() { sed -n "s/^$1 *: *//p" "$2" 2>/dev/null | head -1; }
failed=0
summary=()
for h in "${harnesses[@]}"; do
    exe="$build/fuzz/$h"
    dir="$out/$h"
    mkdir -p "$out"
    if [ "$resume" -eq 1 ] && [ -d "$dir/default/queue" ]; then
        input=(-i -)
    else
        rm -rf "$dir"
        input=(-i "$root/fuzz/corpus/$h")
    fi
    echo "== afl-fuzz $h for ${secs}s -> $dir"
    start=$SECONDS
    # -t: generous per-exec timeout (ms), the machine is shared; a real hang
    # (an endless loop) still exceeds it.
    nice -n 10 afl-fuzz "${input[@]}" -o "$dir" -V "$secs" -t 5000 -m none -- "$exe" \
        >"$out/$h.log" 2>&1 || {
        echo "afl-fuzz $h failed to run; last lines of $out/$h.log:"
        tail -25 "$out/$h.log"
        failed=1
        summary+=("$h: afl-fuzz did not run")
        continue
    }
    st="$dir/default/fuzzer_stats"
    crashes=$(find "$dir/default/crashes" -type f -name 'id:*' 2>/dev/null | wc -l)
    hangs=$(find "$dir/default/hangs" -type f -name 'id:*' 2>/dev/null | wc -l)
    line="$h: $((SECONDS - start))s, $(stat_of execs_done "$st") execs ($(stat_of execs_per_sec "$st")/s), corpus $(stat_of corpus_count "$st"), coverage $(stat_of bitmap_cvg "$st"), stability $(stat_of stability "$st"), $crashes crashes, $hangs hangs"
    echo "$line"
    summary+=("$line")
    if [ "$crashes" -gt 0 ] || [ "$hangs" -gt 0 ]; then
        failed=1
        for f in "$dir"/default/crashes/id:* "$dir"/default/hangs/id:*; do
            [ -f "$f" ] || continue
            echo "---- reproducer $f"
            # Replay mode of the same binary prints the failed check and the
            # sanitizer report.
            timeout 60 "$exe" "$f" 2>&1 | tail -30 || true
        done
        echo "To keep a reproducer: cp <file> fuzz/regressions/$h/<name> (meson test replays it)."
    fi
done

echo "---- AFL++ summary (${secs}s per harness)"
for l in "${summary[@]}"; do echo "  $l"; done
if [ "$failed" -ne 0 ]; then
    echo "AFL++: FAILED (crashes, hangs or a fuzzer that did not run)"
    exit 1
fi
echo "AFL++: ${#harnesses[@]} harnesses, 0 crashes, 0 hangs"
