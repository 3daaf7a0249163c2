#!/usr/bin/env bash
# The README's Python path, its second command (the first is
# scripts/install-deps.sh --python): pip install . of the Python package
# into a venv.  meson-python builds the library alone for it (meson option
# python_only: no tests, tool, benchmarks or fuzzers) and the wheel carries
# the package with its private copy of the library.  Then the venv's
# python imports it and says which library and torch it has.
#
#   scripts/python-install.sh [--torch2] [--venv DIR] [-j N]
#
#   (default)  DIR = build-venv: a venv that sees Debian's numpy 1.24 and
#              torch 1.13 (--system-site-packages); offline, with Debian's
#              meson-python
#   --torch2   DIR = build-venv-torch2: a venv that sees the pinned torch
#              2.13 + numpy 2 venv of scripts/python-pins.txt
#              (scripts/python-venv.sh makes it once, under
#              ~/.cache/regionloss, from the package index) through a .pth
#              file; the build uses the pinned meson-python and meson
#   --venv DIR another folder (made anew)
#   -j N       build jobs (default: $REGIONLOSS_JOBS, else every core)
#
# In both, the install is `pip install --no-build-isolation --no-index .`:
# the build tools come from the venv (pinned, or Debian's) rather than
# from whatever the index has that day.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/debian-path.sh"

torch2=0
dir=
jobs=${REGIONLOSS_JOBS:-}
while [ $# -gt 0 ]; do
    case "$1" in
    --torch2) torch2=1 ;;
    --venv) dir="$2"; shift ;;
    --venv=*) dir="${1#*=}" ;;
    -j) jobs="$2"; shift ;;
    -j*) jobs="${1#-j}" ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "python-install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case "$jobs" in
''|[1-9]|[1-9][0-9]|[1-9][0-9][0-9]) ;;
*) echo "python-install.sh: -j wants a number of jobs, not '$jobs'" >&2; exit 2 ;;
esac
if [ -z "$dir" ]; then
    dir="$root/build-venv"
    [ $torch2 -eq 1 ] && dir="$root/build-venv-torch2"
fi
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
cd "$root"

py=/usr/bin/python3
rm -rf "$dir"
if [ $torch2 -eq 1 ]; then
    base=$(bash "$root/scripts/python-venv.sh")
    "$py" -m venv "$dir"
    site=$("$dir/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    "$base/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' \
        >"$site/regionloss-torch2-pins.pth"
    # the pinned meson, not Debian's (the first meson on PATH otherwise)
    export MESON="$base/bin/meson"
else
    "$py" -m venv --system-site-packages "$dir"
fi
args=(install --no-build-isolation --no-index --no-cache-dir --disable-pip-version-check)
[ -n "$jobs" ] && args+=("--config-settings=compile-args=-j$jobs")
echo "python-install: $dir/bin/pip ${args[*]} ." >&2
"$dir/bin/pip" "${args[@]}" .

# From outside the tree: the installed package, with its own library.
cd /
"$dir/bin/python" - "$dir" <<'EOF'
import sys
import numpy
import regionloss
import torch
import regionloss.torch  # noqa: F401
lib = regionloss.library_path
ok = lib.startswith(sys.prefix)
print(f"regionloss {regionloss.version()} in {sys.argv[1]}: library {lib}")
print(f"  numpy {numpy.__version__}, torch {torch.__version__}, variants "
      f"{', '.join(regionloss.variants())}")
print(f"  use it with {sys.argv[1]}/bin/python")
sys.exit(0 if ok else "the installed package did not load its own library")
EOF
