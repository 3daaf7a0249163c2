#!/bin/sh
# What a user of an installed regionloss gets from pkg-config (issue 23):
# with only the installed regionloss.pc on pkg-config's path, SLEEF's and
# Highway's .pc files out of sight, --cflags and --libs must still answer,
# carry no -D, build every installed header and a consumer that runs
# against the shared library; --static must do the same with the archive.
# $1: build dir, $2: this folder (the consumer's source), $3: pkg-config,
# $4: why to skip, or empty; the rest: the C compiler command.
set -eu
build=$1 here=$2 pkgconf=$3 skip=$4
shift 4
if [ -n "$skip" ]; then
    echo "packaging/pkgconfig skipped: $skip"
    exit 77
fi

passed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
# The last line is the one scripts/test-summary.py shows: it says why.
fail() {
    echo "FAIL: $*" >&2
    echo "$passed passed, 1 failed: $(printf '%s' "$*" | tr '\n' ' ')"
    exit 1
}

dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
trap 'exit 1' HUP INT TERM

meson install -C "$build" --destdir "$dest" --no-rebuild >"$dest/install.log" 2>&1 || {
    cat "$dest/install.log" >&2
    fail "meson install -C $build --destdir failed (is the build up to date?)"
}
pc=$(find "$dest" -name regionloss.pc)
[ -n "$pc" ] || fail "meson install put no regionloss.pc in the tree"
[ "$(printf '%s\n' "$pc" | wc -l)" -eq 1 ] || fail "more than one regionloss.pc installed: $pc"
ok "installed $(echo "$pc" | sed "s|^$dest||")"

# Only the installed folder: PKG_CONFIG_LIBDIR replaces the default search
# path, and an inherited PKG_CONFIG_PATH would be searched before it.  The
# destdir is a sysroot as pkgconf sees it: it prefixes -I, -L and
# --variable answers with it.  (--define-prefix cannot serve: it takes the
# prefix as two folders above the .pc, <prefix>/lib here, one short of the
# multiarch libdir.)
unset PKG_CONFIG_PATH PKG_CONFIG_ALLOW_SYSTEM_CFLAGS PKG_CONFIG_ALLOW_SYSTEM_LIBS
PKG_CONFIG_LIBDIR=$(dirname "$pc")
PKG_CONFIG_SYSROOT_DIR=$dest
export PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
for hidden in sleef libhwy; do
    if "$pkgconf" --exists "$hidden"; then
        fail "$hidden.pc is still visible with PKG_CONFIG_LIBDIR=$PKG_CONFIG_LIBDIR; the test would prove nothing"
    fi
done

both=$("$pkgconf" --cflags --libs regionloss 2>&1) ||
    fail "pkg-config --cflags --libs regionloss: $both"
cflags=$("$pkgconf" --cflags regionloss 2>&1) || fail "pkg-config --cflags regionloss: $cflags"
libs=$("$pkgconf" --libs regionloss 2>&1) || fail "pkg-config --libs regionloss: $libs"
for f in $cflags; do
    case $f in
    -D* | -U*) fail "pkg-config --cflags regionloss sets $f for the user: $cflags" ;;
    esac
done
# A shared-library user links libregionloss.so alone: its own DT_NEEDED
# brings SLEEF and Highway.
for f in $libs; do
    case $f in
    -lsleef | -lhwy) fail "pkg-config --libs regionloss has $f, which only a static link needs: $libs" ;;
    esac
done
ok "pkg-config --cflags --libs regionloss: $(echo "$both" | sed "s|$dest|<destdir>|g")"

libdir=$("$pkgconf" --variable=libdir regionloss)
includedir=$("$pkgconf" --variable=includedir regionloss)
# pkgconf prefixes --variable answers with the sysroot; freedesktop's
# pkg-config does not.
case $libdir in "$dest"/*) ;; *) libdir=$dest$libdir ;; esac
case $includedir in "$dest"/*) ;; *) includedir=$dest$includedir ;; esac
[ -f "$libdir/libregionloss.a" ] || fail "no libregionloss.a in libdir $libdir"

# Every installed header, not only regionloss.h, on its own and with the
# pkg-config flags alone: no define or include order a user must know.
headers=$(cd "$includedir" && find . -name '*.h' | sed 's|^\./||' | sort)
[ -n "$headers" ] || fail "no header installed in includedir $includedir"
for h in $headers; do
    printf '#include <%s>\nint main(void) { return 0; }\n' "$h" >"$dest/header.c"
    "$@" -std=c11 -Wall -Wextra -Werror -c -o "$dest/header.o" "$dest/header.c" $cflags ||
        fail "installed header $h does not compile with only pkg-config --cflags regionloss"
done
ok "installed headers compile alone with pkg-config --cflags:" $headers

"$@" -std=c11 -Wall -Wextra -Werror -o "$dest/consumer_shared" "$here/pkgconfig_consumer.c" \
    $cflags $libs -Wl,-rpath,"$libdir" ||
    fail "cc consumer.c \$(pkg-config --cflags --libs regionloss) did not compile or link"
# The rpath must be what finds the library, not an inherited search path.
out=$(env -u LD_LIBRARY_PATH "$dest/consumer_shared" 2>&1) ||
    fail "the consumer linked against libregionloss.so failed: $out"
where=$(env -u LD_LIBRARY_PATH ldd "$dest/consumer_shared" | sed -n 's/^[[:space:]]*libregionloss\.so[^ ]* => \([^ ]*\).*/\1/p')
case $where in
"$libdir"/*) ;;
*) fail "the consumer loaded libregionloss from '$where', not from the installed $libdir" ;;
esac
ok "shared consumer: $out"

# A static-only install: with the .so gone the linker can only take the
# archive, so its Libs.private must name everything the archive needs.
rm -f "$libdir"/libregionloss.so*
static_libs=$("$pkgconf" --static --libs regionloss 2>&1) ||
    fail "pkg-config --static --libs regionloss: $static_libs"
"$@" -std=c11 -Wall -Wextra -Werror -o "$dest/consumer_static" "$here/pkgconfig_consumer.c" \
    $cflags $static_libs ||
    fail "cc consumer.c \$(pkg-config --cflags --static --libs regionloss) did not link libregionloss.a (--static --libs: $static_libs)"
out=$(env -u LD_LIBRARY_PATH "$dest/consumer_static" 2>&1) ||
    fail "the consumer linked against libregionloss.a failed: $out"
ok "static consumer ($(echo "$static_libs" | sed "s|$dest|<destdir>|g")): $out"

echo "$passed passed, 0 failed"
