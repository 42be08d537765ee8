#!/usr/bin/env bash
# Builds the Oriel demo desktop: Debian 12 (bookworm) with Xorg + JWM + xterm,
# autologin of user "oriel" on tty1 straight into the graphical session.
# Also xdotool, feh and a few generated photo-like pictures in
# /usr/local/share/oriel/photos, which the display benchmark's recorded
# workloads use (bench/display/record-workloads).
#
#   images/desktop/build.sh OUTDIR
#     OUTDIR/desktop.qcow2  ext4 root file system, no partition table (/dev/vda)
#     OUTDIR/vmlinuz        the image's kernel   (from its /boot)
#     OUTDIR/initrd.img     the image's initramfs (initramfs-tools, MODULES=most)
#     OUTDIR/cmdline        kernel command line, one line
#     OUTDIR/stamp          what the outputs were built from (the cache key)
#
# Needs root (debootstrap, chroot). Takes a few minutes; cached: exits at once
# when OUTDIR holds outputs built from the same recipe (this directory's files).
# Force a rebuild with ORIEL_REBUILD=1 (e.g. to pick up Debian updates).
#
# The Debian mirror comes from this machine's apt configuration (sources.list /
# *.sources); ORIEL_DEBIAN_MIRROR overrides it. Downloaded .debs are kept in
# ${XDG_CACHE_HOME:-~/.cache}/oriel/desktop-debs for the next build.
set -euo pipefail

suite=bookworm
image_size=${ORIEL_DESKTOP_SIZE:-4G}
hostname=oriel-desktop
user=oriel
password=oriel
packages=(
  linux-image-amd64 initramfs-tools zstd
  systemd-sysv udev dbus libpam-systemd
  xserver-xorg-core xserver-xorg-input-libinput xinit xauth
  jwm xterm fonts-dejavu-core
  procps less
  xdotool feh
)
cmdline="root=/dev/vda rw console=tty0 console=ttyS0 quiet"
steps=7

say() { echo "[desktop-image] $*"; }
step() { say "step $1/$steps: $2"; }
die() { echo "desktop-image: error: $*" >&2; exit 1; }

[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1" || die "cannot create $1"
out=$(cd "$1" && pwd)
case "$out" in *[[:space:]]*) die "OUTDIR must not contain white space: $out" ;; esac

# The cache key: every file of the recipe (this directory) and the image size.
recipe=$( (cd "$here" && find . -type f ! -name '*~' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; echo "size=$image_size") |
        sha256sum | cut -c1-16)
if [ "${ORIEL_REBUILD:-0}" != 1 ] && [ -s "$out/desktop.qcow2" ] && [ -s "$out/vmlinuz" ] &&
   [ -s "$out/initrd.img" ] && [ -s "$out/cmdline" ] && [ "$(sed -n 's/^recipe=//p' "$out/stamp" 2>/dev/null)" = "$recipe" ]; then
  say "up to date: $out"
  exit 0
fi

# --- step 1: preflight --------------------------------------------------------------
step 1 "checking tools and finding the Debian mirror"
[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap and chroot)"
for tool in debootstrap chroot mke2fs qemu-img mount umount findmnt sha256sum flock python3; do
  command -v "$tool" >/dev/null || die "'$tool' is missing (run scripts/setup)"
done
[ -f /usr/share/debootstrap/scripts/$suite ] || die "debootstrap does not know $suite"

exec 9>"$out/.build.lock"
flock -n 9 || die "another build is running in $out"

# Debian sources from apt's configuration: "URI SUITE" pairs of enabled deb entries.
apt_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    # deb [options] URI SUITE COMPONENT...
    sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && NF >= 3 {print $2, $3}'
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # deb822 paragraphs: Types, URIs, Suites, Enabled
    awk '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && enabled != "no")
          for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++) print uris[i], suites[j]
        types = ""; enabled = ""; nu = 0; ns = 0
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      tolower($1) == "types:"   { types = ""; for (i = 2; i <= NF; i++) types = types " " $i; types = types " " }
      tolower($1) == "uris:"    { for (i = 2; i <= NF; i++) uris[++nu] = $i }
      tolower($1) == "suites:"  { for (i = 2; i <= NF; i++) suites[++ns] = $i }
      tolower($1) == "enabled:" { enabled = tolower($2) }
      END { flush() }' "$f"
  done
}
sources=$(apt_sources | sed 's#/* # #' | awk '!seen[$0]++')
if [ -n "${ORIEL_DEBIAN_MIRROR:-}" ]; then
  mirror=${ORIEL_DEBIAN_MIRROR%/}
