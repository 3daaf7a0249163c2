#!/bin/sh
# Instruction counts of one variant's rl_compute, per function and per
# image, under valgrind's callgrind (hardware counters are not available on
# every machine, instruction counts are, and they do not depend on the load).
#
#   bench/callgrind-profile.sh BUILD_DIR [VARIANT] [ROW...]
#
# Only what runs inside rl_compute is counted (--toggle-collect), over the
# warm-up call and one timed call, in both gradient modes.  Caveat: callgrind
# counts every iteration of a `rep stosb` as one instruction, so glibc's
# memset shows one "instruction" per byte; its real cost is in
# `regionloss_bench --breakdown`.
set -eu
build=${1:?usage: $0 BUILD_DIR [VARIANT] [ROW...]}
shift
variant=${1:-avx2}
[ $# -gt 0 ] && shift
rows=${*:-coco13-8 coco13-30 coco19-8 coco19-30 voc-30}
bench="$build/bench/regionloss_bench"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for row in $rows; do
    n=$("$bench" --list | awk -v r="$row" '$1 == r { sub("N=", "", $2); print $2 }')
    [ -n "$n" ] || { echo "no row $row" >&2; exit 2; }
    for mode in overwrite accumulate; do
        f="$out/cg.$row.$mode"
        valgrind --tool=callgrind --callgrind-out-file="$f" --toggle-collect=rl_compute \
            "$bench" --variant "$variant" --mode "$mode" --filter "$row" --reps 1 \
            --no-scaling >/dev/null 2>"$f.log"
        total=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$f.log")
        # Two calls of n images each.
        echo "== $variant $row $mode: $(awk -v t="$total" -v n="$n" 'BEGIN { printf "%.0f", t / (2 * n) }') instructions per image"
        callgrind_annotate --inclusive=no --auto=no --threshold=99.9 "$f" 2>/dev/null |
            awk -v n="$n" -v t="$total" '
                /file:function/ { on = 1; next }
                on && /^-/ { next }
                on && NF == 0 { on = 0 }
                on && /^ *[0-9,]+ \(/ {
                    ir = $1; gsub(",", "", ir)
                    fn = $0; sub(/ \[.*/, "", fn); sub(/^.*:/, "", fn)
                    sum[fn] += ir
                }
                END {
                    for (f in sum) if (sum[f] / t >= 0.005)
                        printf "%12.0f  %5.1f%%  %s\n", sum[f] / (2 * n), 100 * sum[f] / t, f
                }' | sort -rn
    done
done
