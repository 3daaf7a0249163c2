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
# The README's Python path (issue 24): the list's 'python' group passes
# --group python, and without any of its entries fails naming it (or the
# rest of the group pulls it in).  The pins of the Python package index
# (scripts/python-pins.txt): the guard fails when the file is missing, or
# has an entry without == or without a hash.
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
# An entry is a line's first word; the words after it are its groups.
entries_of() {
    sed -e 's/#.*//' "$list" | awk -v g="$1" \
        'NF { for (i = 2; i <= NF; i++) if ($i == g) { print $1; next } if (g == "") print $1 }'
}
# The list minus the line of entry $1 (comments and other entries kept).
without() {
    awk -v e="$1" '{ l = $0; sub(/#.*/, "", l); split(l, w, /[[:space:]]+/)
                     f = (w[1] == "" ? w[2] : w[1]) } f != e' "$list"
}
mapfile -t entries < <(entries_of "")
[ "${#entries[@]}" -gt 5 ] || fail "read only ${#entries[@]} entries from $list"
for e in "${entries[@]}"; do
    without "$e" >"$tmp/list"
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

# The Python path: the group alone, then the group less each of its entries.
if "${guard[@]}" --group python --packages "$list" >"$tmp/out" 2>&1; then
    ok "the guard passes on the 'python' group of scripts/packages.txt"
else
    fail "the guard fails on the 'python' group itself:"; cat "$tmp/out"
fi
mapfile -t py_entries < <(entries_of python)
[ "${#py_entries[@]}" -gt 5 ] || fail "read only ${#py_entries[@]} python entries from $list"
must_fail_py=" libsleef-dev libhwy-dev python3-torch python3-mesonpy python3.11-venv "
for e in "${py_entries[@]}"; do
    without "$e" >"$tmp/list"
    # pkg-config is Debian's transitional name: the guard names pkgconf,
    # the package that has the program and that pkg-config depends on
    named=$e
    [ "$e" = pkg-config ] && named=pkgconf
    if "${guard[@]}" --group python --packages "$tmp/list" >"$tmp/out" 2>&1; then
        if [[ "$must_fail_py" == *" $e "* ]]; then
            fail "python group without $e: the guard passes"
        elif python3 "$root/scripts/check-deps.py" --group python --packages "$tmp/list" \
            --pulled-in "$e" >/dev/null 2>&1; then
            ok "python group without $e: the guard passes, and the rest of the group pulls it in"
        else
            fail "python group without $e: the guard passes, though nothing else pulls $e in"
        fi
    elif grep -qF "MISSING: add $named to" "$tmp/out"; then
        ok "python group without $e: the guard fails naming $named"
    else
        fail "python group without $e: the guard fails but does not name $e:"; cat "$tmp/out"
    fi
done
# An unknown group is refused rather than ignored.
sed '0,/^meson /s//meson pyhton /' "$list" >"$tmp/list"
if ! "${guard[@]}" --packages "$tmp/list" >"$tmp/out" 2>&1 && grep -q "unknown group pyhton" "$tmp/out"; then
    ok "a misspelt group fails the guard"
else
    fail "a misspelt group: not refused"; cat "$tmp/out"
fi

# The pins: missing, unpinned, without a hash.
pins="$root/scripts/python-pins.txt"
pin_case() {  # DESCRIPTION FILE PATTERN
    if "${guard[@]}" --packages "$list" --pins "$2" >"$tmp/out" 2>&1; then
        fail "$1: the guard passes"
    elif grep -q "$3" "$tmp/out"; then
        ok "$1: the guard fails: $(grep -m1 "$3" "$tmp/out" | cut -c1-150)"
    else
        fail "$1: the guard fails but not for that:"; cat "$tmp/out"
    fi
}
pin_case "pins file missing" "$tmp/no-such-pins.txt" "cannot read the pins"
sed -E '0,/^numpy==[^ ]+/s//numpy/' "$pins" >"$tmp/pins"
pin_case "numpy unpinned" "$tmp/pins" '"numpy .*is not NAME==VERSION'
sed -E '0,/^numpy==[^ ]+/s//numpy>=2/' "$pins" >"$tmp/pins"
pin_case "numpy>=2" "$tmp/pins" '"numpy>=2 .*is not NAME==VERSION'
printf 'extra-package==1.0\n' | cat "$pins" - >"$tmp/pins"
pin_case "an entry without a hash" "$tmp/pins" '"extra-package==1.0" is not'
if "${guard[@]}" --packages "$list" --venv "$tmp/no-venv" >"$tmp/out" 2>&1; then
    fail "--venv on a folder without a venv passes"
else
    ok "--venv on a folder without a venv fails"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
