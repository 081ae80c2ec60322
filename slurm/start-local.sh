#!/usr/bin/env bash
# Start a REAL one-node Slurm cluster on this machine, for the tests and for trying the Slurm executor:
# munged, a private MariaDB, slurmdbd (submitit reads job states with sacct only), slurmctld, slurmd.
# Debian/Ubuntu, root, no systemd needed. Idempotent: daemons it started and that still run are kept.
# Every daemon it starts is recorded in $STATE_RUN/pids/<name>.pid; slurm/stop-local.sh stops those only.
#
# Knobs: DILM_SLURM_DB_PORT (3317), DILM_SLURM_PARTITION (debug), DILM_SLURM_WAIT_S (60).
set -euo pipefail

DB_PORT=${DILM_SLURM_DB_PORT:-3317}
PARTITION=${DILM_SLURM_PARTITION:-debug}
WAIT_S=${DILM_SLURM_WAIT_S:-60}
STATE=/var/lib/dilm-bench-slurm          # controller state, slurmd spool, MariaDB datadir
STATE_RUN=/run/dilm-bench-slurm          # pid files, MariaDB socket, our pid records
LOGS=/var/log/dilm-bench-slurm
PIDS=$STATE_RUN/pids
TAG="# written by dilm-bench slurm/start-local.sh"
DB_PASSWORD=dilm-bench-local             # MariaDB listens on 127.0.0.1 only

