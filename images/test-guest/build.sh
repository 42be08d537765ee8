#!/usr/bin/env bash
# Builds the Oriel test guest: the Debian kernel (package linux-image-amd64),
# an initrd with static busybox and /init, and a small blank raw disk.
#   images/test-guest/build.sh OUTDIR   → OUTDIR/{vmlinuz,initrd.img,disk.raw,cmdline}
# Cached: does nothing when OUTDIR was built from the same recipe and kernel.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/oriel/kernel
mkdir -p "$out" "$cache"

kernel_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'; }
pkg=$(kernel_pkg)
if [ -z "$pkg" ]; then
  apt-get update -qq >/dev/null
  pkg=$(kernel_pkg)
fi
[ -n "$pkg" ] || { echo "test-guest: cannot find the kernel package behind linux-image-amd64" >&2; exit 1; }

stamp="$(cat "$here/build.sh" "$here/init" | sha256sum | cut -c1-16) $pkg"
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ]; then
  exit 0
fi
echo "[test-guest] building with $pkg"

deb=$(ls "$cache/$pkg"_*.deb 2>/dev/null | head -n1 || true)
if [ -z "$deb" ]; then
  (cd "$cache" && apt-get download "$pkg" >/dev/null)
  deb=$(ls "$cache/$pkg"_*.deb | head -n1)
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$deb" "$work/kernel"
kver=${pkg#linux-image-}
moddir=$(ls -d "$work/kernel/lib/modules/"*)

root="$work/root"
mkdir -p "$root"/{bin,proc,sys,dev,lib/modules,etc,tmp}
cp /bin/busybox "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk evdev button; do
  f=$(find "$moddir" -name "$m.ko*" | head -n1)
  [ -n "$f" ] || continue
  case "$f" in
    *.xz) xz -dc "$f" > "$root/lib/modules/$m.ko" ;;
    *.zst) zstd -qdc "$f" > "$root/lib/modules/$m.ko" ;;
    *) cp "$f" "$root/lib/modules/$m.ko" ;;
  esac
done
install -m 0755 "$here/init" "$root/init"
mkdir -p "$root/etc/acpi/PWRF"
printf '#!/bin/sh\nsync\npoweroff -f\n' > "$root/etc/acpi/PWRF/00000080"
chmod 0755 "$root/etc/acpi/PWRF/00000080"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) > "$out/initrd.img.new"

cp "$work/kernel/boot/vmlinuz-$kver" "$out/vmlinuz.new"
rm -f "$out/disk.raw.new" && truncate -s 16M "$out/disk.raw.new"
echo "console=ttyS0 console=tty0 quiet panic=-1" > "$out/cmdline"
for f in vmlinuz initrd.img disk.raw; do mv "$out/$f.new" "$out/$f"; done
echo "$stamp" > "$out/stamp"
echo "[test-guest] ready in $out ($(du -sh "$out" | cut -f1))"
