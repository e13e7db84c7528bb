#!/usr/bin/env bash
# Installs warren's C library: the header, the static and shared libraries and a pkg-config
# file, so that a C program builds with
#
#     cc app.c $(pkg-config --cflags --libs warren)
#
# What cargo-c's `cargo cinstall` does, without building cargo-c (minutes in CI). Usage:
#
#     scripts/install.sh [--prefix DIR] [--no-build] [--lib-dir DIR]
#
#   --prefix DIR   where to install (default /usr/local): DIR/include/warren.h,
#                  DIR/lib/libwarren.a, DIR/lib/libwarren.so, DIR/lib/pkgconfig/warren.pc.
#   --no-build     do not run cargo; install the libraries already built in the library
#                  directory (for scripts and tests that run inside cargo, where a nested
#                  `cargo build` would wait on the build directory lock).
#   --lib-dir DIR  where the built libwarren.a and libwarren.so are (default
#                  ${CARGO_TARGET_DIR:-target}/release, what `cargo build --release` writes).
#
# DESTDIR is honoured as usual for staged installs: files go under $DESTDIR$prefix, and the
# pkg-config file names $prefix (without DESTDIR).
#
# The shared library is installed as plain libwarren.so, without versioned names: cargo
# records no SONAME in a cdylib, so a libwarren.so.0 symlink would be decoration only
# (programs would still record `libwarren.so`). Version 0.x makes no ABI promise anyway.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix=/usr/local
build=1
lib_dir=

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

while (($#)); do
    case $1 in
        --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
        --prefix=*) prefix=${1#--prefix=}; shift ;;
        --no-build) build=0; shift ;;
        --lib-dir) lib_dir=${2:?--lib-dir needs a directory}; shift 2 ;;
        --lib-dir=*) lib_dir=${1#--lib-dir=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

case $prefix in
    /*) ;;
    *) echo "install.sh: --prefix must be an absolute path, not '$prefix'" >&2; exit 2 ;;
esac
prefix=${prefix%/}
[[ -n $prefix ]] || prefix=/

if [[ -z $lib_dir ]]; then
    lib_dir=${CARGO_TARGET_DIR:-$root/target}/release
fi

if ((build)); then
    # --lib: the library alone (its crate types: rlib, staticlib, cdylib), not the CLI.
    (cd "$root" && cargo build --release --lib)
fi

# The package's name, version and description, from [package] in Cargo.toml.
package_field() {
    sed -n '/^\[package\]/,/^\[/{s/^'"$1"' *= *"\(.*\)"$/\1/p}' "$root/Cargo.toml" | head -n 1
}
version=$(package_field version)
description=$(package_field description)
[[ -n $version ]] || { echo "install.sh: no version in $root/Cargo.toml" >&2; exit 1; }

static_lib=$lib_dir/libwarren.a
shared_lib=$lib_dir/libwarren.so
[[ -f $static_lib ]] || {
    echo "install.sh: $static_lib not found (build with 'cargo build --release --lib')" >&2
    exit 1
}

dest=${DESTDIR:-}$prefix
install -d "$dest/include" "$dest/lib/pkgconfig"
install -m 644 "$root/include/warren.h" "$dest/include/warren.h"
install -m 644 "$static_lib" "$dest/lib/libwarren.a"
if [[ -f $shared_lib ]]; then
    install -m 755 "$shared_lib" "$dest/lib/libwarren.so"
else
    echo "install.sh: note: no $shared_lib; the shared library is not installed" >&2
fi

# The pkg-config file: the template with its placeholders filled in (bash substitution, so
# no character of the description needs escaping).
pc=$dest/lib/pkgconfig/warren.pc
: >"$pc.tmp"
while IFS= read -r line || [[ -n $line ]]; do
    line=${line//@PREFIX@/$prefix}
    line=${line//@VERSION@/$version}
    line=${line//@DESCRIPTION@/$description}
    printf '%s\n' "$line" >>"$pc.tmp"
done <"$root/packaging/warren.pc.in"
chmod 644 "$pc.tmp"
mv "$pc.tmp" "$pc"

echo "installed warren $version under $dest:"
echo "  include/warren.h lib/libwarren.a$([[ -f $shared_lib ]] && echo ' lib/libwarren.so') lib/pkgconfig/warren.pc"
if [[ $prefix != /usr && $prefix != /usr/local ]]; then
    echo "  (add $prefix/lib/pkgconfig to PKG_CONFIG_PATH, and $prefix/lib to LD_LIBRARY_PATH"
    echo "   or -Wl,-rpath to run programs linked against the shared library)"
fi
