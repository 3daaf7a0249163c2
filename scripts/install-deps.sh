#!/usr/bin/env bash
# Installs what building, testing, cross-testing and fuzzing regionloss need
# on Debian 12, as root.  Idempotent: when everything is present it touches
# neither apt nor the network, so it is cheap to call before every job.
#
#   scripts/install-deps.sh            everything scripts/packages.txt lists
#   scripts/install-deps.sh --python   only its 'python' group: a compiler,
#                                      meson, ninja, pkg-config, SLEEF,
#                                      Highway, and numpy, torch, pytest,
#                                      meson-python, venv, pip (the README's
#                                      Python path; no AFL++, qemu, cross
#                                      compilers, MPI, clang or Criterion)
#
#   scripts/packages.txt          the package list (the one place to add one)
#   /opt/regionloss/arm64-sysroot Criterion for arm64, unpacked but not
#                                 installed (see install_arm64_criterion)
#   binfmt_misc                   qemu-aarch64 registered, so that aarch64
#                                 programs (and the children Criterion
#                                 re-executes) run transparently
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pkg_list="$here/packages.txt"
arm64_sysroot="${RL_ARM64_SYSROOT:-/opt/regionloss/arm64-sysroot}"
export DEBIAN_FRONTEND=noninteractive

log() { printf 'install-deps: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

group=
case "${1:-}" in
'') ;;
--python) group=python ;;
-h|--help) sed -n '2,13p' "$0"; exit 0 ;;
*) die "unknown option $1 (see --help)" ;;
esac

# One package a line: its name, then the groups it belongs to.  With a
# group, only the packages of that group.
read_packages() {
    sed -e 's/#.*//' "$pkg_list" | awk -v g="$group" \
        'NF { for (i = 2; i <= NF; i++) if ($i == g) { print $1; next } if (g == "") print $1 }'
}

# An unqualified name means the native (or arch-independent) package: with
# multiarch, dpkg-query may also list the arm64 one.
native_arch="$(dpkg --print-architecture)"
is_installed() {
    local name="${1%%:*}" arch="${1#*:}"
    [ "$arch" = "$1" ] && arch="$native_arch"
    dpkg-query -W -f='${Architecture} ${Status}\n' "$name" 2>/dev/null |
        grep -Eq "^($arch|all) install ok installed$"
}

as_root() {
    [ "$(id -u)" -eq 0 ] || die "$1 needs root (run: sudo $0)"
}

# apt-get update at most once per run, and only when something is missing.
apt_updated=0
apt_update_once() {
    if [ "$apt_updated" -eq 0 ]; then
        log "apt-get update"
        apt-get update -q </dev/null
        apt_updated=1
    fi
}

mapfile -t packages < <(read_packages)

need_arm64=0
for p in "${packages[@]}"; do
    case "$p" in *:arm64) need_arm64=1 ;; esac
