#!/bin/sh
# customize.sh runs on the build host as mmdebstrap's --customize-hook, with
# the new root file system in $1, before mmdebstrap removes the package lists.
set -eu
root=$1
here=$(dirname "$0")

install -m 0755 "$here/rensei-packages" "$root/usr/local/sbin/rensei-packages"
mkdir -p "$root/usr/share/rensei"

# What the archive looked like: Origin, Suite, Version and Date of every
# suite this image was bootstrapped from.
for f in "$root"/var/lib/apt/lists/*_InRelease; do
	awk '/^(Origin|Suite|Codename|Version|Date):/ { print } /^(MD5Sum|SHA256):/ { exit }' "$f"
	echo
done > "$root/usr/share/rensei/release.txt"

chroot "$root" /usr/local/sbin/rensei-packages
