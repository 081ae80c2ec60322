#!/usr/bin/env bash
# Stop the one-node Slurm cluster of slurm/start-local.sh: cancel its jobs, then stop only the daemons
# it recorded as its own (pid files in /run/dilm-bench-slurm/pids, checked against /proc/PID/comm).
#   slurm/stop-local.sh           keep the state (a later start resumes it)
#   slurm/stop-local.sh --purge   also delete state, logs and the configuration files it wrote
set -uo pipefail

STATE=/var/lib/dilm-bench-slurm
STATE_RUN=/run/dilm-bench-slurm
LOGS=/var/log/dilm-bench-slurm
PIDS=$STATE_RUN/pids
TAG="# written by dilm-bench slurm/start-local.sh"

say() { echo "[slurm/stop-local $(date +%T)] $*"; }
[ "$(id -u)" -eq 0 ] || { say "run as root"; exit 1; }

alive() { [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
pid_of() { local pid; pid=$(cat "$PIDS/$1.pid" 2>/dev/null) || return 1; alive "$pid" "$1" && echo "$pid"; }

if pid_of slurmctld >/dev/null; then
  jobs=$(squeue -h -o %A 2>/dev/null | tr '\n' ' ')
  if [ -n "${jobs// /}" ]; then
    say "cancelling jobs $jobs"
    # shellcheck disable=SC2086
    scancel $jobs 2>/dev/null
    for _ in $(seq 150); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.2; done
  fi
fi

for name in slurmd slurmctld slurmdbd mariadbd munged; do
  pid=$(pid_of "$name") || { rm -f "$PIDS/$name.pid"; continue; }
  say "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 200); do alive "$pid" "$name" || break; sleep 0.1; done
  alive "$pid" "$name" && { say "$name ignored SIGTERM: SIGKILL"; kill -KILL "$pid" 2>/dev/null; }
  rm -f "$PIDS/$name.pid"
done
# job step daemons of our slurmd that outlived it (they keep our slurmd log open)
for pid in $(pgrep -x slurmstepd 2>/dev/null); do
  ls -l "/proc/$pid/fd" 2>/dev/null | grep -q "$LOGS/" && kill -KILL "$pid" 2>/dev/null
done

if [ "${1:-}" = "--purge" ]; then
  say "removing $STATE $LOGS $STATE_RUN and the configuration files it wrote"
  rm -rf "$STATE" "$LOGS" "$STATE_RUN"
  for f in /etc/slurm/slurm.conf /etc/slurm/slurmdbd.conf; do grep -qs "^$TAG" "$f" && rm -f "$f"; done
fi
say "stopped"