done
if [ "$need_arm64" -eq 1 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
    as_root "dpkg --add-architecture arm64"
    log "dpkg --add-architecture arm64"
    dpkg --add-architecture arm64
fi

missing=()
for p in "${packages[@]}"; do
    is_installed "$p" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    as_root "installing ${missing[*]}"
    apt_update_once
    log "apt-get install ${missing[*]}"
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
fi
# apt resolves conflicts by removing packages; make sure it removed none of ours.
for p in "${packages[@]}"; do
    is_installed "$p" || die "$p is still not installed (apt removed it or could not install it)"
done

# Criterion for arm64.  libcriterion3:arm64 depends on libnanomsg5:arm64,
# whose Debian 12 version (1.1.5+dfsg-1.1) differs from the amd64 binNMU
# (1.1.5+dfsg-1.1+b1); Multi-Arch: same packages must agree, so apt would
# remove the amd64 Criterion the native tests need.  Instead the arm64 .debs
# are unpacked into a private sysroot and found through a pkg-config file of
# our own (the cross file puts its folder on the pkg-config path); the
# runtime libraries that do co-install (libgit2, libffi) come from apt.
install_arm64_criterion() {
    local stamp="$arm64_sysroot/.regionloss-sysroot"
    local want="libcriterion3 libcriterion-dev libnanomsg5"
    local libdir="$arm64_sysroot/usr/lib/aarch64-linux-gnu"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
        [ -e "$libdir/libcriterion.so.3" ] && [ -e "$libdir/libnanomsg.so.5" ] &&
        [ -f "$arm64_sysroot/pkgconfig/criterion.pc" ]; then
        return 0
    fi
    as_root "unpacking arm64 Criterion into $arm64_sysroot"
    local tmp debs=()
    tmp="$(mktemp -d)"
    for p in $want; do debs+=("$p:arm64"); done
    log "apt-get download ${debs[*]}"
    # apt drops privileges to _apt for downloads; let it write there.
    chmod 777 "$tmp"
    if ! (cd "$tmp" && apt-get download -q "${debs[@]}" </dev/null); then
        apt_update_once
        (cd "$tmp" && apt-get download -q "${debs[@]}" </dev/null)
    fi
    rm -rf "$arm64_sysroot"
    mkdir -p "$arm64_sysroot/pkgconfig"
    for deb in "$tmp"/*.deb; do
        dpkg -x "$deb" "$arm64_sysroot"
    done
    rm -rf "$tmp"
    [ -e "$libdir/libcriterion.so.3" ] || die "libcriterion.so.3 missing after unpacking"
    # Debian's criterion.pc names its private requirements (libgit2-dev:arm64
    # among them, which we do not install); tests link the shared library, so
    # a plain file suffices.  The rpath (DT_RPATH, which unlike DT_RUNPATH
    # also serves libcriterion's own libnanomsg dependency) lets the loader
    # find the unpacked libraries under qemu without LD_LIBRARY_PATH.
    cat >"$arm64_sysroot/pkgconfig/criterion.pc" <<EOF
# Written by regionloss scripts/install-deps.sh for the aarch64 cross build.
prefix=$arm64_sysroot/usr
includedir=\${prefix}/include
libdir=\${prefix}/lib/aarch64-linux-gnu

Name: criterion
Description: Criterion (Debian arm64 package, unpacked, not installed)
Version: $(sed -n 's/^Version: *//p' "$libdir/pkgconfig/criterion.pc")
Libs: -L\${libdir} -lcriterion -Wl,-rpath-link,\${libdir} -Wl,--disable-new-dtags -Wl,-rpath,\${libdir}
Cflags: -I\${includedir}
EOF
    echo "$want" >"$stamp"
    log "arm64 Criterion unpacked into $arm64_sysroot"
}

# qemu-user runs one aarch64 process; Criterion re-executes the test binary
# for every test, and only binfmt_misc makes the kernel route that exec
# through qemu again.  Registration needs privileges a container may lack,
# so failure here is a warning; the cross test stage checks it again.
register_binfmt() {
    local dir=/proc/sys/fs/binfmt_misc conf=/usr/lib/binfmt.d/qemu-aarch64.conf
    [ "$(uname -m)" = aarch64 ] && return 0
    if [ -e "$dir/qemu-aarch64" ]; then
        grep -qx enabled "$dir/qemu-aarch64" || log "warning: $dir/qemu-aarch64 is disabled"
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        log "warning: qemu-aarch64 is not registered with binfmt_misc (needs root)"
        return 0
    fi
    if [ ! -e "$dir/register" ]; then
        mount -t binfmt_misc binfmt_misc "$dir" ||
            { log "warning: cannot mount binfmt_misc at $dir"; return 0; }
    fi
    [ -f "$conf" ] || die "$conf missing (qemu-user-static not installed?)"
    if ! cat "$conf" >"$dir/register"; then
        log "warning: cannot register $conf with binfmt_misc"
        return 0
    fi
    log "registered qemu-aarch64 with binfmt_misc"
}

if [ "$need_arm64" -eq 1 ]; then
    install_arm64_criterion
    register_binfmt
fi
log "all dependencies present"
