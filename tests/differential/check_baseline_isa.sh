#!/bin/sh
# Only the AVX2 unit may contain AVX instructions: an -march or -mavx flag
# leaking into baseline code would crash the library on CPUs without AVX
# before dispatch could decide anything.  $1: the build's src/ folder.
set -eu
objdump=${OBJDUMP:-objdump}
bad=0
for o in $(find "$1" -name '*.o' ! -path '*rl_avx2*' ! -path '*hwy*'); do
    if "$objdump" -d "$o" | grep -q '%ymm\|%zmm'; then
        echo "baseline object $o uses YMM/ZMM registers" >&2
        bad=1
    fi
done
n=$(find "$1" -name '*.o' -path '*rl_avx2*' | wc -l)
[ "$n" -gt 0 ] || { echo "no AVX2 object found under $1" >&2; exit 1; }
[ $bad -eq 0 ] && echo "1 passed, 0 failed" || { echo "0 passed, 1 failed"; exit 1; }
