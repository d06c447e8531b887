#!/usr/bin/env bash
# slurm-up.sh — bring up a real one-node Slurm cluster ("merkit") on this machine, for merkit's
# Slurm integration test (tests/test_slurm.py) and for trying `MERKIT_EXECUTOR=slurm` locally.
#
# What it does (idempotent; a second run with everything up takes about a second):
#   1. apt-get installs Debian's slurm-wlm + munge (and slurmdbd + mariadb-server for accounting)
#      if they are missing;
#   2. creates /etc/munge/munge.key if missing and starts munged (as user munge);
#   3. writes /etc/slurm/slurm.conf for this host (node line from `slurmd -C`, one partition
#      "debug", select/cons_tres CR_CPU_Memory, proctrack/linuxproc, no cgroups) and, with
#      accounting, /etc/slurm/slurmdbd.conf;
#   4. with accounting: starts mariadbd (unix-socket only), creates the slurm_acct_db database and
#      the 'slurm'@'localhost' user (unix_socket auth, no password), starts slurmdbd and registers
#      the cluster, so that `sacct` works;
#   5. starts slurmctld and slurmd (daemonised, no systemd needed), waits until `sinfo` shows the
#      node up and prints a one-line summary.
# If slurm.conf/slurmdbd.conf change (e.g. another host name), the running daemons are restarted.
#
# Needs: root, Debian/Ubuntu with apt (tested on Debian 12 bookworm, Slurm 22.05, no systemd).
# Environment: MERKIT_SLURMUP_ACCOUNTING=0 skips slurmdbd/mariadb (then `sacct` fails; merkit's
#   cluster module copes with that), MERKIT_SLURMUP_PARTITION (default debug),
#   MERKIT_SLURMUP_TIMEOUT (seconds to wait for the node, default 60).
# Undo: scripts/slurm-down.sh stops every daemon started here. The packages, /etc/slurm/*.conf,
#   /etc/munge/munge.key and the state under /var/lib/slurm, /var/lib/mysql stay; remove them with
#   `apt-get purge slurm-wlm slurmdbd munge mariadb-server && rm -rf /etc/slurm /var/lib/slurm
#   /var/log/slurm /run/slurm` if wanted.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "slurm-up.sh: must be run as root (it installs packages and starts system daemons)" >&2
    exit 1
fi

ACCOUNTING=${MERKIT_SLURMUP_ACCOUNTING:-1}
PARTITION=${MERKIT_SLURMUP_PARTITION:-debug}
TIMEOUT=${MERKIT_SLURMUP_TIMEOUT:-60}
CLUSTER=merkit
NODE=$(hostname -s)
CONF=/etc/slurm/slurm.conf
DBD_CONF=/etc/slurm/slurmdbd.conf
RUN=/run/slurm
LOG=/var/log/slurm
STATE=/var/lib/slurm

say() { echo "slurm-up: $*"; }
die() { echo "slurm-up: ERROR: $*" >&2; exit 1; }

# pid_alive PIDFILE COMM: the pid file names a live process whose command is COMM
pid_alive() {
    local pid
    [[ -r $1 ]] || return 1
    pid=$(<"$1") || return 1
    [[ $pid =~ ^[0-9]+$ ]] && [[ -r /proc/$pid/comm ]] && [[ $(</proc/$pid/comm) == "$2" ]]
}

