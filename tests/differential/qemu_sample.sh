#!/usr/bin/env bash
# Runs a differential test under qemu-aarch64 on a sample of (CPU model,
# Highway target, cases) rows instead of all of them: the cross product of
# qemu CPUs, SVE lengths, targets and element types grows faster than CI's
# time.  The sample is drawn from a seed, printed, and taken back:
#   REGIONLOSS_QEMU_SEED=S   the seed (default: the time, so runs differ)
#   REGIONLOSS_QEMU_ROWS=K   how many rows (default 2)
#
#   qemu_sample.sh TEST_BINARY ROW...      ROW = QEMU_CPU/TARGET/CASES
set -euo pipefail
bin="$1"
shift
rows=("$@")
seed="${REGIONLOSS_QEMU_SEED:-$(date +%s)}"
k="${REGIONLOSS_QEMU_ROWS:-2}"
echo "qemu_sample: seed $seed (rerun: REGIONLOSS_QEMU_SEED=$seed), $k of ${#rows[@]} rows"
# a seeded shuffle: awk's srand/rand are the same on every machine
mapfile -t picked < <(printf '%s\n' "${rows[@]}" |
    awk -v s="$seed" 'BEGIN { srand(s) } { print rand() "\t" $0 }' | sort -n | cut -f2- |
    head -n "$k")
status=0
for row in "${picked[@]}"; do
    IFS=/ read -r cpu target cases <<<"$row"
    echo "qemu_sample: QEMU_CPU=$cpu REGIONLOSS_CHECK_VARIANT=hwy:$target REGIONLOSS_CASES=$cases"
    QEMU_CPU="$cpu" REGIONLOSS_CHECK_VARIANT="hwy:$target" REGIONLOSS_CASES="$cases" \
        "$bin" || status=1
done
exit $status
