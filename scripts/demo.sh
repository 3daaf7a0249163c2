#!/usr/bin/env bash
# The README's first command: install what is missing, build build/, and run
# the main job (the loss of the bundled sample batch, part by part).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
. "$root/scripts/debian-path.sh"
bash scripts/install-deps.sh
if [ -f build/meson-private/coredata.dat ]; then
    meson setup --reconfigure build
else
    meson setup build
fi
meson compile -C build
tool=build/tools/regionloss/regionloss
if [ ! -x "$tool" ]; then
    echo "demo.sh: $tool was not built; the command-line tool (tools/regionloss) is missing from this tree" >&2
    exit 1
fi
exec "$tool" demo
