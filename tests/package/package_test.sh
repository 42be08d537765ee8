#!/usr/bin/env bash
# Tests the Debian package that scripts/package builds:
#   1. its control fields and contents (every file, owners, modes,
#      conffiles) and the settings its systemd units promise;
#   2. lintian (errors and warnings fail);
#   3. installed with dpkg into a throw-away root: a copy-on-write overlay of
#      this machine's root, in a mount and PID namespace of this test's own,
#      so nothing reaches the real system (the packages the .deb depends on
#      are those scripts/setup installed). There it checks what postinst made
#      (the user oriel in the group kvm, directories, the configuration's
#      owner and mode) and runs `systemd-analyze verify` on the units;
#   4. runs orield as the units say (ExecStart=, User=, Group=,
#      SupplementaryGroups=, UMask=, NoNewPrivileges=, CapabilityBoundingSet=)
#      with the packaged configuration. oriel-agent.service must ask for a
#      controller. orield.service, overriding only the listen address (a free
#      loopback port; its data directory is the throw-away root's
#      /var/lib/oriel), must serve HTTPS with its own CA and the packaged web
#      client, and boot the test guest: a desktop reaches running and the
#      guest's userspace reports on its serial port.
# PID 1 need not be systemd: nothing here uses systemctl.
#
# Usage: tests/package/package_test.sh DEB TEST_GUEST_DIR
# Parts 3 and 4 need root (mount namespaces); without it they are skipped and
# the test exits 77 (ctest: skipped) once parts 1 and 2 pass.
set -uo pipefail

deb=${1:?usage: package_test.sh DEB TEST_GUEST_DIR}
guest=${2:?usage: package_test.sh DEB TEST_GUEST_DIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
failures=0
start=$SECONDS

say() { echo "package_test: $*"; }
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
die() { echo "FAIL: $*" >&2; exit 1; }
# check DESCRIPTION COMMAND...: one check, reported either way.
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}

[ -f "$deb" ] || die "no package at $deb: run scripts/package first (scripts/test does)"
for tool in dpkg-deb lintian python3 curl; do
  command -v "$tool" >/dev/null || die "'$tool' is missing (run scripts/setup)"
done

# --- 1. control fields and contents ------------------------------------------

field() { dpkg-deb -f "$deb" "$1"; }
check "Package is oriel" [ "$(field Package)" = oriel ]
version=$(field Version)
case "$(basename "$deb")" in
  "oriel_${version}_$(field Architecture).deb") ok "file name matches version $version" ;;
  *) fail "file name $(basename "$deb") does not match version $version and architecture $(field Architecture)" ;;
esac
depends=$(field Depends)
for dep in qemu-system-x86 qemu-utils ovmf zstd adduser libc6 libssl3 libsqlite3-0; do
  if grep -qE "(^|, )$dep( |,|$)" <<<"$depends"; then ok "depends on $dep"; else fail "Depends lacks $dep: $depends"; fi
done

listing=$(dpkg-deb -c "$deb") || die "dpkg-deb -c $deb failed"
# expect MODE PATH: the entry exists, owned by root/root, with that mode.
expect() {
  local mode=$1 path=$2 line
  line=$(awk -v p="./$path" '$6 == p' <<<"$listing")
  if [ -z "$line" ]; then
    fail "the package lacks /$path"
  elif [ "$(awk '{print $1, $2}' <<<"$line")" != "$mode root/root" ]; then
    fail "/$path is '$(awk '{print $1, $2}' <<<"$line")', expected '$mode root/root'"
  else
    ok "/$path $mode root/root"
  fi
}
expect -rwxr-xr-x usr/bin/orield
expect -rwxr-xr-x usr/bin/oriel
for f in index.html desktop.html console.html assets/portal.js assets/desktop.js assets/console.js assets/style.css; do
  expect -rw-r--r-- "usr/share/oriel/web/$f"
done
# Shipped 0644 as Debian wants; postinst makes them 0640 root:oriel (part 3).
expect -rw-r--r-- etc/oriel/orield.conf
expect -rw-r--r-- etc/oriel/oriel-agent.conf
for unit in orield.service oriel-agent.service oriel-backup.service oriel-backup.timer; do
  expect -rw-r--r-- "lib/systemd/system/$unit"
done
expect -rw-r--r-- usr/share/man/man8/orield.8.gz
expect -rw-r--r-- usr/share/man/man1/oriel.1.gz
expect -rw-r--r-- usr/share/doc/oriel/copyright
others=$(awk '$2 != "root/root"' <<<"$listing")
if [ -z "$others" ]; then ok "every file is owned by root/root"; else fail "files not owned by root/root:"$'\n'"$others"; fi
setid=$(awk '$1 ~ /^-.*[sS]/' <<<"$listing")
if [ -z "$setid" ]; then ok "no setuid or setgid file"; else fail "setuid or setgid files:"$'\n'"$setid"; fi

