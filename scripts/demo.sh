#!/usr/bin/env bash
# The README's first command: install what is missing, build build/, and run
# the main job (the loss of the bundled sample batch, part by part).
#
#   scripts/demo.sh [-j N]     N build jobs (or REGIONLOSS_JOBS=N; default:
#                              every core)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
. "$root/scripts/debian-path.sh"
jobs=${REGIONLOSS_JOBS:-}
while [ $# -gt 0 ]; do
    case "$1" in
    -j|--jobs) jobs="${2:-}"; shift ;;
    -j*) jobs="${1#-j}" ;;
    --jobs=*) jobs="${1#*=}" ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case "$jobs" in
''|[1-9]|[1-9][0-9]|[1-9][0-9][0-9]) ;;
*) echo "demo.sh: -j wants a number of jobs, not '$jobs'" >&2; exit 2 ;;
esac
bash scripts/install-deps.sh
if [ -f build/meson-private/coredata.dat ]; then
    meson setup --reconfigure build
else
    meson setup build
fi
meson compile -C build ${jobs:+-j "$jobs"}
tool=build/tools/regionloss/regionloss
if [ ! -x "$tool" ]; then
    echo "demo.sh: $tool was not built; the command-line tool (tools/regionloss) is missing from this tree" >&2
    exit 1
fi
exec "$tool" demo