log_tails() {
    local f
    for f in "$LOG/slurmctld.log" "$LOG/slurmd.log" "$LOG/slurmdbd.log" /var/log/munge/munged.log \
             /var/log/mysql/error.log; do
        [[ -s $f ]] || continue
        echo "----- tail -n 25 $f" >&2
        tail -n 25 "$f" >&2
    done
    if grep -qs 'Unable to resolve "(null)"' "$LOG"/slurm*.log; then
        echo "hint: Slurm could not bind its port: this machine seems to have no non-loopback IPv4" \
             "address (getaddrinfo AI_ADDRCONFIG); a network-less container cannot run Slurm" >&2
    fi
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.2 s
wait_for() {
    local secs=$1 what=$2 deadline
    shift 2
    deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            log_tails
            die "timed out after ${secs}s waiting for $what"
        fi
        sleep 0.2
    done
}

# --- 1. packages --------------------------------------------------------------------------------
pkgs=(slurm-wlm munge)
if [[ $ACCOUNTING == 1 ]]; then pkgs+=(slurmdbd mariadb-server); fi
missing=()
for p in "${pkgs[@]}"; do
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || missing+=("$p")
done
if ((${#missing[@]})); then
    say "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    # no daemon may be started by the packages' maintainer scripts (invoke-rc.d): this script
    # starts them itself, after writing their configuration
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -qq || say "WARNING: apt-get update failed; trying the install anyway"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
    if [[ $(trap -p EXIT) == *policy-rc.d* ]]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
fi

# --- 2. munge -----------------------------------------------------------------------------------
install -d -o munge -g munge -m 0700 /etc/munge /var/log/munge
install -d -o munge -g munge -m 0711 /var/lib/munge
install -d -o munge -g munge -m 0755 /run/munge
if [[ ! -s /etc/munge/munge.key ]]; then
    say "creating /etc/munge/munge.key"
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if ! pid_alive /run/munge/munged.pid munged; then
    say "starting munged"
    runuser -u munge -- /usr/sbin/munged
fi
wait_for 10 "munged (munge -n | unmunge)" bash -c 'munge -n | unmunge'

# --- 3. configuration ---------------------------------------------------------------------------
install -d -o slurm -g slurm -m 0755 "$RUN" "$LOG" "$STATE" "$STATE/slurmctld"
install -d -o root -g root -m 0755 "$STATE/slurmd" /etc/slurm

# node line from `slurmd -C`, with RealMemory capped by a cgroup memory limit and 5% headroom
hw=$(slurmd -C | sed -n 's/^NodeName=[^ ]* //p' | head -n1)
[[ $hw == *CPUs=* && $hw == *RealMemory=* ]] || die "could not parse \`slurmd -C\`: $(slurmd -C 2>&1)"
cpus=$(sed -n 's/.*\bCPUs=\([0-9]*\).*/\1/p' <<<"$hw")
mem=$(sed -n 's/.*\bRealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
for f in /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes; do
    if [[ -r $f ]] && limit=$(<"$f") && [[ $limit =~ ^[0-9]+$ ]]; then
        if ((limit / 1048576 < mem)); then mem=$((limit / 1048576)); fi
    fi
done
mem=$((mem * 95 / 100))
((mem >= 256)) || die "too little memory for a Slurm node (${mem} MB)"
hw=$(sed "s/\bRealMemory=[0-9]*/RealMemory=$mem/" <<<"$hw")
defmem=$((mem / cpus))

if [[ $ACCOUNTING == 1 ]]; then
    acct="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30"
else
    acct="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
fi

new_conf=$(cat <<EOF
# Written by merkit scripts/slurm-up.sh — a one-node cluster on $NODE; rewritten on every run.
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=$defmem
InactiveLimit=0
KillWait=30
MinJobAge=300
Waittime=0
JobCompType=jobcomp/none
$acct
NodeName=$NODE NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
)

changed=0
# write_if_changed FILE CONTENT OWNER MODE
write_if_changed() {
    if [[ ! -f $1 ]] || [[ $(<"$1") != "$2" ]]; then
        printf '%s\n' "$2" >"$1.new"
        chown "$3" "$1.new"
        chmod "$4" "$1.new"
        mv -f "$1.new" "$1"
        changed=1
        say "wrote $1"
    fi
}
write_if_changed "$CONF" "$new_conf" root:root 0644
conf_changed=$changed
dbd_changed=0

if [[ $ACCOUNTING == 1 ]]; then
    new_dbd=$(cat <<EOF
# Written by merkit scripts/slurm-up.sh; rewritten on every run.
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=slurm
PidFile=$RUN/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StorageLoc=slurm_acct_db
EOF
)
    changed=0
    write_if_changed "$DBD_CONF" "$new_dbd" slurm:slurm 0600
    dbd_changed=$changed
fi

# a changed configuration restarts what runs with the old one (slurmdbd only for slurmdbd.conf)
restart=()
if ((conf_changed)); then restart+=(slurmd slurmctld); fi
if ((dbd_changed)); then restart+=(slurmdbd); fi
if ((${#restart[@]})); then
    for d in "${restart[@]}"; do
        if pid_alive "$RUN/$d.pid" "$d"; then
            say "configuration changed: restarting $d"
            pid=$(<"$RUN/$d.pid")
            kill "$pid"
            for _ in $(seq 75); do pid_alive "$RUN/$d.pid" "$d" || break; sleep 0.2; done
            if pid_alive "$RUN/$d.pid" "$d"; then kill -KILL "$pid"; sleep 0.5; fi
        fi
    done
fi

# --- 4. accounting: mariadb + slurmdbd ----------------------------------------------------------
if [[ $ACCOUNTING == 1 ]]; then
    if ! mariadb-admin --no-defaults --protocol=socket --socket=/run/mysqld/mysqld.sock ping >/dev/null 2>&1; then
        install -d -o mysql -g mysql -m 0755 /run/mysqld
        install -d -o mysql -g adm -m 2750 /var/log/mysql
        if [[ ! -d /var/lib/mysql/mysql ]]; then
            say "initialising /var/lib/mysql"
            mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db >/dev/null
        fi
        say "starting mariadbd"
        setsid /usr/sbin/mariadbd --user=mysql --skip-networking \
            --log-error=/var/log/mysql/error.log --pid-file=/run/mysqld/mysqld.pid \
            --innodb-buffer-pool-size=256M --innodb-lock-wait-timeout=900 \
            </dev/null >/dev/null 2>&1 &
        wait_for 60 "mariadbd (mariadb-admin ping)" \
            mariadb-admin --no-defaults --protocol=socket --socket=/run/mysqld/mysqld.sock ping
    fi
    mariadb --protocol=socket -e "
        CREATE DATABASE IF NOT EXISTS slurm_acct_db;
        CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED VIA unix_socket;
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';" \
        || { log_tails; die "could not create the slurm_acct_db database/user in mariadb"; }
    if ! pid_alive "$RUN/slurmdbd.pid" slurmdbd; then
        say "starting slurmdbd"
        /usr/sbin/slurmdbd || { log_tails; die "slurmdbd did not start"; }
    fi
    wait_for 60 "slurmdbd (sacctmgr list cluster)" sacctmgr -n list cluster
    if [[ -z $(sacctmgr -n -P list cluster "$CLUSTER" format=cluster) ]]; then
        sacctmgr -i -Q add cluster "$CLUSTER" >/dev/null
    fi
fi

# --- 5. slurmctld + slurmd ----------------------------------------------------------------------
if ! pid_alive "$RUN/slurmctld.pid" slurmctld; then
    say "starting slurmctld"
    /usr/sbin/slurmctld || { log_tails; die "slurmctld did not start"; }
fi
wait_for 30 "slurmctld (scontrol ping)" bash -c 'scontrol ping | grep -q UP'
if ! pid_alive "$RUN/slurmd.pid" slurmd; then
    say "starting slurmd"
    /usr/sbin/slurmd -N "$NODE" || { log_tails; die "slurmd did not start"; }
fi

node_state() { sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | head -n1; }
deadline=$((SECONDS + TIMEOUT))
resumed=0
while :; do
    state=$(node_state)
    case $state in
        idle | mixed | allocated | completing) break ;;
        down | drained | draining | fail)  # e.g. a node left down by an earlier run: once, resume it
            if ((!resumed)); then
                resumed=1
                scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
            fi ;;
    esac
    if ((SECONDS >= deadline)); then
        sinfo -N -l >&2 || true
        scontrol show node "$NODE" >&2 || true
        log_tails
        die "node $NODE is '${state:-?}', not idle, after ${TIMEOUT}s"
    fi
    sleep 0.3
done

acct_word=$([[ $ACCOUNTING == 1 ]] && echo "on (slurmdbd+mariadb)" || echo off)
echo "slurm-up: cluster $CLUSTER UP: node $NODE ($state), CPUs=$cpus, RealMemory=${mem}MB" \
     "(DefMemPerCPU=${defmem}MB), partition $PARTITION (default), accounting $acct_word"
