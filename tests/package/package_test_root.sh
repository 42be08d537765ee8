#!/usr/bin/env bash
# Parts 3 and 4 of package_test.sh; see there. Runs as PID 1 of a PID
# namespace with a private mount namespace (unshare), as root.
# Usage: package_test_root.sh WORK   (WORK holds oriel.deb and guest/)
# Exits with the number of failed checks.
set -uo pipefail

work=$1
root=$work/root
log=$work/orield.log
failures=0
admin_password='Package-test-1'

ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
finish() {
  if [ "$failures" -gt 0 ] && [ -s "$log" ]; then
    echo "package_test: the end of orield's log:" >&2
    tail -n 60 "$log" >&2
  fi
  exit $((failures > 255 ? 255 : failures))
}
abort() { fail "$*"; finish; }
in_root() { chroot "$root" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
# wait_for SECONDS COMMAND...: until the command succeeds, at most that long.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# --- the throw-away root -------------------------------------------------------
# An overlay whose lower layer is this machine's root (read-only to it) and
# whose upper layer is a tmpfs of this namespace: dpkg, postinst and orield
# write there, and it vanishes with the namespace.
mkdir -p "$work/layer" "$root"
mount -t tmpfs -o mode=0755 oriel-package-test "$work/layer" || abort "cannot mount a tmpfs (root, and a kernel with mount namespaces, are needed)"
mkdir "$work/layer/upper" "$work/layer/work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$work/layer/upper,workdir=$work/layer/work" "$root" ||
  abort "cannot mount an overlay of / (overlayfs is needed)"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --rbind /sys "$root/sys"
# Empty /run: no /run/systemd/system, so the maintainer scripts start nothing.
mount -t tmpfs -o mode=0755 run "$root/run"
mount -t tmpfs -o mode=1777 tmp "$root/tmp"
cp "$work/oriel.deb" "$root/tmp/oriel.deb"
# The man-db trigger would rebuild the man database: slow, and thrown away.
rm -f "$root/var/lib/man-db/auto-update"

# --- 3. install ---------------------------------------------------------------
if in_root DEBIAN_FRONTEND=noninteractive dpkg -i /tmp/oriel.deb >"$work/dpkg.log" 2>&1; then
  ok "dpkg -i installs the package (its dependencies are present)"
else
  cat "$work/dpkg.log" >&2
  abort "dpkg -i failed (above)"
fi

passwd_entry=$(in_root getent passwd oriel) || abort "postinst made no user oriel"
IFS=: read -r _ _ uid gid _ home shell <<<"$passwd_entry"
if [ "$uid" -gt 0 ] && [ "$uid" -lt 1000 ]; then ok "oriel is a system user (uid $uid)"; else fail "oriel's uid $uid is not a system uid"; fi
[ "$home" = /var/lib/oriel ] && ok "oriel's home is /var/lib/oriel" || fail "oriel's home is $home, not /var/lib/oriel"
[ "$shell" = /usr/sbin/nologin ] && ok "oriel has no login shell" || fail "oriel's shell is $shell"
groups=" $(in_root id -nG oriel) "
[[ $groups == *" kvm "* ]] && ok "oriel is in the group kvm" || fail "oriel is not in the group kvm (groups:$groups)"

# expect_stat PATH OWNER:GROUP MODE
expect_stat() {
  local got
  got=$(in_root stat -c '%U:%G %a' "$1" 2>&1)
  [ "$got" = "$2 $3" ] && ok "$1 is $2 $3" || fail "$1 is '$got', expected '$2 $3'"
}
expect_stat /var/lib/oriel oriel:oriel 700
expect_stat /var/backups/oriel oriel:oriel 700
expect_stat /etc/oriel/orield.conf root:oriel 640
expect_stat /etc/oriel/oriel-agent.conf root:oriel 640
expect_stat /usr/bin/orield root:root 755

# Offline, with the whole system's units at hand: syntax, keys, and that the
# commands exist. Any output (an unknown key is only a warning) fails.
units=(orield.service oriel-agent.service oriel-backup.service oriel-backup.timer)
paths=()
for unit in "${units[@]}"; do paths+=("/lib/systemd/system/$unit"); done
if out=$(in_root systemd-analyze verify --man=no "${paths[@]}" 2>&1) && [ -z "$out" ]; then
  ok "systemd-analyze verify ${units[*]}"
else
  fail "systemd-analyze verify ${units[*]}: ${out:-exit status not 0}"
fi

# --- 4. run orield as its units say -----------------------------------------
# unit_command UNIT: sets command (ExecStart=, split on blanks), user,
# umask and setpriv (the identity and privileges User=, Group=,
# SupplementaryGroups=, NoNewPrivileges= and CapabilityBoundingSet= give).
unit_command() {
  local unit=$root/lib/systemd/system/$1 exec_start group supplementary
  key() { sed -n "s/^$1=//p" "$unit"; }
  exec_start=$(key ExecStart)
  [ "$(wc -l <<<"$exec_start")" -eq 1 ] && [ -n "$exec_start" ] || abort "$1 needs one ExecStart= line (got '$exec_start')"
  [[ $exec_start =~ ^[-@:+!]|[\"\'\$%\\] ]] && abort "this test cannot run an ExecStart= with prefixes, quotes or specifiers: $exec_start"
  read -ra command <<<"$exec_start"
  user=$(key User)
  group=$(key Group)
  supplementary=$(key SupplementaryGroups | tr ' ' ',')
  umask=$(key UMask)
  [ -n "$user" ] && [ "$user" != root ] && ok "$1 runs as $user, not root" || abort "$1 sets no User= other than root"
  setpriv=(setpriv --reuid="$user" --regid="${group:-$user}" --inh-caps=-all)
  if [ -n "$supplementary" ]; then setpriv+=(--groups="$supplementary"); else setpriv+=(--clear-groups); fi
  [ "$(key NoNewPrivileges)" = yes ] && setpriv+=(--no-new-privs)
  grep -qx 'CapabilityBoundingSet=' "$unit" && setpriv+=(--bounding-set=-all)
}
# run_unit ARGS...: the unit's command with ARGS appended, as systemd would
# start it (environment of a User= service, UMask=), in the background.
run_unit() {
  (
    umask "${umask:-0022}"
    exec chroot "$root" "${setpriv[@]}" env -i HOME="$home" USER="$user" LOGNAME="$user" SHELL="$shell" \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
      ORIEL_ADMIN_PASSWORD="$admin_password" "${command[@]}" "$@"
  ) &
}

# The agent's packaged configuration parses and selects the agent role: with
# no controller named yet, orield says it needs one and exits.
unit_command oriel-agent.service
run_unit >"$work/agent.log" 2>&1
agent=$!
if wait_for 20 eval '! kill -0 $agent 2>/dev/null'; then
  wait "$agent"
  rc=$?
  if [ "$rc" -ne 0 ] && grep -q -- '--controller' "$work/agent.log"; then
    ok "oriel-agent.service with the packaged oriel-agent.conf asks for a controller (exit $rc)"
  else
    fail "oriel-agent.service with the packaged oriel-agent.conf: exit $rc, expected a complaint about --controller:"
    cat "$work/agent.log" >&2
  fi
else
  kill -9 "$agent"
  { wait "$agent"; } 2>/dev/null
  fail "oriel-agent.service with no controller configured still runs after 20 s"
fi
unit_command orield.service

# The guest's files, where orield (and PrivateTmp=, ProtectHome=) lets it read them.
mkdir -p "$root/srv/oriel-test-guest"
cp "$work/guest/"* "$root/srv/oriel-test-guest/"
chmod 0755 "$root/srv/oriel-test-guest"
chmod 0644 "$root/srv/oriel-test-guest/"*

# The packaged configuration and data directory (/var/lib/oriel, here in the
# throw-away root); only the listen address is the test's: a free loopback port.
data=$root/var/lib/oriel
url_file=$data/orield.url
rm -f "$url_file"  # orield writes it once it listens
echo "package_test: starting ${setpriv[*]} ${command[*]} --listen 127.0.0.1:0 --import-dir /srv/oriel-test-guest"
run_unit --listen 127.0.0.1:0 --import-dir /srv/oriel-test-guest >"$log" 2>&1
orield=$!
wait_for 60 eval '[ -s "$url_file" ] || ! kill -0 $orield 2>/dev/null'
kill -0 "$orield" 2>/dev/null || abort "orield exited at start"
[ -s "$url_file" ] || abort "orield wrote no $url_file within 60 s"
url=$(head -n1 "$url_file")
[[ $url == https://127.0.0.1:* ]] && ok "orield listens at $url (HTTPS)" || fail "orield's URL $url is not https://127.0.0.1:PORT"
ca=$data/tls/ca.pem

# The subshell exec'd chroot, then setpriv, then orield: the same process.
# Its PID is this namespace's, which the root's /proc shows.
status=$(cat "$root/proc/$orield/status")
uid_line=$(awk '/^Uid:/ {print $2, $3, $4, $5}' <<<"$status")
[ "$uid_line" = "$uid $uid $uid $uid" ] && ok "orield runs as oriel (uid $uid)" || fail "orield's Uid: line is '$uid_line', not oriel's $uid"
[ "$(awk '/^NoNewPrivs:/ {print $2}' <<<"$status")" = 1 ] && ok "orield has no_new_privs" || fail "orield lacks no_new_privs"
[ "$(awk '/^CapBnd:/ {print $2}' <<<"$status")" = 0000000000000000 ] && ok "orield has no capabilities" ||
  fail "orield's capability bounding set is $(awk '/^CapBnd:/ {print $2}' <<<"$status")"

curl_ca() { curl -sS --max-time 10 --cacert "$ca" "$@"; }
health=$(curl_ca -w ' %{http_code}' "$url/healthz" 2>&1)
[[ $health == *'"status":"ok"'*' 200' ]] && ok "GET /healthz over HTTPS, trusting DATA/tls/ca.pem: $health" ||
  fail "GET /healthz with --cacert $ca: $health"
if curl -sS --max-time 10 -o /dev/null "$url/healthz" 2>/dev/null; then
  fail "curl trusted orield's certificate without its CA"
else
  ok "without its CA the certificate is not trusted"
fi
if curl_ca "$url/" | cmp -s - "$root/usr/share/oriel/web/index.html"; then
  ok "GET / serves the packaged /usr/share/oriel/web/index.html"
else
  fail "GET / is not the packaged /usr/share/oriel/web/index.html"
fi

# api METHOD PATH [JSON]: prints the body, then the status on its own line.
api() {
  local args=(-X "$1" -H "Authorization: Bearer ${token:-}" -w '\n%{http_code}')
  [ $# -lt 3 ] || args+=(-H 'Content-Type: application/json' --data "$3")
  curl_ca "${args[@]}" "$url$2"
}
body() { sed '$d' <<<"$1"; }
code() { tail -n1 <<<"$1"; }
json() { python3 -c 'import json, sys; v = json.load(sys.stdin).get(sys.argv[1], ""); print(v if isinstance(v, str) else json.dumps(v))' "$1"; }

r=$(api POST /api/v1/auth/login "{\"username\":\"admin\",\"password\":\"$admin_password\"}")
[ "$(code "$r")" = 200 ] || abort "login as admin: $r"
token=$(body "$r" | json token)
ok "admin logs in"

g=/srv/oriel-test-guest
cmdline=$(head -n1 "$work/guest/cmdline")
r=$(api POST /api/v1/images "{\"name\":\"test-guest\",\"source_path\":\"$g/disk.raw\",\"format\":\"raw\",\"boot\":{\"kernel\":\"$g/vmlinuz\",\"initrd\":\"$g/initrd.img\",\"cmdline\":\"$cmdline\"}}")
[[ $(code "$r") == 20[12] ]] || abort "importing the test guest: $r"
image=$(body "$r" | json id)
image_state() { state=$(api GET "/api/v1/images/$image" | sed '$d' | json state) && [[ $state == ready || $state == failed ]]; }
wait_for 60 image_state
[ "${state:-}" = ready ] && ok "the test guest's image $image is ready" || abort "image $image is '${state:-}' after 60 s: $(api GET "/api/v1/images/$image")"

r=$(api POST /api/v1/desktops "{\"name\":\"package-test\",\"image_id\":\"$image\",\"vcpus\":1,\"memory_mb\":256}")
[ "$(code "$r")" = 201 ] || abort "creating a desktop: $r"
desktop=$(body "$r" | json id)
desktop_state() { state=$(api GET "/api/v1/desktops/$desktop" | sed '$d' | json state) && [[ $state == running || $state == failed ]]; }
wait_for 90 desktop_state
[ "${state:-}" = running ] && ok "desktop $desktop is running" || abort "desktop $desktop is '${state:-}' after 90 s: $(api GET "/api/v1/desktops/$desktop")"
accelerator=$(api GET /api/v1/hosts | sed '$d' | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["accelerator"])')
echo "package_test: the host's accelerator is $accelerator"

vm=$data/run/vms/$desktop
if wait_for 60 grep -q ORIEL-GUEST-READY "$vm/serial.log" 2>/dev/null; then
  ok "the guest reached userspace (ORIEL-GUEST-READY on its serial port)"
else
  fail "no ORIEL-GUEST-READY in $vm/serial.log within 60 s:"
  tail -n 20 "$vm/serial.log" >&2 2>/dev/null
fi
qemu=$(cat "$vm/qemu.pid" 2>/dev/null)
qemu_uid=$(awk '/^Uid:/ {print $2}' "$root/proc/${qemu:-0}/status" 2>/dev/null)
[ "${qemu_uid:-}" = "$uid" ] && ok "QEMU (pid $qemu) runs as oriel" || fail "QEMU (pid ${qemu:-?}) runs as uid '${qemu_uid:-?}', not oriel's $uid"

# systemctl stop: SIGTERM to orield alone (KillMode=process); the desktop lives on.
kill -TERM "$orield"
if wait_for 30 eval '! kill -0 $orield 2>/dev/null'; then
  wait "$orield"
  rc=$?
  [ "$rc" = 0 ] && ok "orield stops on SIGTERM with status 0" || fail "orield exited with status $rc on SIGTERM"
else
  fail "orield still runs 30 s after SIGTERM"
fi
kill -0 "${qemu:-0}" 2>/dev/null && ok "the desktop's QEMU outlives orield (KillMode=process)" || fail "QEMU ended with orield"
finish
