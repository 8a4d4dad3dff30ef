#!/usr/bin/env bash
# Staging SSH hosts for fanout's ssh tests (tests/cli/ssh.rs), on this machine: N hosts h1..hN,
# each a network namespace on a private bridge with its own hostname, its own sshd (OpenSSH's
# default MaxStartups and MaxSessions) and an empty private tmpfs on the test user's home, so a file sent to h1 is really absent on h2 and here. Login is key-only, as the user
# `fotest`, whose shell is /bin/sh. Needs root; installs openssh-server, openssh-client, rsync
# and iproute2 with apt when missing (with a policy-rc.d so dpkg starts no daemon).
#
#   scripts/test-hosts.sh up      start everything (idempotent); prints lines to eval
#   scripts/test-hosts.sh env     the same lines, for hosts already up
#   scripts/test-hosts.sh down    stop and delete everything this script made (idempotent)
#   scripts/test-hosts.sh fault link-down|link-up|sshd-kill|sshd-kill-listener|sshd-start I
#
# Names are prefixed `fo` (netns fo-h1.., bridge fo-br0, veths fo-v1..) on 198.19.77.0/24, so
# they cannot collide with other test set-ups. Settings: FO_HOSTS_DIR (state, default
# /tmp/fo-hosts), FO_HOSTS_N (3), FO_HOSTS_SET (0-9, default 0: a second set of hosts beside the
# first, for two test runs at once: set K is prefixed `foK` on 198.19.(77+K).0/24; kept in the
# state directory, so `env`, `fault` and `down` need only FO_HOSTS_DIR). The exported variables: FO_HOSTS_DIR, FO_SSH_CONFIG (ssh -F
# file with aliases h1..hN, BatchMode, no host-key checks, ConnectTimeout 5), FO_HOSTS.
set -euo pipefail

DIR=${FO_HOSTS_DIR:-/tmp/fo-hosts}
N=${FO_HOSTS_N:-3}
SET=${FO_HOSTS_SET:-$(cat "$DIR/set" 2>/dev/null || echo 0)}
case $SET in [0-9]) ;; *) echo "test-hosts: FO_HOSTS_SET must be 0-9" >&2; exit 1 ;; esac
P=fo; [ "$SET" = 0 ] || P=fo$SET
NET=198.19.$((77 + SET))
BR=$P-br0
TUSER=fotest
THOME=/home/$TUSER

log() { echo "test-hosts: $*" >&2; }
die() { log "$*"; exit 1; }

