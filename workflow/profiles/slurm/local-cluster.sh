#!/usr/bin/env bash
# A throwaway one-node SLURM cluster on this machine (loopback only), to try the SLURM profile
# without a real cluster; tests/test_slurm_cluster.py and CI (.ci/run) use it. Needs root and
# Debian/Ubuntu (apt-get); no accounting (slurmdbd), so it is the "cluster without accounting"
# case of docs/workflow.md (the profile's `slurm-status-command: squeue`).
#
#   local-cluster.sh install                        # apt-get install slurmctld slurmd slurm-client munge (once)
#   local-cluster.sh start DIR [--owner PID]        # install if needed, start, wait until the node is idle
#   export SLURM_CONF=DIR/slurm.conf                # then sbatch/squeue/snakemake --profile ... use it
#   local-cluster.sh status DIR                     # daemons alive? sinfo
#   local-cluster.sh stop DIR                       # cancel its jobs, stop exactly the daemons it started
#
# Everything lives under DIR: slurm.conf, the munge key and socket, the controller's state, the
# node's spool, the logs (DIR/log/) and DIR/pids, which records "name pid start-time" of each
# daemon started; `stop` signals only those processes (a PID reused by another process since has
# another start time and is left alone). The daemons listen on 127.0.0.1 only, on free ports picked
# at start.
# With --owner PID a watcher stops the cluster when process PID exits (a killed test run leaves no
# daemons behind). Outside DIR, start links /run/slurm/conf to DIR (the srun inside each job reads
# its config there, see link_runtime_config) and, only if the hostname does not resolve to a
# loopback address, adds "127.0.0.1 <hostname>" to /etc/hosts; stop removes exactly these.
# One such cluster at a time per machine (the /run/slurm/conf link); it refuses to start next to a
# SLURM configured in /etc/slurm/slurm.conf.
# Environment: LOCAL_SLURM_START_TIMEOUT (seconds to wait for the idle node, default 90).
# Exit status of start: 0 running, 3 the SLURM packages could not be installed, 4 another such
# cluster runs on this machine, 1 anything else.
set -euo pipefail

PACKAGES=(slurmctld slurmd slurm-client munge)
BINARIES=(slurmctld slurmd sbatch squeue sinfo scontrol scancel munged munge)
HOSTS_MARK="# added by rnn-lyapunov local-cluster.sh for"

die() { echo "local-cluster.sh: $*" >&2; exit 1; }
say() { echo "local-cluster.sh: $*" >&2; }

usage() {
    sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

installed() {
    local binary
    for binary in "${BINARIES[@]}"; do
        command -v "$binary" >/dev/null 2>&1 || [[ -x /usr/sbin/$binary ]] || return 1
    done
}

install_packages() {
    export PATH="$PATH:/usr/sbin:/sbin"
    if installed; then
        return 0
    fi
    [[ $(id -u) -eq 0 ]] || { echo "local-cluster.sh: installing SLURM needs root" >&2; return 3; }
    command -v apt-get >/dev/null 2>&1 || { echo "local-cluster.sh: apt-get not found; install ${PACKAGES[*]} by hand" >&2; return 3; }
    # The packages' post-install scripts would start munge/slurmd/slurmctld as system services from
    # /etc; a policy-rc.d that answers 101 stops that (Docker images ship one; add it only if absent).
    local policy=/usr/sbin/policy-rc.d added_policy=0 status=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\n# temporary, from rnn-lyapunov local-cluster.sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        added_policy=1
    fi
    say "installing ${PACKAGES[*]} with apt-get"
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"
    } >&2 || status=$?
    if ((added_policy)); then
        rm -f "$policy"
    fi
    if ((status != 0)) || ! installed; then
        echo "local-cluster.sh: apt-get could not install ${PACKAGES[*]} (exit status $status)" >&2
        return 3
    fi
}

# "name pid start-time" of a running process, start time from /proc (field 22 of stat).
start_time() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }                      # the fields after "(comm) "
    read -r -a fields <<<"$stat"
    echo "${fields[19]}"
}

