#!/usr/bin/env bash
# Runs every test of regionloss: the README's second command, and .ci/run.
#
#   scripts/test-all.sh [-j N] [--fuzz | --no-fuzz] [--fuzz-time SECONDS]
#                       [--skip-sanitize] [--skip-cross] [--skip-pip]
#                       [--skip-torch2]
#
# -j N (or REGIONLOSS_JOBS=N): N build jobs and N tests at once (meson
# compile -j, meson test --num-processes, pip install .'s build, fuzz.sh's
# ninja); by default every core.
#
# Stages, each in its own build folder (reused when present):
#   deps       scripts/install-deps.sh
#   guard      scripts/check-deps.py: every program, library and Python module
#              the stages below use comes from a package scripts/packages.txt
#              lists (or a dependency of one), so a fresh machine has it too;
#              what the torch2 stage takes from the package index is pinned
#              with hashes in scripts/python-pins.txt
#   native     gcc, release: meson test (Criterion suites + fuzz corpus replay,
#              and the Python package's pytest suites, tests/python)
#   pip        scripts/python-install.sh: pip install . (meson-python) into a
#              venv that sees Debian's numpy and torch 1.13, offline; then the
#              Python tests against it
#   torch2     scripts/python-install.sh --torch2: the same against torch 2.13
#              and numpy 2 (the pinned venv, made once under ~/.cache/regionloss
#              and reused), and the torch.compile tests (tests/python/test_compile.py)
#   sanitize   clang, AddressSanitizer + UndefinedBehaviorSanitizer, whole suite
#   aarch64    cross build (cross/aarch64-linux-gnu.txt), whole suite under qemu
#   afl        AFL++ on every harness, --fuzz-time seconds each (default 90);
#              on when CI=true or with --fuzz, fails on any crash or hang
# Every stage runs even when an earlier one failed; the exit status is
# non-zero when any failed, and the summary at the end gives each stage's
# result and time.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
. "$root/scripts/debian-path.sh"

fuzz=0
[ "${CI:-}" = true ] && fuzz=1
fuzz_time=90
skip_sanitize=0
skip_cross=0
skip_pip=0
skip_torch2=0
jobs=${REGIONLOSS_JOBS:-}
while [ $# -gt 0 ]; do
    case "$1" in
    -j|--jobs) jobs="$2"; shift ;;
    -j*) jobs="${1#-j}" ;;
    --jobs=*) jobs="${1#*=}" ;;
    --skip-torch2) skip_torch2=1 ;;
    --fuzz) fuzz=1 ;;
    --no-fuzz) fuzz=0 ;;
    --fuzz-time) fuzz_time="$2"; shift ;;
    --fuzz-time=*) fuzz_time="${1#*=}" ;;
    --skip-sanitize) skip_sanitize=1 ;;
    --skip-cross) skip_cross=1 ;;
    --skip-pip) skip_pip=1 ;;
    -h|--help) sed -n '2,33p' "$0"; exit 0 ;;
    *) echo "test-all.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
case "$jobs" in
'') ;;
[1-9]|[1-9][0-9]|[1-9][0-9][0-9]) export REGIONLOSS_JOBS="$jobs" ;;
*) echo "test-all.sh: -j wants a number of jobs, not '$jobs'" >&2; exit 2 ;;
esac

results=()
overall=0
banner() { printf '\n==================== %s ====================\n' "$*"; }

# run_stage NAME FUNCTION: times it and records PASS/FAIL.
run_stage() {
    local name="$1" fn="$2" start=$SECONDS rc
    banner "stage $name"
    "$fn"
    rc=$?
    local secs=$((SECONDS - start))
    if [ $rc -eq 0 ]; then
        results+=("$(printf '%-9s PASS  %5ds' "$name" "$secs")")
    else
        results+=("$(printf '%-9s FAIL  %5ds  (exit %d)' "$name" "$secs" "$rc")")
        overall=1
    fi
    echo "stage $name: $([ $rc -eq 0 ] && echo PASS || echo FAIL) in ${secs}s"
    return 0
}

skipped() { results+=("$(printf '%-9s skip' "$1")"); }

# setup_build DIR ARGS...: configure, or reconfigure a folder that exists.
setup_build() {
    local dir="$1"
    shift
    if [ -f "$dir/meson-private/coredata.dat" ]; then
        meson setup --reconfigure "$dir" "$@" || { rm -rf "$dir" && meson setup "$dir" "$@"; }
    else
        rm -rf "$dir"
        meson setup "$dir" "$@"
    fi
}

# build_and_test DIR LABEL MESON_TEST_ARGS...
build_and_test() {
    local dir="$1" label="$2" rc
    shift 2
    meson compile -C "$dir" ${jobs:+-j "$jobs"} || return 1
    meson test -C "$dir" --print-errorlogs ${jobs:+--num-processes "$jobs"} "$@"
    rc=$?
    python3 "$root/scripts/test-summary.py" "$dir" "$label"
    return $rc
}