install_missing() {
  local need=()
  [ -x /usr/sbin/sshd ] || need+=(openssh-server)
  command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
  command -v rsync >/dev/null 2>&1 || need+=(rsync)
  command -v ip >/dev/null 2>&1 || need+=(iproute2)
  command -v setsid >/dev/null 2>&1 || need+=(util-linux)
  [ ${#need[@]} -eq 0 ] && return 0
  log "installing ${need[*]}"
  local made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need[@]}" >&2
  [ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
  return 0
}

alive() { # pid P runs program NAME (a zombie is gone: PID 1 here reaps lazily)
  [ "$(cat /proc/$1/comm 2>/dev/null)" = "$2" ] && [ "$(awk '{print $3}' /proc/$1/stat 2>/dev/null)" != Z ]
}

holder_pid() { # the `sleep infinity` holding host I's namespaces, if alive
  local f=$DIR/h$1/holder.pid p
  [ -f "$f" ] || return 1
  p=$(cat "$f")
  alive "$p" sleep && echo "$p"
}

sshd_pid() { # host I's listening sshd, if alive
  local f=$DIR/h$1/sshd.pid p
  [ -f "$f" ] || return 1
  p=$(cat "$f")
  alive "$p" sshd && echo "$p"
}

start_sshd() {
  local i=$1 h
  sshd_pid "$i" >/dev/null && return 0
  h=$(holder_pid "$i") || die "host h$i is not up"
  mkdir -p /run/sshd
  nsenter -t "$h" -n -m -u /usr/sbin/sshd -f "$DIR/h$i/sshd_config" -E "$DIR/h$i/sshd.log"
  for _ in $(seq 50); do sshd_pid "$i" >/dev/null && return 0; sleep 0.1; done
  die "sshd of h$i did not start: see $DIR/h$i/sshd.log"
}

up_host() {
  local i=$1 ip=$NET.$((10 + $1)) ns=$P-h$1 v=$P-v$1
  mkdir -p "$DIR/h$i"
  if ! ip netns list | grep -qw "$ns"; then
    ip netns add "$ns"
    touch "$DIR/h$i/ns"
  fi
  [ -f "$DIR/h$i/ns" ] || die "netns $ns exists but was not made here: run down, or remove it"
  if ! ip link show "$v" >/dev/null 2>&1; then
    ip link add "$v" type veth peer name eth0 netns "$ns"
    ip link set "$v" master $BR up
    ip -n "$ns" addr add "$ip/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
  fi
  if ! holder_pid "$i" >/dev/null; then
    local uid gid
    uid=$(id -u $TUSER) gid=$(id -g $TUSER)
    setsid ip netns exec "$ns" unshare --uts --mount --propagation private sh -c "
      hostname h$i &&
      mount -t tmpfs -o mode=0755,uid=$uid,gid=$gid,size=64m fo-home $THOME &&
      mkdir -m 700 $THOME/.ssh && cp '$DIR/id_ed25519.pub' $THOME/.ssh/authorized_keys &&
      chown -R $uid:$gid $THOME/.ssh && echo \$\$ > '$DIR/h$i/holder.pid' && exec sleep infinity
    " </dev/null >"$DIR/h$i/holder.log" 2>&1 &
    for _ in $(seq 50); do holder_pid "$i" >/dev/null && break; sleep 0.1; done
    holder_pid "$i" >/dev/null || die "host h$i did not start: see $DIR/h$i/holder.log"
  fi
  cat >"$DIR/h$i/sshd_config" <<EOF
ListenAddress $ip
Port 22
HostKey $DIR/host_ed25519
PidFile $DIR/h$i/sshd.pid
AuthorizedKeysFile .ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers $TUSER
UsePAM no
LogLevel VERBOSE
Subsystem sftp internal-sftp
EOF
  start_sshd "$i"
}

print_env() {
  echo "export FO_HOSTS_DIR='$DIR'"
  echo "export FO_SSH_CONFIG='$DIR/ssh_config'"
  echo "export FO_HOSTS='$(seq -f 'h%g' -s ' ' "$N")'"
}

up() {
  [ "$(id -u)" = 0 ] || die "needs root (network namespaces, sshd)"
  install_missing
  mkdir -p "$DIR"
  echo "$N" >"$DIR/n"
  echo "$SET" >"$DIR/set"
  id $TUSER >/dev/null 2>&1 || useradd -M -d $THOME -s /bin/sh $TUSER
  # Not locked (`!`), which sshd refuses without PAM; no password either.
  usermod -p "*" $TUSER
  mkdir -p $THOME
  [ -f "$DIR/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$DIR/id_ed25519"
  [ -f "$DIR/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$DIR/host_ed25519"
  if ! ip link show $BR >/dev/null 2>&1; then
    if ip -br addr | grep -q " $NET\."; then die "$NET.0/24 is already in use here"; fi
    ip link add $BR type bridge
    ip addr add $NET.1/24 dev $BR
    ip link set $BR up
    touch "$DIR/bridge"
  fi
  [ -f "$DIR/bridge" ] || die "bridge $BR exists but was not made here: run down, or remove it"
  {
    for i in $(seq "$N"); do printf 'Host h%s\n  HostName %s\n' "$i" "$NET.$((10 + i))"; done
    cat <<EOF
Host *
  User $TUSER
  IdentityFile $DIR/id_ed25519
  IdentitiesOnly yes
  BatchMode yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
  ConnectTimeout 5
EOF
  } >"$DIR/ssh_config"
  for i in $(seq "$N"); do up_host "$i"; done
  for i in $(seq "$N"); do
    local got
    got=$(ssh -F "$DIR/ssh_config" "h$i" hostname) || die "ssh h$i failed"
    [ "$got" = "h$i" ] || die "ssh h$i reached $got"
  done
  log "up: $(seq -f 'h%g' -s ' ' "$N") (state in $DIR)"
  print_env
}

kill_wait() { # TERM, CONT, then KILL after 5 s; a zombie counts as gone
  local pids=("$@") p
  [ ${#pids[@]} -eq 0 ] && return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  kill -CONT "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 50); do
    local left=0
    for p in "${pids[@]}"; do
      [ -d /proc/$p ] && [ "$(awk '{print $3}' /proc/$p/stat 2>/dev/null)" != Z ] && left=1
    done
    [ $left = 0 ] && return 0
    sleep 0.1
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

down() {
  [ -d "$DIR" ] || return 0
  local n
  n=$(cat "$DIR/n" 2>/dev/null || echo "$N")
  for i in $(seq "$n"); do
    # Everything in the host (remote jobs too) ends first, so clients get their FIN.
    if [ -f "$DIR/h$i/ns" ]; then
      mapfile -t pids < <(ip netns pids "$P-h$i" 2>/dev/null || true)
      kill_wait "${pids[@]}"
      ip link del "$P-v$i" 2>/dev/null || true
      ip netns del "$P-h$i" 2>/dev/null || true
    fi
  done
  if [ -f "$DIR/bridge" ]; then ip link del $BR 2>/dev/null || true; fi
  rm -rf "$DIR"
  log "down"
}

fault() {
  local kind=${1:-} i=${2:-}
  [ -n "$i" ] || die "usage: fault link-down|link-up|sshd-kill|sshd-kill-listener|sshd-start I"
  case $kind in
    link-down) ip link set "$P-v$i" down ;;
    link-up) ip link set "$P-v$i" up ;;
    sshd-kill) # the listener and every connection's sshd: sessions break, new ones are refused
      for p in $(ip netns pids "$P-h$i"); do
        [ "$(cat /proc/$p/comm 2>/dev/null)" = sshd ] && kill -KILL "$p" 2>/dev/null
      done
      true ;;
    sshd-kill-listener) p=$(sshd_pid "$i") && kill -KILL "$p" ;;
    sshd-start) start_sshd "$i" ;;
    *) die "unknown fault $kind" ;;
  esac
}

case ${1:-} in
  up) up ;;
  env) print_env ;;
  down) down ;;
  fault) shift; fault "$@" ;;
  *) die "usage: $0 up|env|down|fault KIND I" ;;
esac
