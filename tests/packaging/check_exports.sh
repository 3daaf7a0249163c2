#!/bin/sh
# The shared library exports rl_* symbols and nothing else: internal helpers,
# kernels and SLEEF/Highway glue stay hidden, so they can change freely.
# $1: the shared library.
set -eu
syms=$(nm -D --defined-only "$1" | awk '{print $3}' | grep -v '^$')
n=$(printf '%s\n' "$syms" | grep -c '^rl_' || true)
others=$(printf '%s\n' "$syms" | grep -v '^rl_' | grep -v '^_init$\|^_fini$' || true)
if [ -n "$others" ]; then
    echo "exported symbols outside rl_*:" >&2
    printf '%s\n' "$others" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
[ "$n" -ge 15 ] || { echo "only $n rl_* symbols exported" >&2; echo "0 passed, 1 failed"; exit 1; }
echo "$n rl_* symbols exported, nothing else"
echo "1 passed, 0 failed"
