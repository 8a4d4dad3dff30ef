#!/usr/bin/env bash
# A single-node Slurm for fanout's tests (tests/cli/slurm/): munged on a private socket,
# slurmctld and slurmd, every file (config, keys, sockets, state, logs, pid files) under one
# directory, on two free TCP ports picked at `up`. Nothing is written to /etc, and no Slurm
# client ever runs here without SLURM_CONF pointing at this config (a client without one looks
# for its controller with a DNS SRV query, off this machine).
#
#   scripts/test-slurm.sh up     install the packages when missing (root, apt), start the
#                                daemons, wait (bounded) for the node to be idle; prints the
#                                `export` lines of `env` on stdout, logs on stderr
#   scripts/test-slurm.sh env    export lines: SLURM_CONF, TEST_SLURM_DIR
#   scripts/test-slurm.sh down   stop the daemons by pid file and remove the directory
#
# TEST_SLURM_DIR (default /tmp/fanout-slurm) is the directory; keep it short (munge's socket
# path must fit in 108 bytes). TEST_SLURM_KEEP=1 keeps it at `down` (the daemons' logs).
set -euo pipefail

DIR=${TEST_SLURM_DIR:-/tmp/fanout-slurm}
CONF=$DIR/slurm.conf
log() { echo "test-slurm: $*" >&2; }
die() { log "$*"; exit 1; }

print_env() {
  echo "export SLURM_CONF=$CONF"
  echo "export TEST_SLURM_DIR=$DIR"
}

# Is PID alive (not a zombie: PID 1 here reaps lazily) and running program COMM?
alive() {
  local pid=$1 comm=$2 state
  [ -r "/proc/$pid/stat" ] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
  state=$(sed 's/^.*) //' "/proc/$pid/stat" | cut -d' ' -f1)
  [ "$state" != Z ]
}

# Stops the daemon whose pid is in FILE, if it is still COMM: TERM, CONT (a stopped one ignores
# TERM), KILL after 5 s.
stop() {
  local file=$1 comm=$2 pid i
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if alive "$pid" "$comm"; then
    kill -TERM "$pid" 2>/dev/null || true
    kill -CONT "$pid" 2>/dev/null || true
    for i in $(seq 50); do alive "$pid" "$comm" || break; sleep 0.1; done
    if alive "$pid" "$comm"; then
      log "$comm ($pid) ignored SIGTERM for 5 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$file"
}

