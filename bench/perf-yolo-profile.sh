#!/bin/sh
# Where rl_yolo_compute's time goes, by sampling: perf's cpu-clock event
# (a software timer, so it works in guests without hardware counters) with
# DWARF call graphs, over regionloss_bench's timed calls of one [yolo] row.
#
#   bench/perf-yolo-profile.sh BUILD_DIR [VARIANT] [ROW...]
#
# Only samples whose stack holds rl_yolo_driver_run are kept (the bench's
# setup, its reference and its roofline are left out).  Each is charged to
# the innermost of: the mask and stream kernels, the grad kernel, memset
# (overwrite's class-channel zeroing), the positives' terms
# (rl_yolo_objects), and the driver's phases; then the leaf functions.
# Percentages of the call; run on a loaded machine they are shares, not
# times (the times are regionloss_bench's, --breakdown's).
set -eu
build=${1:?usage: $0 BUILD_DIR [VARIANT] [ROW...]}
shift
variant=${1:-avx2}
[ $# -gt 0 ] && shift
rows=${*:-yolo608-8 yolo608-60}
bench="$build/bench/regionloss_bench"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for row in $rows; do
    for mode in overwrite accumulate; do
        perf record -q --call-graph dwarf,16384 -e cpu-clock -F 2000 -o "$out/perf.data" -- \
            "$bench" --variant "$variant" --mode "$mode" --filter "$row" --reps 30 \
            --no-scaling >/dev/null 2>&1
        perf script -i "$out/perf.data" -F ip,sym 2>/dev/null >"$out/stacks.txt"
        echo "== $variant $row $mode"
        python3 - "$out/stacks.txt" <<'EOF'
import collections, re, sys
GROUPS = ["mask_", "stream_", "grad_", "__memset", "rl_yolo_objects", "rl_yolo_truth_thresh",
          "rl_call_phase1", "rl_call_phase2", "rl_call_assign", "rl_yolo_driver_run"]
leaf, part, total = collections.Counter(), collections.Counter(), 0
def sample(stack):
    global total
    if not any(s == "rl_yolo_driver_run" for s in stack):
        return
    total += 1
    leaf[stack[0]] += 1
    for s in stack:  # leaf first: the innermost frame that names a part
        g = next((g for g in GROUPS if s.startswith(g)), None)
        if g:
            part[s if g.endswith("_") or g == "__memset" else g] += 1
            return
stack = []
for line in open(sys.argv[1], errors="replace"):
    if not line.strip():
        sample(stack)
        stack = []
    elif line[0] in " \t":
        m = re.match(r"\s+[0-9a-f]+\s+(.*?)(\+0x[0-9a-f]+)?(\s+\(.*)?$", line)
        if m:
            stack.append(m.group(1).strip())
sample(stack)
print(f"{total} samples in the call; by part:")
for s, c in part.most_common():
    print(f"  {100 * c / total:5.1f}%  {s}")
print("by function:")
for s, c in leaf.most_common(12):
    print(f"  {100 * c / total:5.1f}%  {s}")
EOF
    done
done
