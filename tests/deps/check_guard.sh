#!/usr/bin/env bash
# The package-list guard (scripts/check-deps.py) against package lists with
# one entry removed (issue 16).  For every entry of scripts/packages.txt:
#  - the guard on the list without it either fails and names that entry as
#    the package to add, or passes because the rest of the list pulls the
#    entry in anyway (--pulled-in says so; such an entry is redundant, and
#    dropping it cannot break a fresh machine);
#  - the entries a missing one used to be hidden behind must fail: the
#    cross file's pkg-config wrapper (pkgconf:arm64, the issue's miss), the
#    exe_wrapper (qemu-user-static), the NumPy module, the AFL++ driver.
# And the guard passes on the list as it is.
#
#   check_guard.sh SOURCE_ROOT
set -u
root=${1:?usage: check_guard.sh SOURCE_ROOT}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A meson that no package owns, first on PATH, as a pip or pyenv install
# leaves it: the guard must name it (Debian's python3 runs it: a pyenv shim
# would put its own bin folder first), and the PATH the README's commands set
# (scripts/debian-path.sh) must put Debian's meson back in front.
mkdir -p "$tmp/shadow"
printf '#!/bin/sh\nexit 0\n' >"$tmp/shadow/meson"
chmod +x "$tmp/shadow/meson"
shadow_out=$(PATH="$tmp/shadow:$PATH" /usr/bin/python3 "$root/scripts/check-deps.py" --quiet 2>&1)
shadow_rc=$?
resolved=$(PATH="$tmp/shadow:$PATH"; . "$root/scripts/debian-path.sh"; command -v meson)
. "$root/scripts/debian-path.sh"
guard=(python3 "$root/scripts/check-deps.py" --quiet)
list="$root/scripts/packages.txt"
passed=0 failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
ok() { echo "ok: $*"; passed=$((passed + 1)); }

if [ $shadow_rc -ne 0 ] && grep -q "MISSING: meson.*$tmp/shadow/meson" <<<"$shadow_out"; then
    ok "a meson no package owns, first on PATH, fails the guard by name"
else
    fail "a meson no package owns, first on PATH (rc $shadow_rc):"; echo "$shadow_out"
fi
if [ "$resolved" = /usr/bin/meson ]; then
    ok "scripts/debian-path.sh puts Debian's meson before a shadowing one"
else
    fail "after scripts/debian-path.sh, meson is '$resolved', not /usr/bin/meson"
fi

if "${guard[@]}" --packages "$list" >"$tmp/out" 2>&1; then
    ok "the guard passes on scripts/packages.txt"
else
    fail "the guard fails on scripts/packages.txt itself:"; cat "$tmp/out"
fi

# python3-numpy is not among them: python3-torch depends on it.
must_fail=" pkgconf:arm64 qemu-user-static python3-torch afl++ libclang-rt-14-dev "
mapfile -t entries < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$list" | grep -v '^$')
[ "${#entries[@]}" -gt 5 ] || fail "read only ${#entries[@]} entries from $list"
for e in "${entries[@]}"; do
    # The list minus that one line (comments and other entries kept).
    awk -v e="$e" '{ l = $0; sub(/#.*/, "", l); gsub(/[[:space:]]/, "", l) } l != e' \
        "$list" >"$tmp/list"
    if "${guard[@]}" --packages "$tmp/list" >"$tmp/out" 2>&1; then
        if [[ "$must_fail" == *" $e "* ]]; then
            fail "without $e the guard passes"
        elif python3 "$root/scripts/check-deps.py" --packages "$tmp/list" --pulled-in "$e" \
            >/dev/null 2>&1; then
            ok "without $e the guard passes, and the rest of the list pulls $e in"
        else
            fail "without $e the guard passes, though nothing else pulls $e in"
        fi
    elif grep -qF "MISSING: add $e to" "$tmp/out"; then
        ok "without $e the guard fails: $(grep -F "MISSING: add $e to" "$tmp/out" | head -1)"
    else
        fail "without $e the guard fails but does not name $e:"; cat "$tmp/out"
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