record() {  # record NAME PID
    local started
    started=$(start_time "$2") || die "$1 (pid $2) exited right after starting"
    echo "$1 $2 $started" >>"$DIR/pids"
}

alive() {  # alive PID START-TIME: the recorded process still runs
    [[ -e /proc/$1 ]] && [[ $(start_time "$1" 2>/dev/null) == "$2" ]]
}

tail_logs() {  # the end of each daemon's log (stderr, DIR/log/NAME.out, where it wrote no log file)
    local name log
    for name in munged slurmctld slurmd; do
        log=$DIR/log/$name.log
        [[ -s $log ]] || log=$DIR/log/$name.out
        [[ -s $log ]] || continue
        echo "----- last lines of $log -----" >&2
        tail -n 25 "$log" >&2
    done
}

free_ports() {  # two free TCP ports on 127.0.0.1
    python3 - <<'EOF' 2>/dev/null || echo "6817 6818"
import socket
sockets = [socket.socket() for _ in range(2)]
for handle in sockets:
    handle.bind(("127.0.0.1", 0))
print(*(handle.getsockname()[1] for handle in sockets))
EOF
}

ensure_hostname_resolves() {
    local host=$1 addresses
    addresses=$(getent ahostsv4 "$host" 2>/dev/null | awk '{print $1}' | sort -u || true)
    if grep -q '^127\.' <<<"$addresses"; then
        return 0
    fi
    say "hostname $host does not resolve to 127.0.0.1; adding it to /etc/hosts until stop"
    local line="127.0.0.1 $host $HOSTS_MARK $DIR"
    # Written in place (not renamed over): /etc/hosts is often a bind mount in containers.
    { echo "$line"; cat /etc/hosts; } >"$DIR/hosts.new"
    cat "$DIR/hosts.new" >/etc/hosts
    rm -f "$DIR/hosts.new"
    echo "$line" >"$DIR/hosts-line"
}

restore_hosts() {
    [[ -f $DIR/hosts-line ]] || return 0
    local line
    line=$(cat "$DIR/hosts-line")
    if grep -qxF "$line" /etc/hosts; then
        grep -vxF "$line" /etc/hosts >"$DIR/hosts.new" || true
        cat "$DIR/hosts.new" >/etc/hosts
        rm -f "$DIR/hosts.new"
        say "removed the line it had added to /etc/hosts"
    fi
    rm -f "$DIR/hosts-line"
}

# The srun that runs each Snakemake job inside its allocation gets no SLURM_CONF (the jobstep plugin
# drops every SLURM_* variable), so it reads /etc/slurm/slurm.conf or else /run/slurm/conf/slurm.conf
# (where a configless slurmd caches its config). start links /run/slurm/conf to DIR while it runs.
link_runtime_config() {
    if [[ -e /etc/slurm/slurm.conf ]]; then
        die "/etc/slurm/slurm.conf exists (a SLURM installation on this machine): the jobs' srun would read it instead of $DIR/slurm.conf; use that cluster, or move it away"
    fi
    if [[ -L /run/slurm/conf ]]; then
        local other
        other=$(readlink /run/slurm/conf)
        if [[ -s $other/pids ]] && DIR=$other running; then
            say "another local cluster runs from $other (/run/slurm/conf points there); stop it first"
            exit 4
        fi
        rm -f /run/slurm/conf                              # left by a cluster that is gone
    elif [[ -e /run/slurm/conf ]]; then
        die "/run/slurm/conf exists (a configless slurmd on this machine?); the jobs' srun would read it"
    fi
    if [[ ! -d /run/slurm ]]; then
        mkdir -p /run/slurm
        touch "$DIR/created-run-slurm"
    fi
    ln -s "$DIR" /run/slurm/conf
}

unlink_runtime_config() {
    if [[ -L /run/slurm/conf && $(readlink /run/slurm/conf) == "$DIR" ]]; then
        rm -f /run/slurm/conf
    fi
    if [[ -f $DIR/created-run-slurm ]]; then
        rmdir /run/slurm 2>/dev/null || true
        rm -f "$DIR/created-run-slurm"
    fi
}

