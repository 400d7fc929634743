#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for snni's end-to-end tests and for trying
# `snni run --executor slurm` by hand. Needs root and Debian's slurm-wlm and munge.
#
#   tests/slurm/cluster.sh start              start (or check) munged, slurmctld and slurmd
#   tests/slurm/cluster.sh stop               stop the daemons this script started
#   tests/slurm/cluster.sh conf               print the SLURM_CONF path to export
#   tests/slurm/cluster.sh max-array-size N   set MaxArraySize and reconfigure
#
# Everything lives in $SNNI_SLURM_DIR (default /tmp/snni-slurm); the cluster's settings
# are the ones that work on our machines: proctrack/linuxproc, task/none, no accounting,
# select/cons_tres with CR_Core, and a node line with this host's name, CPUs and memory.
set -euo pipefail

DIR="${SNNI_SLURM_DIR:-/tmp/snni-slurm}"
CONF="$DIR/slurm.conf"
export SLURM_CONF="$CONF"

die() { echo "cluster.sh: $*" >&2; exit 1; }

need_tools() {
  [ "$(id -u)" = 0 ] || die "the daemons must run as root (this is uid $(id -u))"
  local missing=()
  for tool in munged slurmctld slurmd sinfo sbatch squeue scontrol scancel; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  [ ${#missing[@]} = 0 ] || die "missing ${missing[*]}: install them with 'apt-get install slurm-wlm munge'"
}

write_conf() {
  local host cpus mem_mb max_array="${1:-1001}"
  host="$(hostname -s)"
  cpus="$(nproc --all)"
  mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) * 9 / 10 / 1024 ))
  mkdir -p "$DIR/state" "$DIR/slurmd" "$DIR/log"
  cat >"$CONF.new" <<CONF
# Written by tests/slurm/cluster.sh: a single-node cluster for snni's tests.
ClusterName=snni
SlurmctldHost=$host
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/slurmd
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ReturnToService=2
MaxArraySize=$max_array
MinJobAge=300
KillWait=5
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  mv "$CONF.new" "$CONF"
}

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_munge() {
  if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    return
  fi
  [ -s /etc/munge/munge.key ] || {
    if command -v mungekey >/dev/null 2>&1; then mungekey --create --force; else
      dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null; fi
    chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  }
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  chmod 755 /run/munge
  runuser -u munge -- /usr/sbin/munged --force
  for _ in $(seq 50); do
    munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && return
    sleep 0.1
  done
  die "munged did not start (see /var/log/munge/munged.log)"
}

wait_idle() {
  local state=""
  for _ in $(seq 120); do
    state="$(sinfo -h -o %T 2>/dev/null | head -1 || true)"
    case "$state" in
      idle|mixed|allocated|completing) return 0 ;;
      drained|draining|drain|down|"down*"|drained*)
        scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 0.5
  done
  die "the node did not become idle (state '$state'); see $DIR/log/slurmctld.log and $DIR/log/slurmd.log"
}

# The daemons outlive this script: they must not inherit its open files beyond stdio (a
# lock the caller holds, a pipe a test reads to its end), or they hold them for as long as
# they run.
close_inherited_fds() {
  local fd
  for fd in /proc/$$/fd/*; do
    fd="${fd##*/}"
    if [ "$fd" -gt 2 ] && [ "$fd" != 255 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
}

start() {
  need_tools
  close_inherited_fds
  [ -f "$CONF" ] || write_conf
  start_munge
  running "$DIR/slurmctld.pid" || slurmctld -f "$CONF"
  running "$DIR/slurmd.pid" || slurmd -f "$CONF"
  wait_idle
  echo "$CONF"
}

stop() {
  for daemon in slurmd slurmctld; do
    if running "$DIR/$daemon.pid"; then kill "$(cat "$DIR/$daemon.pid")" || true; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  conf) echo "$CONF" ;;
  max-array-size)
    [ -n "${2:-}" ] || die "usage: cluster.sh max-array-size N"
    write_conf "$2"
    scontrol reconfigure
    # Up to 60 s: `scontrol reconfigure` restarts slurmctld, which takes a while on a busy
    # machine. The config is read into a variable first: `grep -q` closing the pipe early
    # would make scontrol die of SIGPIPE and fail the test under pipefail.
    for _ in $(seq 300); do
      shown="$(scontrol show config 2>/dev/null || true)"
      grep -q "MaxArraySize *= *$2\$" <<<"$shown" && { wait_idle; exit 0; }
      sleep 0.2
    done
    die "MaxArraySize did not change to $2 (scontrol show config says: $(scontrol show config | grep MaxArraySize))"
    ;;
  *) die "usage: cluster.sh start|stop|conf|max-array-size N" ;;
esac