# The Python path's list first (the README's first Python command: on a
# machine that has everything, it only reads its group), then the whole.
stage_deps() {
    bash "$root/scripts/install-deps.sh" --python && bash "$root/scripts/install-deps.sh"
}

# Right after deps: a tool this machine has for some other reason, but that
# no listed package brings, fails here with the package to add, and not as a
# broken build on the next fresh machine (issue 16).
# --group python: the 'python' group alone covers the README's Python path.
stage_guard() {
    python3 "$root/scripts/check-deps.py" &&
        python3 "$root/scripts/check-deps.py" --group python --quiet
}

stage_native() {
    setup_build build-ci-native || return 1
    build_and_test build-ci-native native
}

# The README's other ways of getting the Python package are tested inside
# the native suite (tests/python/test_install.py); pip install . needs a
# venv and a build of its own: scripts/python-install.sh, the README's
# Python path.  The tests run from outside the source tree, with nothing
# pointing at it: the installed package must load its own library.
installed_tests() {  # VENV FILE...
    local venv="$1" t="$root/tests/python"
    shift
    (
        cd "$(dirname "$venv")" || exit 1
        export REGIONLOSS_TEST_INSTALLED=1 REGIONLOSS_SOURCE_ROOT="$root" OMP_NUM_THREADS=1
        unset PYTHONPATH REGIONLOSS_LIBRARY
        "$venv/bin/python" -m pytest -q -rs -p no:cacheprovider --rootdir "$t" \
            "${@/#/$t/}"
    )
}
installed_files=(test_plan.py test_bad_inputs.py test_equality.py test_torch_module.py
                 test_yolo_equality.py test_yolo_bad_inputs.py test_yolo_module.py
                 test_yolo_box_loss.py test_decode.py test_lightnet.py test_darknet_cfg.py)

# Debian's interpreter, numpy 1.24 and torch 1.13, offline.
stage_pip() {
    local dir="$root/build-ci-pip"
    rm -rf "$dir"
    bash "$root/scripts/python-install.sh" --venv "$dir/venv" || return 1
    installed_tests "$dir/venv" "${installed_files[@]}"
}

# torch 2.13 and numpy 2 (issue 24): the venv of scripts/python-pins.txt,
# made once under ~/.cache/regionloss (outside the clone: CI's next run
# reuses it) by scripts/python-venv.sh, and a venv of the stage's own over
# it, into which pip install . builds the package with the pinned
# meson-python.  Then the same tests, and torch.compile's.
stage_torch2() {
    local dir="$root/build-ci-torch2"
    rm -rf "$dir"
    bash "$root/scripts/python-install.sh" --torch2 --venv "$dir/venv" || return 1
    installed_tests "$dir/venv" "${installed_files[@]}" test_compile.py \
        test_training.py test_yolo_training.py || return 1
    # The README's detector on today's torch too (the native suite runs it on
    # Debian's): its recall, held out, from the installed package.
    (cd "$dir" && OMP_NUM_THREADS=1 "$dir/venv/bin/python" "$root/examples/detector.py" \
        --seed 0 --steps 150 --min-recall 0.75)
}

stage_sanitize() {
    CC=clang CXX=clang++ setup_build build-ci-asan -Dbuildtype=debugoptimized \
        -Db_sanitize=address,undefined -Db_lundef=false || return 1
    # halt_on_error turns every UBSan report into a failing test.
    ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:strict_string_checks=1 \
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        build_and_test build-ci-asan sanitize --timeout-multiplier 4
}

stage_aarch64() {
    if [ "$(uname -m)" != aarch64 ] && ! grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
        echo "qemu-aarch64 is not registered with binfmt_misc; Criterion's test processes"
        echo "cannot start under qemu-user without it (scripts/install-deps.sh registers it"
        echo "as root; a container needs the privilege to mount binfmt_misc)."
        return 1
    fi
    setup_build build-ci-aarch64 --cross-file "$root/cross/aarch64-linux-gnu.txt" || return 1
    build_and_test build-ci-aarch64 aarch64 --timeout-multiplier 10
}

stage_afl() { bash "$root/scripts/fuzz.sh" --time "$fuzz_time"; }

total_start=$SECONDS
run_stage deps stage_deps
run_stage guard stage_guard
run_stage native stage_native
if [ $skip_pip -eq 0 ]; then run_stage pip stage_pip; else skipped pip; fi
if [ $skip_torch2 -eq 0 ]; then run_stage torch2 stage_torch2; else skipped torch2; fi
if [ $skip_sanitize -eq 0 ]; then run_stage sanitize stage_sanitize; else skipped sanitize; fi
if [ $skip_cross -eq 0 ]; then run_stage aarch64 stage_aarch64; else skipped aarch64; fi
if [ $fuzz -eq 1 ]; then run_stage afl stage_afl; else skipped afl; fi

banner "summary"
for r in "${results[@]}"; do echo "  $r"; done
echo "  total            $((SECONDS - total_start))s"
if [ $overall -eq 0 ]; then
    echo "ALL STAGES PASSED"
else
    echo "SOME STAGES FAILED"
fi
exit $overall
