#!/usr/bin/env bash
# unpack-deb.sh PACKAGE DEST: downloads a Debian package with apt-get and unpacks it under DEST
# without installing it. For test clients Debian cannot install beside another one
# (python3-consul2 conflicts with python3-consul: both ship the `consul` module).
set -euo pipefail
pkg=$1
dest=$2
if [ -f "$dest/.unpacked" ]; then exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download "$pkg" 2>&1 | grep -v "^W: Download is performed unsandboxed" || true)
deb=$(ls "$tmp"/"$pkg"_*.deb 2>/dev/null | head -1)
if [ -z "$deb" ]; then echo "unpack-deb: apt-get download $pkg produced no .deb" >&2; exit 1; fi
rm -rf "$dest"
mkdir -p "$dest"
dpkg-deb -x "$deb" "$dest"
touch "$dest/.unpacked"
