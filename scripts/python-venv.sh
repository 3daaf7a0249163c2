#!/usr/bin/env bash
# The torch 2.13 + numpy 2 venv of scripts/python-pins.txt (issue 24): made
# once, then reused while the pins and the interpreter stay the same.
#
#   scripts/python-venv.sh          prints the venv's folder (on stdout)
#
# The folder is $REGIONLOSS_CACHE (default ~/.cache/regionloss) /
# torch2-venv-<fingerprint of the pins and of /usr/bin/python3's version>
# (scripts/check-deps.py --print-venv): outside the source tree, so that a
# fresh clone (CI's) reuses what an earlier run made, and another set of
# pins gets a folder of its own.  A venv is reused only when its stamp
# says it was completed and scripts/check-deps.py --venv finds exactly the
# pins in it; otherwise it is made anew: /usr/bin/python3 -m venv (no
# system site packages: Debian's numpy 1.24 and torch 1.13 stay out), then
# pip install --require-hashes -r scripts/python-pins.txt, which takes
# torch 2.13.0+cpu from the file on the machine's disk (pip's find-links)
# and the rest from the index, each file checked against its hash.
#
# The venv is never changed after that: test-all.sh's stage 'torch2'
# installs regionloss into a venv of its own that sees this one through a
# .pth file.  Concurrent runs wait for each other (flock).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/debian-path.sh"
py=/usr/bin/python3
pins="$root/scripts/python-pins.txt"
log() { printf 'python-venv: %s\n' "$*" >&2; }

case "${1:-}" in
'') ;;
-h|--help) sed -n '2,22p' "$0"; exit 0 ;;
*) log "unknown option $1"; exit 2 ;;
esac

dir=$("$py" "$root/scripts/check-deps.py" --print-venv)
key=${dir##*-}
mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9

if [ "$(cat "$dir/.regionloss-pins" 2>/dev/null)" = "$key" ] &&
    "$py" "$root/scripts/check-deps.py" --venv "$dir" --quiet >&2; then
    log "reusing $dir"
    echo "$dir"
    exit 0
fi

start=$SECONDS
log "making $dir from scripts/python-pins.txt"
rm -rf "$dir"
"$py" -m venv "$dir"
# The machine's pip configuration (find-links to the torch file, the
# index) applies; --require-hashes refuses any file or dependency the pins
# do not name.
"$dir/bin/pip" install --disable-pip-version-check --no-input --require-hashes \
    -r "$pins" >&2
"$py" "$root/scripts/check-deps.py" --venv "$dir" >&2
echo "$key" >"$dir/.regionloss-pins"
log "made $dir in $((SECONDS - start))s"
echo "$dir"
