#!/bin/sh
# Installs into a scratch prefix and builds the README's example against the
# installed header and pkg-config file only, as a user would.
# $1: build dir, $2: source dir, $3: C compiler.
set -eu
build=$1 src=$2 cc=$3
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --destdir "$dest" --no-rebuild >/dev/null
pc=$(find "$dest" -name regionloss.pc | head -n 1)
[ -n "$pc" ] || { echo "regionloss.pc not installed" >&2; echo "0 passed, 1 failed"; exit 1; }
hdr=$(find "$dest" -name regionloss.h | head -n 1)
[ -n "$hdr" ] || { echo "regionloss.h not installed" >&2; echo "0 passed, 1 failed"; exit 1; }
[ -f "$(dirname "$hdr")/regionloss_darknet.h" ] ||
    { echo "regionloss_darknet.h not installed beside regionloss.h" >&2; echo "0 passed, 1 failed"; exit 1; }
libdir=$(dirname "$(dirname "$pc")")
# pkg-config answers for the real prefix; point it at the scratch copy.
prefix=$(sed -n 's/^prefix=//p' "$pc")
flags=$(PKG_CONFIG_PATH="$(dirname "$pc")" \
        pkg-config --define-variable=prefix="$dest$prefix" --cflags --libs regionloss)
"$cc" -std=c11 -Wall -Wextra -Werror -o "$dest/quickstart" "$src/examples/quickstart.c" $flags \
    -Wl,-rpath,"$libdir"
"$dest/quickstart" >/dev/null
echo "installed header, library and regionloss.pc build and run the README example"
echo "1 passed, 0 failed"