say() { echo "[slurm/start-local $(date +%T)] $*"; }
fail() { say "ERROR: $*" >&2; for f in "$LOGS"/*.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -n 15 "$f" >&2; }; done; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "run as root (it installs packages and starts daemons)"
mkdir -p "$STATE/ctld" "$STATE/slurmd" "$PIDS" "$LOGS"

# One start at a time. Daemons are started with 8>&- so they do not keep this lock open.
exec 8>"$STATE_RUN/start.lock"
flock -w 300 8 || fail "another start-local.sh holds $STATE_RUN/start.lock"

# is_ours NAME: the pid recorded for NAME is a live, non-zombie process whose command is NAME
is_ours() {
  local pid
  pid=$(cat "$PIDS/$1.pid" 2>/dev/null) || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null
}
# adopt NAME PIDFILE: wait until a forking daemon wrote its pid file, then record it as ours
adopt() {
  for _ in $(seq 100); do
    local pid; pid=$(cat "$2" 2>/dev/null || true)
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ]; then echo "$pid" > "$PIDS/$1.pid"; return 0; fi
    sleep 0.1
  done
  return 1
}

# ---- packages (apt must not start their daemons: we start and own ours)
if ! command -v slurmctld >/dev/null || ! command -v slurmdbd >/dev/null || ! command -v mariadbd >/dev/null \
   || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
  say "installing slurmctld slurmd slurmdbd slurm-client munge mariadb-server"
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; own_policy=1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurmdbd slurm-client munge mariadb-server >/dev/null
  [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

# ---- munge (authentication between the daemons and the clients)
if is_ours munged || { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }; then
  say "munged is running"
else
  [ -s /etc/munge/munge.key ] || { mkdir -p /etc/munge; head -c 1024 /dev/urandom > /etc/munge/munge.key; }
  mkdir -p /run/munge /var/lib/munge /var/log/munge
  chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
  chmod 0700 /etc/munge; chmod 0400 /etc/munge/munge.key
  rm -f /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged 8>&-
  adopt munged /run/munge/munged.pid || fail "munged did not start"
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  say "munged started"
fi

# ---- configuration (regenerated from this machine; RealMemory 90% of what slurmd sees, or the node drains)
HOST=$(hostname -s)
HW=$(slurmd -C | head -n 1)
CPUS=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$HW"); CPUS=${CPUS:-$(nproc)}
MEM=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$HW")
MEM=$(( ${MEM:-$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)} * 9 / 10 ))
mkdir -p /etc/slurm
SLURM_CONF_TEXT="$TAG
ClusterName=dilmbench
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE_RUN/slurmctld.pid
SlurmdPidFile=$STATE_RUN/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/linux
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$(( MEM / CPUS ))
SchedulerParameters=batch_sched_delay=0
KillWait=5
# a requeued job (timeout, preemption) waits out the step credential's life before it starts again: 20 s, not 120
AuthInfo=cred_expire=20
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SlurmdParameters=config_overrides
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP"
DBD_CONF_TEXT="$TAG
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
LogFile=$LOGS/slurmdbd.log
PidFile=$STATE_RUN/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASSWORD
StorageLoc=dilmbench_acct"
changed=0
for pair in "/etc/slurm/slurm.conf:SLURM_CONF_TEXT:644" "/etc/slurm/slurmdbd.conf:DBD_CONF_TEXT:600"; do
  IFS=: read -r file var mode <<<"$pair"
  if [ "$(cat "$file" 2>/dev/null)" != "${!var}" ]; then
    [ -f "$file" ] && ! grep -q "^$TAG" "$file" && cp -p "$file" "$file.before-dilm-bench"
    printf '%s\n' "${!var}" > "$file"; chmod "$mode" "$file"; changed=1
  fi
done
if [ "$changed" = 1 ]; then
  for name in slurmd slurmctld slurmdbd; do is_ours "$name" && kill "$(cat "$PIDS/$name.pid")" && say "restarting $name (new config)"; done
  for _ in $(seq 100); do is_ours slurmd || is_ours slurmctld || is_ours slurmdbd || break; sleep 0.1; done
fi

# ---- MariaDB (private: own datadir, socket and port; /etc/mysql is ignored) and slurmdbd
SOCKET=$STATE_RUN/mariadb.sock
if ! is_ours mariadbd; then
  mkdir -p "$STATE/mysql"; chown mysql:mysql "$STATE/mysql" "$STATE_RUN"
  if [ ! -d "$STATE/mysql/mysql" ]; then
    mariadb-install-db --no-defaults --user=mysql --datadir="$STATE/mysql" --auth-root-authentication-method=socket \
      --skip-test-db > "$LOGS/mariadb-install.log" 2>&1 || fail "mariadb-install-db failed"
  fi
  setsid /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$STATE/mysql" --socket="$SOCKET" --port="$DB_PORT" \
    --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$STATE_RUN/mariadb.pid" --log-error="$LOGS/mariadb.log" \
    --innodb-buffer-pool-size=128M < /dev/null > /dev/null 2>&1 8>&- &
  echo $! > "$PIDS/mariadbd.pid"
  for _ in $(seq 150); do mariadb-admin --no-defaults -S "$SOCKET" -uroot ping >/dev/null 2>&1 && break; sleep 0.2; done
  mariadb-admin --no-defaults -S "$SOCKET" -uroot ping >/dev/null 2>&1 || fail "MariaDB did not come up"
  say "MariaDB started on 127.0.0.1:$DB_PORT"
fi
mariadb --no-defaults -S "$SOCKET" -uroot -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
  GRANT ALL ON dilmbench_acct.* TO 'slurm'@'127.0.0.1';" || fail "could not create the accounting database user"
if ! is_ours slurmdbd; then
  rm -f "$STATE_RUN/slurmdbd.pid"
  /usr/sbin/slurmdbd 8>&-
  adopt slurmdbd "$STATE_RUN/slurmdbd.pid" || fail "slurmdbd did not start"
  for _ in $(seq 150); do sacctmgr -n show cluster >/dev/null 2>&1 && break; sleep 0.2; done
  sacctmgr -n show cluster >/dev/null 2>&1 || fail "slurmdbd does not answer"
  say "slurmdbd started"
fi

# ---- controller and node daemon
if ! is_ours slurmctld; then
  rm -f "$STATE_RUN/slurmctld.pid"
  /usr/sbin/slurmctld 8>&-
  adopt slurmctld "$STATE_RUN/slurmctld.pid" || fail "slurmctld did not start"
  say "slurmctld started"
fi
if ! is_ours slurmd; then
  rm -f "$STATE_RUN/slurmd.pid"
  /usr/sbin/slurmd -N "$HOST" 8>&-
  adopt slurmd "$STATE_RUN/slurmd.pid" || fail "slurmd did not start"
  say "slurmd started"
fi

# ---- wait until the node takes jobs
node_state=""
for _ in $(seq $(( WAIT_S * 5 ))); do
  node_state=$(sinfo -h -n "$HOST" -o %T 2>/dev/null || true)
  case "$node_state" in
    idle|mixed|allocated) break ;;
    drain*|down*) scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true ;;
  esac
  sleep 0.2
done
case "$node_state" in idle|mixed|allocated) ;; *) fail "node $HOST is '$node_state' after ${WAIT_S}s" ;; esac
say "ready: partition $PARTITION, node $HOST ($CPUS CPUs, ${MEM} MB); stop with slurm/stop-local.sh"
