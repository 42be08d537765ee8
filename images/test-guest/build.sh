#!/usr/bin/env bash
# Builds the Oriel test guest: a Debian kernel, a busybox initrd whose /init
# speaks a small serial protocol (see images/README.md), and a blank disk.
#
#   images/test-guest/build.sh OUTDIR
#     OUTDIR/vmlinuz     kernel of Debian's linux-image-amd64 (an uncompressed
#                        PVH-bootable ELF when the kernel supports it; see README)
#     OUTDIR/initrd.img  gzip'd newc cpio: static busybox, /init, kernel modules
#     OUTDIR/disk.raw    16 MiB blank raw disk
#     OUTDIR/cmdline     the kernel command line, one line
#     OUTDIR/stamp       what the outputs were built from (the cache key)
#
# Cached: exits at once when OUTDIR was built from the same script, init,
# busybox and kernel package. The kernel .deb is fetched with `apt-get download`
# (never installed) into ${XDG_CACHE_HOME:-~/.cache}/oriel/kernel.
set -euo pipefail

say() { echo "[test-guest] $*"; }
die() { echo "test-guest: error: $*" >&2; exit 1; }

[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1" || die "cannot create $1"
out=$(cd "$1" && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/oriel/kernel
busybox=/bin/busybox

# Modules the guest loads, by name; dependencies are added automatically and
# built-in ones skipped. early: before the protocol lines; late: after READY;
# net: only with oriel.net on the kernel command line.
early_modules=(virtio_pci virtio_blk button evdev)
late_modules=(bochs)
net_modules=(virtio_net)
cmdline="console=tty0 console=ttyS0 quiet panic=-1 cryptomgr.notests tsc=reliable no_timer_check i8042.noaux 8250.nr_uarts=1 random.trust_cpu=on audit=0 mitigations=off"
disk_size=16M

for tool in apt-cache apt-get dpkg-deb cpio gzip xz modinfo sha256sum flock truncate; do
  command -v "$tool" >/dev/null || die "'$tool' is missing (run scripts/setup)"
done
[ -x "$busybox" ] || die "$busybox is missing (install busybox-static)"
"$busybox" --list | grep -qx setsid || die "$busybox lacks applets (install busybox-static)"

# One build per OUTDIR at a time.
exec 9>"$out/.build.lock"
flock 9

# --- the cache key ----------------------------------------------------------
# recipe: this script, init and busybox. apt: a fingerprint of apt's package
# lists, so the (slow, ~1 s) apt-cache query only runs when the lists changed.
recipe=$(cat "$here/build.sh" "$here/init" "$busybox" | sha256sum | cut -c1-16)
apt_lists() { find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -printf '%f %s %T@\n' 2>/dev/null | sort | sha256sum | cut -c1-16; }
lists=$(apt_lists)
outputs_present() { [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.img" ] && [ -f "$out/disk.raw" ] && [ -s "$out/cmdline" ]; }
stamp_field() { sed -n "s/^$1=//p" "$out/stamp" 2>/dev/null; }
if outputs_present && [ "$(stamp_field recipe)" = "$recipe" ] && [ "$(stamp_field lists)" = "$lists" ]; then
  exit 0
fi

# --- which kernel -------------------------------------------------------------
resolve_kernel() {  # prints "PACKAGE VERSION" of the kernel behind linux-image-amd64
  local pkg ver
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 ~ /Depends:$/ && $2 ~ /^linux-image-[0-9]/ {print $2; exit}')
  [ -n "$pkg" ] || return 1
  ver=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null | awk '/^Version:/ {print $2; exit}')
  [ -n "$ver" ] || return 1
  echo "$pkg $ver"
}
if ! kernel=$(resolve_kernel); then
  say "apt knows no linux-image-amd64; running apt-get update"
  apt-get update -qq >/dev/null 2>&1 || say "apt-get update failed"
  lists=$(apt_lists)
  kernel=$(resolve_kernel) || kernel=""
fi
mkdir -p "$cache" || die "cannot create the cache directory $cache"
if [ -z "$kernel" ]; then
  # Offline and no package lists: fall back to a kernel downloaded earlier.
  deb=$(ls -t "$cache"/linux-image-[0-9]*_amd64.deb 2>/dev/null | head -n1 || true)
  [ -n "$deb" ] || die "cannot find the kernel package behind linux-image-amd64 (apt lists missing? run apt-get update)"
  kernel="$(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)"
  say "warning: apt cannot resolve linux-image-amd64; using the cached $kernel"
fi
pkg=${kernel% *}
ver=${kernel#* }

if outputs_present && [ "$(stamp_field recipe)" = "$recipe" ] && [ "$(stamp_field kernel)" = "$kernel" ]; then
  # The lists changed but not the kernel: only refresh the stamp.
  printf 'recipe=%s\nkernel=%s\nlists=%s\n' "$recipe" "$kernel" "$lists" > "$out/stamp"
  exit 0
fi
say "building from $pkg $ver into $out"

# --- fetch the kernel package (cached) -----------------------------------------
deb_ok() { [ -s "$1" ] && [ "$(dpkg-deb -f "$1" Version 2>/dev/null)" = "$ver" ]; }
deb=""
for f in "$cache/${pkg}"_*.deb; do deb_ok "$f" && { deb=$f; break; }; done
if [ -z "$deb" ]; then
  say "downloading $pkg $ver"
  dl=$(mktemp -d "$cache/.download.XXXXXX")
  # apt-get download writes into the current directory. Running as root it may
  # warn that the download is unsandboxed; that is harmless.
  if ! (cd "$dl" && apt-get download -q "$pkg=$ver" >/dev/null 2>"$dl/err"); then
    say "download failed ($(tail -n1 "$dl/err")); running apt-get update and retrying"
    apt-get update -qq >/dev/null 2>&1 || true
    (cd "$dl" && apt-get download -q "$pkg=$ver" >/dev/null 2>"$dl/err") ||
      { cat "$dl/err" >&2; rm -rf "$dl"; die "apt-get download $pkg=$ver failed"; }
  fi
  f=$(ls "$dl"/*.deb 2>/dev/null | head -n1 || true)
  deb_ok "$f" || { rm -rf "$dl"; die "apt-get download produced no usable $pkg .deb"; }
  deb="$cache/$(basename "$f")"
  mv -f "$f" "$deb"
  rm -rf "$dl"
  # Keep only this version of the kernel package.
  for old in "$cache/${pkg%%-[0-9]*}"-[0-9]*_amd64.deb; do
    [ -e "$old" ] && [ "$old" != "$deb" ] && rm -f "$old"
  done
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/oriel-test-guest.XXXXXX")
trap 'rm -rf "$work"' EXIT
say "extracting $(basename "$deb")"
dpkg-deb -x "$deb" "$work/pkg"
kver=${pkg#linux-image-}
bzimage="$work/pkg/boot/vmlinuz-$kver"
config="$work/pkg/boot/config-$kver"
moddir="$work/pkg/lib/modules/$kver"
[ -f "$bzimage" ] && [ -f "$config" ] && [ -d "$moddir" ] || die "$deb does not hold boot/vmlinuz-$kver, boot/config-$kver and lib/modules/$kver"

# --- the kernel image -----------------------------------------------------------
# Under TCG the bzImage spends ~2.5 s decompressing itself (XZ) before Linux even
# starts. QEMU boots an uncompressed vmlinux ELF directly through its PVH entry
# point, so when the kernel has CONFIG_PVH we ship the ELF from inside the
# bzImage instead (bigger file, ~2.5 s faster boot, same kernel).
extract_vmlinux() {  # BZIMAGE OUT: the ELF payload of a bzImage
  local magic cmd off
  for spec in 'fd377a585a00|xz -dc --single-stream' '28b52ffd|zstd -qdc' '1f8b0800|gzip -dc' '1f8b0808|gzip -dc'; do
    magic=${spec%%|*}; cmd=${spec#*|}
    command -v "${cmd%% *}" >/dev/null || continue
    for off in $(LC_ALL=C grep -obUaP "$(echo "$magic" | sed 's/../\\x&/g')" "$1" 2>/dev/null | cut -d: -f1 | head -n 8); do
      tail -c +$((off + 1)) "$1" | $cmd > "$2" 2>/dev/null || true
      if [ "$(head -c 4 "$2" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then return 0; fi
    done
  done
  return 1
}
if grep -q '^CONFIG_PVH=y' "$config" && extract_vmlinux "$bzimage" "$work/vmlinux"; then
  kernel_kind="PVH ELF (uncompressed vmlinux from $(basename "$bzimage"))"
  cp "$work/vmlinux" "$out/vmlinuz.new"
else
  kernel_kind="bzImage"
  cp "$bzimage" "$out/vmlinuz.new"
  late_modules=()  # the VGA text console works with a bzImage: no display driver needed
fi

# --- the initrd -------------------------------------------------------------------
root="$work/root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,root,etc,lib/modules}
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
install -m 0755 "$here/init" "$root/init"
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"

# Index the package's modules by name ("-" and "_" are the same to the kernel).
declare -A modfile=() builtin=() added=()
while IFS= read -r f; do
  n=$(basename "$f"); n=${n%%.ko*}; modfile[${n//-/_}]=$f
done < <(find "$moddir/kernel" -name '*.ko*')
if [ -f "$moddir/modules.builtin" ]; then
  while IFS= read -r f; do
    n=$(basename "$f"); n=${n%%.ko*}; builtin[${n//-/_}]=1
  done < "$moddir/modules.builtin"
fi
grep -q '^CONFIG_MODULE_SIG_FORCE=y' "$config" && say "note: the kernel forces module signatures; modules keep theirs"

# add_module NAME LIST: NAME's dependencies, then NAME, into the initrd and LIST.
add_module() {
  local name=${1//-/_} list=$2 f deps d
  [ -z "${added[$name]:-}" ] || return 0
  if [ -n "${builtin[$name]:-}" ]; then added[$name]=builtin; return 0; fi
  f=${modfile[$name]:-}
  [ -n "$f" ] || die "kernel module $name is neither in $pkg nor built in"
  deps=$(modinfo -F depends "$f" 2>/dev/null | tr ',' ' ')
  for d in $deps; do add_module "$d" "$list"; done
  case "$f" in  # busybox insmod loads plain .ko files only
    *.ko.xz) xz -dc "$f" > "$root/lib/modules/$name.ko" ;;
    *.ko.zst) zstd -qdc "$f" > "$root/lib/modules/$name.ko" ;;
    *.ko.gz) gzip -dc "$f" > "$root/lib/modules/$name.ko" ;;
    *.ko) cp "$f" "$root/lib/modules/$name.ko" ;;
    *) die "unknown module file $f" ;;
  esac
  echo "$name" >> "$root/lib/modules/$list.order"
  added[$name]=$list
}
: > "$root/lib/modules/early.order"
: > "$root/lib/modules/late.order"
: > "$root/lib/modules/net.order"
for m in "${early_modules[@]}"; do add_module "$m" early; done
for m in "${late_modules[@]}"; do add_module "$m" late; done
for m in "${net_modules[@]}"; do add_module "$m" net; done

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -6 -n) > "$out/initrd.img.new"

# --- disk, cmdline, stamp ---------------------------------------------------------
rm -f "$out/disk.raw.new"
truncate -s "$disk_size" "$out/disk.raw.new"
echo "$cmdline" > "$out/cmdline.new"
for f in vmlinuz initrd.img disk.raw cmdline; do mv -f "$out/$f.new" "$out/$f"; done
printf 'recipe=%s\nkernel=%s\nlists=%s\n' "$recipe" "$kernel" "$lists" > "$out/stamp"
say "kernel: $kernel_kind"
say "modules: $(tr '\n' ' ' < "$root/lib/modules/early.order")| after READY: $(tr '\n' ' ' < "$root/lib/modules/late.order")| oriel.net: $(tr '\n' ' ' < "$root/lib/modules/net.order")"
say "done: $out ($(du -sh --apparent-size "$out/vmlinuz" | cut -f1) vmlinuz, $(du -sh --apparent-size "$out/initrd.img" | cut -f1) initrd)"
