#!/usr/bin/env bash
# slurm-down.sh — stop the one-node Slurm cluster started by scripts/slurm-up.sh: slurmd,
# slurmctld, slurmdbd, mariadbd and munged, by their PID files (SIGTERM, then SIGKILL after 15 s).
# Idempotent: what is not running is skipped. Jobs are not cancelled (scancel them first); the queue
# and accounting data are kept (StateSaveLocation, /var/lib/mysql) and come back with slurm-up.sh.
# Needs: root. Undo: scripts/slurm-up.sh.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "slurm-down.sh: must be run as root" >&2
    exit 1
fi

RUN=/run/slurm

say() { echo "slurm-down: $*"; }

# stop NAME PIDFILE COMM
stop() {
    local pid
    if [[ ! -r $2 ]]; then
        return 0
    fi
    pid=$(<"$2")
    if [[ ! $pid =~ ^[0-9]+$ ]] || [[ ! -r /proc/$pid/comm ]] || [[ $(</proc/$pid/comm) != "$3" ]]; then
        rm -f "$2"  # stale
        return 0
    fi
    say "stopping $1 (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 75); do
        [[ -d /proc/$pid ]] || break
        sleep 0.2
    done
    if [[ -d /proc/$pid ]]; then
        say "$1 (pid $pid) still running after 15 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "$2"
}

stop slurmd "$RUN/slurmd.pid" slurmd
stop slurmctld "$RUN/slurmctld.pid" slurmctld
stop slurmdbd "$RUN/slurmdbd.pid" slurmdbd
stop mariadbd /run/mysqld/mysqld.pid mariadbd
stop munged /run/munge/munged.pid munged
say "all stopped"