control=$(mktemp -d)
trap 'rm -rf "$control"' EXIT
dpkg-deb -e "$deb" "$control/DEBIAN"
conffiles=$(sort "$control/DEBIAN/conffiles" 2>/dev/null | tr '\n' ' ')
check "conffiles are /etc/oriel/oriel-agent.conf and orield.conf (got: $conffiles)" \
  [ "$conffiles" = "/etc/oriel/oriel-agent.conf /etc/oriel/orield.conf " ]

# The units' settings this package promises (docs/packaging.md): the
# daemons as oriel with /dev/kvm and the sandbox, never a W^X ban (QEMU's TCG),
# the two roles exclusive, the backup daily.
unit_text() { dpkg-deb --fsys-tarfile "$deb" | tar -xOf - "./lib/systemd/system/$1" 2>/dev/null; }
unit_has() {
  local unit=$1 line
  shift
  for line in "$@"; do
    if grep -qxF "$line" <<<"$(unit_text "$unit")"; then ok "$unit: $line"; else fail "$unit lacks the line '$line'"; fi
  done
}
unit_lacks() {
  local unit=$1 key
  shift
  for key in "$@"; do
    if grep -q "^$key=" <<<"$(unit_text "$unit")"; then fail "$unit sets $key=, which breaks QEMU"; else ok "$unit: no $key="; fi
  done
}
for unit in orield.service oriel-agent.service; do
  unit_has "$unit" User=oriel SupplementaryGroups=kvm KillMode=process StateDirectory=oriel \
    ReadWritePaths=/var/lib/oriel NoNewPrivileges=yes CapabilityBoundingSet= ProtectSystem=strict ProtectHome=yes \
    PrivateTmp=yes ProtectKernelTunables=yes ProtectKernelModules=yes ProtectControlGroups=yes LockPersonality=yes \
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK' DevicePolicy=closed 'DeviceAllow=/dev/kvm rw' \
    SystemCallFilter=@system-service WantedBy=multi-user.target
  unit_lacks "$unit" MemoryDenyWriteExecute PrivateDevices PrivateUsers
done
unit_has orield.service 'ExecStart=/usr/bin/orield --config /etc/oriel/orield.conf' Conflicts=oriel-agent.service
unit_has oriel-agent.service 'ExecStart=/usr/bin/orield --config /etc/oriel/oriel-agent.conf' Conflicts=orield.service
unit_has oriel-backup.service User=oriel \
  'ExecStart=/usr/bin/orield backup --config /etc/oriel/orield.conf --to /var/backups/oriel/ --keep 14' \
  'ReadWritePaths=/var/lib/oriel /var/backups/oriel'
unit_has oriel-backup.timer OnCalendar=daily Persistent=true RandomizedDelaySec=1h WantedBy=timers.target

# --- 2. lintian ----------------------------------------------------------------

if lintian_out=$(lintian --fail-on error,warning --tag-display-limit 0 "$deb" 2>&1); then
  ok "lintian: no errors or warnings"
else
  fail "lintian found errors or warnings:"
  echo "$lintian_out" >&2
fi

# --- 3 and 4 need root --------------------------------------------------------

if [ "$(id -u)" -ne 0 ]; then
  if [ "$failures" -gt 0 ]; then die "$failures check(s) failed"; fi
  say "parts 3 and 4 (install and run) need root: skipped"
  exit 77
fi
[ -s "$guest/vmlinuz" ] && [ -s "$guest/initrd.img" ] && [ -f "$guest/disk.raw" ] && [ -s "$guest/cmdline" ] ||
  die "the test guest is not built in $guest (images/test-guest/build.sh $guest)"
for tool in unshare chroot setpriv; do
  command -v "$tool" >/dev/null || die "'$tool' is missing (run scripts/setup)"
done

work=$(mktemp -d /tmp/oriel-package-test-XXXXXX)
trap 'rm -rf "$control"; rm -rf "$work"' EXIT
cp "$deb" "$work/oriel.deb"
mkdir -p "$work/guest"
cp "$guest/vmlinuz" "$guest/initrd.img" "$guest/disk.raw" "$guest/cmdline" "$work/guest/"
# The root part runs as PID 1 of a new PID namespace: when it ends, the
# kernel ends every process left in it (orield, its detached QEMUs).
unshare --mount --pid --fork --propagation private \
  bash "$here/package_test_root.sh" "$work" || failures=$((failures + $?))

if [ "$failures" -gt 0 ]; then
  echo "package_test: $failures check(s) failed ($((SECONDS - start)) s)" >&2
  exit 1
fi
say "all checks passed ($((SECONDS - start)) s)"