else
  mirror=$(awk -v s="$suite" '$2 == s {print $1; exit}' <<< "$sources")
fi
[ -n "$mirror" ] || die "no '$suite' entry in /etc/apt/sources.list or /etc/apt/sources.list.d/; set ORIEL_DEBIAN_MIRROR"
updates_mirror=$(awk -v s="$suite-updates" '$2 == s {print $1; exit}' <<< "$sources")
security_mirror=$(awk -v s="$suite-security" '$2 == s {print $1; exit}' <<< "$sources")
say "mirror: $mirror${updates_mirror:+, updates: $updates_mirror}${security_mirror:+, security: $security_mirror}"

# --- work area, always cleaned up ------------------------------------------------------
work="$out/.work"
root="$work/rootfs"
debs=${XDG_CACHE_HOME:-$HOME/.cache}/oriel/desktop-debs
mkdir -p "$debs"

unmount_all() {  # everything mounted at or below $root, deepest first
  local m
  for m in $(awk -v r="$root" '$2 == r || index($2, r "/") == 1 {print $2}' /proc/self/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}
cleanup() {
  local rc=$?
  unmount_all
  if awk -v r="$root" '$2 == r || index($2, r "/") == 1 {found = 1} END {exit !found}' /proc/self/mounts; then
    echo "desktop-image: warning: mounts remain under $root; not deleting it" >&2
  elif [ "${ORIEL_KEEP_WORK:-0}" = 1 ]; then
    echo "desktop-image: ORIEL_KEEP_WORK=1: keeping $work" >&2
  else
    rm -rf --one-file-system "$work"
  fi
  [ $rc -eq 0 ] || echo "desktop-image: failed (exit $rc)" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

unmount_all
rm -rf --one-file-system "$work"
mkdir -p "$root"
start=$SECONDS

# --- step 2: debootstrap ------------------------------------------------------------------
step 2 "debootstrap --variant=minbase $suite (a minute or two)"
if ! debootstrap --variant=minbase --components=main --cache-dir="$debs" \
     "$suite" "$root" "$mirror" > "$work/debootstrap.log" 2>&1; then
  tail -n 20 "$work/debootstrap.log" >&2
  [ -f "$root/debootstrap/debootstrap.log" ] && tail -n 20 "$root/debootstrap/debootstrap.log" >&2
  die "debootstrap failed (log above)"
fi
unmount_all

# --- step 3: packages -----------------------------------------------------------------------
step 3 "installing ${#packages[@]} packages (kernel, systemd, Xorg, JWM, xterm, xdotool, feh)"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
                   DEBIAN_FRONTEND=noninteractive "$@"; }
mount -t proc proc "$root/proc"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"   # start no services in the chroot
chmod 755 "$root/usr/sbin/policy-rc.d"
echo force-unsafe-io > "$root/etc/dpkg/dpkg.cfg.d/oriel-build-unsafe-io"
cat > "$root/etc/dpkg/dpkg.cfg.d/oriel-nodoc" <<'EOF'
# Oriel desktop image: no documentation, man pages or translations.
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
EOF
# The image keeps the same sources (main, updates, security when configured).
{
  echo "Types: deb"; echo "URIs: $mirror"; echo "Suites: $suite"
  echo "Components: main"; echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
  for pair in "$updates_mirror $suite-updates" "$security_mirror $suite-security"; do
    [ "${pair%% *}" != "" ] || continue
    echo; echo "Types: deb"; echo "URIs: ${pair%% *}"; echo "Suites: ${pair#* }"
    echo "Components: main"; echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
  done
} > "$root/etc/apt/sources.list.d/debian.sources"
rm -f "$root/etc/apt/sources.list"
# Reuse .debs from earlier builds; keep the new ones for the next.
find "$debs" -maxdepth 1 -name '*.deb' -exec cp -t "$root/var/cache/apt/archives/" {} + 2>/dev/null || true
in_root apt-get update -qq > "$work/apt.log" 2>&1 || { tail -n 20 "$work/apt.log" >&2; die "apt-get update in the image failed"; }
if ! in_root apt-get install -y -q --no-install-recommends "${packages[@]}" >> "$work/apt.log" 2>&1; then
  tail -n 30 "$work/apt.log" >&2
  die "apt-get install in the image failed (log above)"
fi
find "$root/var/cache/apt/archives" -maxdepth 1 -name '*.deb' -exec cp -n -t "$debs/" {} + 2>/dev/null || true
# Keep only the versions this image installed, so the cache does not grow forever.
in_root dpkg-query -W -f '${Package}_${Version}_${Architecture}.deb\n' | sed 's/:/%3a/g' | LC_ALL=C sort > "$work/installed"
find "$debs" -maxdepth 1 -name '*.deb' -printf '%f\n' | LC_ALL=C sort | LC_ALL=C comm -23 - "$work/installed" |
  while read -r f; do rm -f "$debs/$f"; done

# --- step 4: configuration -------------------------------------------------------------------
step 4 "configuring autologin, the X session and services"
echo "$hostname" > "$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' "$hostname" > "$root/etc/hosts"
echo "LABEL=oriel-root / ext4 rw,relatime,errors=remount-ro 0 1" > "$root/etc/fstab"
: > "$root/etc/machine-id"           # generated at first boot: every clone gets its own
rm -f "$root/var/lib/dbus/machine-id"

groups=$(for g in audio video input render; do in_root getent group "$g" >/dev/null && echo -n "$g,"; done; true)
in_root useradd --create-home --shell /bin/bash --user-group ${groups:+--groups "${groups%,}"} "$user"
echo "$user:$password" | in_root chpasswd
in_root passwd --lock root >/dev/null

# Photo-like pictures for feh (the display benchmark's slideshow workload,
# bench/display/record-workloads; also something to look at in the demo).
python3 "$here/make-photos" "$root/usr/local/share/oriel/photos" 6 || die "make-photos failed"

# Autologin on tty1; the login shell starts X (rootless Xorg via systemd-logind).
mkdir -p "$root/etc/systemd/system/getty@tty1.service.d"
cat > "$root/etc/systemd/system/getty@tty1.service.d/oriel-autologin.conf" <<EOF
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin $user --noclear %I \$TERM
EOF
home="$root/home/$user"
cat > "$home/.bash_profile" <<'EOF'
[ -f ~/.bashrc ] && . ~/.bashrc
# Oriel: the graphical session starts on tty1 (autologin).
if [ -z "${DISPLAY:-}" ] && [ "$(tty)" = /dev/tty1 ]; then
  exec startx -- -nolisten tcp > ~/.xsession-errors 2>&1
fi
EOF
cat > "$home/.xinitrc" <<'EOF'
#!/bin/sh
# Oriel demo session: JWM with an xterm.
# The shell in the xterm flags the session as up for oriel-desktop-ready.
xterm -geometry 100x30+40+40 -e /bin/sh -c 'touch "$XDG_RUNTIME_DIR/oriel-xterm-up"; exec bash' &
exec jwm
EOF
cat > "$home/.Xdefaults" <<'EOF'
XTerm*faceName: DejaVu Sans Mono
XTerm*faceSize: 11
XTerm*background: #1e1e1e
XTerm*foreground: #e0e0e0
XTerm*scrollBar: false
XTerm*saveLines: 2000
EOF
cat > "$home/.jwmrc" <<'EOF'
<?xml version="1.0"?>
<JWM>
  <RootMenu onroot="123">
    <Program label="Terminal">xterm</Program>
    <Separator/>
    <Restart label="Restart JWM"/>
    <Exit label="Log out" confirm="true"/>
  </RootMenu>
  <Tray x="0" y="-1" height="30" autohide="off">
    <TrayButton label="Oriel">root:1</TrayButton>
    <Spacer width="4"/>
    <TrayButton label="Terminal">exec:xterm</TrayButton>
    <Spacer width="4"/>
    <TaskList maxwidth="240"/>
    <Clock format="%H:%M">xterm</Clock>
  </Tray>
  <WindowStyle>
    <Font>DejaVu Sans-10:bold</Font>
    <Width>4</Width>
    <Height>22</Height>
    <Active><Foreground>#ffffff</Foreground><Background>#2f5d8a</Background></Active>
    <Foreground>#c0c0c0</Foreground><Background>#505050</Background>
  </WindowStyle>
  <TrayStyle><Font>DejaVu Sans-10</Font><Background>#303030</Background><Foreground>#ffffff</Foreground></TrayStyle>
  <MenuStyle><Font>DejaVu Sans-10</Font><Background>#303030</Background><Foreground>#ffffff</Foreground>
    <Active><Background>#2f5d8a</Background><Foreground>#ffffff</Foreground></Active></MenuStyle>
  <Desktops width="1" height="1"><Background type="solid">#3a6ea5</Background></Desktops>
  <FocusModel>click</FocusModel>
  <!-- Tells oriel-desktop-ready.service that the session is up. -->
  <StartupCommand>touch "$XDG_RUNTIME_DIR/oriel-wm-up"</StartupCommand>
  <Key mask="A" key="Tab">nextstacked</Key>
  <Key mask="A" key="F4">close</Key>
</JWM>
EOF
chmod 755 "$home/.xinitrc"
in_root chown -R "$user:$user" "/home/$user"

# A line on the serial port once the session runs: ORIEL-DESKTOP-READY, when
# JWM (StartupCommand) and the xterm's shell have created their flag files.
mkdir -p "$root/usr/local/libexec"
cat > "$root/usr/local/libexec/oriel-desktop-ready" <<'EOF'
#!/bin/sh
# usage: oriel-desktop-ready USER: waits up to 5 min for USER's session flags.
dir=/run/user/$(id -u "$1")
i=0
while [ $i -lt 600 ]; do
  if [ -e "$dir/oriel-wm-up" ] && [ -e "$dir/oriel-xterm-up" ]; then
    printf "\nORIEL-DESKTOP-READY\n" > /dev/ttyS0
    exit 0
  fi
  sleep 0.5; i=$((i + 1))
done
printf "\nORIEL-DESKTOP-TIMEOUT\n" > /dev/ttyS0
EOF
chmod 755 "$root/usr/local/libexec/oriel-desktop-ready"
cat > "$root/etc/systemd/system/oriel-desktop-ready.service" <<EOF
[Unit]
Description=Report on ttyS0 when the Oriel graphical session is up
After=getty@tty1.service

[Service]
Type=simple
ExecStart=/usr/local/libexec/oriel-desktop-ready $user

[Install]
WantedBy=multi-user.target
EOF
in_root systemctl enable oriel-desktop-ready.service >/dev/null 2>&1
# Nothing periodic or merely slow in a demo desktop.
in_root systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
  fstrim.timer >/dev/null 2>&1 || true
echo "LANG=C.UTF-8" > "$root/etc/default/locale"
# QEMU's std VGA has no 3D: skip glamor (it loads llvmpipe for nothing, ~1.5 s under TCG).
mkdir -p "$root/etc/X11/xorg.conf.d"
cat > "$root/etc/X11/xorg.conf.d/20-oriel-modesetting.conf" <<'EOF'
Section "Device"
    Identifier "oriel-display"
    Driver     "modesetting"
    Option     "AccelMethod" "none"
EndSection
EOF

# --- step 5: clean up the tree, take out the kernel ----------------------------------------------
step 5 "cleaning the tree and extracting the kernel and initramfs"
in_root apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*.log "$root"/var/log/apt/* \
       "$root"/usr/share/doc/*/[!c]* "$root"/usr/share/man/* "$root"/tmp/* "$root"/var/tmp/*
rm -f "$root/usr/sbin/policy-rc.d" "$root/etc/dpkg/dpkg.cfg.d/oriel-build-unsafe-io"
: > "$root/etc/resolv.conf"
unmount_all
kernel=$(cd "$root/boot" && ls vmlinuz-* 2>/dev/null | sort -V | tail -n1)
[ -n "$kernel" ] || die "no kernel in the image's /boot"
kver=${kernel#vmlinuz-}
[ -f "$root/boot/initrd.img-$kver" ] || die "no initramfs for $kver in the image's /boot"
cp "$root/boot/vmlinuz-$kver" "$out/vmlinuz.new"
cp "$root/boot/initrd.img-$kver" "$out/initrd.img.new"

# --- step 6: the file system -----------------------------------------------------------------------
step 6 "making the ext4 file system ($image_size) from the tree"
rm -f "$work/root.img"
truncate -s "$image_size" "$work/root.img"
mke2fs -q -t ext4 -d "$root" -L oriel-root -E root_owner=0:0 "$work/root.img" "$image_size" \
  || die "mke2fs -d failed (file system too small? set ORIEL_DESKTOP_SIZE)"

# --- step 7: qcow2 -----------------------------------------------------------------------------------
step 7 "converting to qcow2 (zstd-compressed clusters)"
qemu-img convert -c -O qcow2 -o compression_type=zstd "$work/root.img" "$out/desktop.qcow2.new"
echo "$cmdline" > "$out/cmdline.new"
for f in desktop.qcow2 vmlinuz initrd.img cmdline; do mv -f "$out/$f.new" "$out/$f"; done
printf 'recipe=%s\nkernel=%s\nmirror=%s\nbuilt=%s\n' "$recipe" "$kver" "$mirror" "$(date -u +%FT%TZ)" > "$out/stamp"
say "done in $((SECONDS - start)) s: $out/desktop.qcow2 ($(du -h "$out/desktop.qcow2" | cut -f1), kernel $kver)"