running() {  # every recorded daemon alive
    [[ -s $DIR/pids ]] || return 1
    local name pid started
    while read -r name pid started; do
        [[ $name == watcher ]] && continue
        alive "$pid" "$started" || return 1
    done <"$DIR/pids"
}

write_config() {
    local host=$1 ctld_port=$2 slurmd_port=$3 cpus memory_mb available_mb
    cpus=$(nproc)
    available_mb=$(awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo)
    # What jobs may ask for: the free memory less a margin for the daemons and the submitting shell.
    memory_mb=$((available_mb - available_mb / 10 - 512))
    ((memory_mb >= 1000)) || memory_mb=1000
    cat >"$DIR/slurm.conf" <<EOF
# Written by local-cluster.sh: one node on loopback, no accounting. Clients: SLURM_CONF=$DIR/slurm.conf
ClusterName=localcluster
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Finished jobs stay visible to squeue this long (the profile's squeue status checks need >= 180 s;
# an hour lets a test list every job of its run at the end).
MinJobAge=3600
KillWait=5
ReturnToService=2
MailProg=/bin/true
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
# Up to 4 jobs share a core: the many small jobs of a test run side by side on a small machine.
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds
    local seconds=$1 description=$2 deadline
    shift 2
    deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            say "timed out after ${seconds}s waiting for $description"
            return 1
        fi
        running || { say "a daemon exited while waiting for $description"; return 1; }
        sleep 0.5
    done
}

node_idle() {
    [[ $(SLURM_CONF=$DIR/slurm.conf sinfo --noheader --Node --format=%t 2>/dev/null) == idle ]]
}

start_daemon() {  # start_daemon NAME COMMAND...: in its own session, output to DIR/log/NAME.out
    setsid "${@:2}" </dev/null >>"$DIR/log/$1.out" 2>&1 &
    local pid=$!
    record "$1" "$pid"          # at once (exec keeps the PID and start time): stop must know it
    sleep 0.2
    alive "$pid" "$(tail -n 1 "$DIR/pids" | cut -d' ' -f3)" || die "$1 (pid $pid) exited right after starting"
}

cmd_start() {
    local owner=""
    if [[ ${1:-} == --owner ]]; then
        owner=${2:?--owner needs a PID}
    fi
    [[ $(id -u) -eq 0 ]] || die "start needs root (it starts munged, slurmctld and slurmd)"
    install_packages || exit 3
    if running; then
        die "a cluster already runs from $DIR (stop it first)"
    fi
    # Leftovers of an earlier cluster in DIR: only files (its daemons are gone, checked above).
    rm -rf "$DIR/state" "$DIR/spool" "$DIR/munge" "$DIR/log" "$DIR/pids"
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/munge"
    chmod 700 "$DIR/state" "$DIR/spool"
    chmod 755 "$DIR/munge"
    trap 'status=$?; if ((status != 0)); then tail_logs; cmd_stop >&2 || true; fi' EXIT
    trap 'exit 1' INT TERM HUP   # interrupted: the EXIT trap stops what was started

    local host ports
    host=$(hostname -s)
    ensure_hostname_resolves "$host"
    read -r -a ports <<<"$(free_ports)"
    write_config "$host" "${ports[0]}" "${ports[1]}"
    link_runtime_config

    # munged as root with --force: DIR may sit below directories only root can enter (pytest's
    # tmp dirs), which munged's strict path checks would otherwise refuse.
    mungekey --create --keyfile="$DIR/munge/munge.key" --bits=1024 >/dev/null 2>&1 ||
        dd if=/dev/urandom of="$DIR/munge/munge.key" bs=128 count=1 status=none
    chmod 400 "$DIR/munge/munge.key"
    start_daemon munged munged --foreground --force --key-file="$DIR/munge/munge.key" \
        --socket="$DIR/munge/munge.socket" --pid-file="$DIR/munge/munged.pid" \
        --seed-file="$DIR/munge/munged.seed"
    wait_for 20 "munged" bash -c "munge --socket='$DIR/munge/munge.socket' --no-input | unmunge --socket='$DIR/munge/munge.socket'"

    start_daemon slurmctld slurmctld -D -f "$DIR/slurm.conf"
    wait_for 30 "slurmctld" env SLURM_CONF="$DIR/slurm.conf" scontrol ping
    start_daemon slurmd slurmd -D -f "$DIR/slurm.conf" -N "$host"
    wait_for "${LOCAL_SLURM_START_TIMEOUT:-90}" "node $host to become idle" node_idle ||
        { SLURM_CONF=$DIR/slurm.conf sinfo --Node --long >&2 || true; exit 1; }

    if [[ -n $owner ]]; then
        # Stops the cluster when the owner exits without calling stop (killed test run).
        # shellcheck disable=SC2016  # expanded by the watcher's bash, from its arguments
        setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; exec bash "$2" stop "$3"' \
            watcher "$owner" "$(realpath "$0")" "$DIR" </dev/null >>"$DIR/log/watcher.out" 2>&1 &
        record watcher $!
    fi
    trap - EXIT INT TERM HUP
    say "one-node cluster up: node $host ($(nproc) CPUs), controller on 127.0.0.1:${ports[0]}"
    echo "export SLURM_CONF=$DIR/slurm.conf"
}

cmd_stop() {
    [[ -f $DIR/pids ]] || { unlink_runtime_config; restore_hosts; say "nothing recorded in $DIR/pids"; return 0; }
    local name pid started deadline
    # Jobs first: their slurmstepd processes would outlive slurmd.
    if [[ -f $DIR/slurm.conf ]] && SLURM_CONF=$DIR/slurm.conf scontrol ping >/dev/null 2>&1; then
        local jobs
        jobs=$(SLURM_CONF=$DIR/slurm.conf squeue --noheader --format=%i --states=PENDING,RUNNING,SUSPENDED,COMPLETING 2>/dev/null || true)
        if [[ -n $jobs ]]; then
            say "cancelling jobs ${jobs//$'\n'/ }"
            # shellcheck disable=SC2086
            SLURM_CONF=$DIR/slurm.conf scancel $jobs 2>/dev/null || true
            deadline=$((SECONDS + 20))
            while ((SECONDS < deadline)) && [[ -n $(SLURM_CONF=$DIR/slurm.conf squeue --noheader --format=%i 2>/dev/null) ]]; do
                sleep 0.5
            done
        fi
    fi
    # Reverse start order: watcher, slurmd, slurmctld, munged.
    tac "$DIR/pids" | while read -r name pid started; do
        [[ $pid == "$$" ]] && continue   # the watcher itself runs this stop (it execs into it)
        if alive "$pid" "$started"; then
            kill -TERM "$pid" 2>/dev/null || true
            deadline=$((SECONDS + 15))
            while alive "$pid" "$started" && ((SECONDS < deadline)); do sleep 0.2; done
            if alive "$pid" "$started"; then
                say "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
            fi
            [[ $name == watcher ]] || say "stopped $name (pid $pid)"
        fi
    done
    rm -f "$DIR/pids"
    unlink_runtime_config
    restore_hosts
}

cmd_status() {
    [[ -s $DIR/pids ]] || { echo "no cluster recorded in $DIR"; return 1; }
    local name pid started state=0
    while read -r name pid started; do
        if alive "$pid" "$started"; then echo "$name: running (pid $pid)"; else echo "$name: not running"; state=1; fi
    done <"$DIR/pids"
    SLURM_CONF=$DIR/slurm.conf sinfo --Node --long 2>/dev/null || true
    return $state
}

command=${1:-}
case $command in
    install)
        install_packages
        ;;
    start | stop | status)
        [[ -n ${2:-} ]] || usage
        mkdir -p "$2"
        DIR=$(realpath "$2")
        export PATH="$PATH:/usr/sbin:/sbin"
        shift 2
        if [[ $command == stop ]]; then
            cmd_stop
        else
            "cmd_$command" "$@"
        fi
        ;;
    *)
        usage
        ;;
esac