install_missing() {
  local need=()
  command -v munged >/dev/null 2>&1 || need+=(munge)
  command -v slurmctld >/dev/null 2>&1 || need+=(slurmctld)
  command -v slurmd >/dev/null 2>&1 || need+=(slurmd)
  command -v srun >/dev/null 2>&1 || need+=(slurm-client)
  [ ${#need[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 ||
    die "missing ${need[*]}, and not root with apt-get to install them"
  log "installing ${need[*]}"
  # dpkg must not start the daemons (they would use /etc/munge and the default ports).
  local made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  local rc=0
  { apt-get -o DPkg::Lock::Timeout=600 update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
      --no-install-recommends "${need[@]}" >/dev/null; } || rc=$?
  [ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ $rc = 0 ] || die "apt-get install ${need[*]} failed (rc $rc)"
}

# Two distinct TCP ports nothing uses, from a range no service listens on by default.
free_ports() {
  local taken p tries=0 got=()
  taken=$(ss -Htan 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u)
  while [ ${#got[@]} -lt 2 ]; do
    p=$((21000 + RANDOM % 9000))
    if ! grep -qx "$p" <<<"$taken" && [ "${got[*]:-}" != "$p" ]; then got+=("$p"); fi
    tries=$((tries + 1))
    [ $tries -lt 500 ] || die "no free TCP port found"
  done
  echo "${got[@]}"
}

write_config() {
  local ctld_port slurmd_port cpus
  read -r ctld_port slurmd_port <<<"$(free_ports)"
  cpus=$(nproc)
  cat >"$CONF" <<EOF
# Written by fanout's scripts/test-slurm.sh: a single-node test cluster.
ClusterName=fanouttest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/slurmd
SlurmctldPidFile=$DIR/slurmctld.daemon.pid
SlurmdPidFile=$DIR/slurmd.daemon.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
MpiDefault=none
KillWait=5
MailProg=/bin/true
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
PlugStackConfig=$DIR/plugstack.conf
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  : >"$DIR/plugstack.conf"
  log "slurm.conf: controller port $ctld_port, slurmd port $slurmd_port, $cpus CPUs"
}

start_munge() {
  alive "$(cat "$DIR/munged.pid" 2>/dev/null || echo 0)" munged && return 0
  local m=$DIR/munge
  mkdir -p "$m"
  if [ ! -s "$m/munge.key" ]; then
    dd if=/dev/urandom of="$m/munge.key" bs=128 count=1 status=none
  fi
  chown -R munge:munge "$m"
  chmod 755 "$m"
  chmod 400 "$m/munge.key"
  runuser -u munge -- /usr/sbin/munged --socket="$m/munge.socket" --key-file="$m/munge.key" \
    --pid-file="$m/munged.pid" --seed-file="$m/munge.seed" --log-file="$m/munged.log" ||
    die "munged did not start: $(tail -3 "$m/munged.log" 2>/dev/null)"
  # munged forks into the background and writes its pid file.
  local i
  for i in $(seq 50); do [ -s "$m/munged.pid" ] && [ -S "$m/munge.socket" ] && break; sleep 0.1; done
  [ -s "$m/munged.pid" ] || die "munged wrote no pid file"
  cp "$m/munged.pid" "$DIR/munged.pid"
}

# Starts DAEMON (slurmctld or slurmd) in the foreground of its own session, in the background;
# its pid is ours, not one it forks.
start_daemon() {
  local name=$1
  shift
  alive "$(cat "$DIR/$name.pid" 2>/dev/null || echo 0)" "$name" && return 0
  setsid "/usr/sbin/$name" -D -f "$CONF" "$@" </dev/null >>"$DIR/$name.out" 2>&1 &
  echo $! >"$DIR/$name.pid"
}

wait_idle() {
  local i state
  for i in $(seq 150); do
    state=$(SLURM_CONF=$CONF timeout 5 sinfo -h -N -o %T 2>/dev/null || true)
    [ "$state" = idle ] && return 0
    for d in slurmctld slurmd; do
      alive "$(cat "$DIR/$d.pid")" "$d" ||
        die "$d exited: $(tail -5 "$DIR/$d.out" "$DIR/$d.log" 2>/dev/null)"
    done
    sleep 0.2
  done
  die "the node is not idle after 30 s (state: ${state:-none}); see $DIR/*.log"
}

up() {
  install_missing
  mkdir -p "$DIR/ctld" "$DIR/slurmd"
  # munged runs as user munge and must reach its socket and key under it (mktemp -d is 0700).
  chmod 755 "$DIR"
  [ -f "$CONF" ] || write_config
  start_munge
  start_daemon slurmctld -c
  start_daemon slurmd -N localhost
  wait_idle
  SLURM_CONF=$CONF timeout 30 srun -n1 true || die "srun -n1 true failed; see $DIR/*.log"
  log "up: node idle, srun works (SLURM_CONF=$CONF)"
  print_env
}

down() {
  if [ -f "$CONF" ]; then
    # Jobs and allocations left by a test (there should be none) go first, then the daemons.
    SLURM_CONF=$CONF timeout 5 scancel --user=root 2>/dev/null || true
  fi
  stop "$DIR/slurmd.pid" slurmd
  stop "$DIR/slurmctld.pid" slurmctld
  stop "$DIR/munged.pid" munged
  if [ "${TEST_SLURM_KEEP:-0}" = 1 ]; then
    log "down: kept $DIR"
  else
    rm -rf "$DIR"
  fi
}

case ${1:-} in
  up) up ;;
  down) down ;;
  env) print_env ;;
  *) die "usage: scripts/test-slurm.sh up|down|env" ;;
esac
