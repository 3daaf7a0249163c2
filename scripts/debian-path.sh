# Sourced by the README's two commands (scripts/demo.sh, scripts/test-all.sh)
# and by the guard's test: Debian's own tool folders go first on PATH.
#
# A fresh Debian 12 machine has one meson, one ninja and one python3, the
# ones scripts/packages.txt installs.  A developer's machine may also have a
# pyenv or pip copy earlier on PATH (a pip-installed meson once shadowed
# Debian's here): the builds would then run a tool no listed package brings,
# and scripts/check-deps.py rightly fails on it.  The rest of PATH is kept,
# after these, for what Debian does not put there.
case ":${PATH:-}:" in
:/usr/sbin:/usr/bin:/sbin:/bin:*) ;;
*) PATH="/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}" ;;
esac
export PATH
