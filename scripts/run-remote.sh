#!/bin/sh
# run-remote.sh opens drillbook on the training WebSphere cell spread over
# four hosts (dmgr, n1, n2, n3) that are all this machine reached through a
# private sshd on a loopback port, so a learner sees remote steps work
# (docs/training.md, "The training cell over SSH"). The sshd runs in the
# foreground of this script with its own host key, client key,
# authorized_keys and config in a temporary directory; no system service,
# no ~/.ssh file is touched, and everything is removed on exit.
#
# usage: scripts/run-remote.sh [DRILLBOOK ARGS...]
#   no arguments opens the runbook picker on the target "cell";
#   arguments are a drillbook command run with DRILLBOOK_TARGETS set to
#   the targets file, e.g.
#     scripts/run-remote.sh run was-sib-restore-me --target cell --plain --yes
#     scripts/run-remote.sh plan was-sib-backup --target cell
set -eu

BIN=${BIN:-bin/drillbook}
SSHD=${SSHD:-/usr/sbin/sshd}
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
[ -x "$BIN" ] || { echo "run-remote: $BIN is not built: run make build" >&2; exit 1; }
[ -x "$SSHD" ] || { echo "run-remote: $SSHD not found: install openssh-server (apt-get install openssh-server)" >&2; exit 1; }
for p in ssh ssh-keygen; do
	command -v "$p" >/dev/null || { echo "run-remote: $p not found: install openssh-client" >&2; exit 1; }
done
if [ "$(id -u)" = 0 ]; then
	# sshd started by root needs its privilege separation directory,
	# which the Debian service would create at boot.
	mkdir -p /run/sshd
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/drillbook-remote.XXXXXX")
sshd_pid=
cleanup() {
	if [ -n "$sshd_pid" ]; then kill "$sshd_pid" 2>/dev/null || true; fi
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

ssh-keygen -q -t ed25519 -N '' -C drillbook-run-remote -f "$dir/host_key"
ssh-keygen -q -t ed25519 -N '' -C drillbook-run-remote -f "$dir/client_key"
cp "$dir/client_key.pub" "$dir/authorized_keys"
user=$(id -un)

# A port in 20000-29999, another if sshd cannot bind it. sshd -D writes
# its pid file once it listens, or exits when it cannot.
tries=0
while :; do
	tries=$((tries + 1))
	port=$((20000 + ($$ * 7 + tries * 7919) % 10000))
	cat > "$dir/sshd_config" <<CONF
# private sshd of drillbook's make run-remote
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
PrintMotd no
PrintLastLog no
MaxSessions 100
CONF
	"$SSHD" -D -e -f "$dir/sshd_config" 2>>"$dir/sshd.log" &
	sshd_pid=$!
	waited=0
	while [ ! -s "$dir/sshd.pid" ] && kill -0 "$sshd_pid" 2>/dev/null && [ $waited -lt 100 ]; do
		sleep 0.1
		waited=$((waited + 1))
	done
	[ -s "$dir/sshd.pid" ] && break
	kill "$sshd_pid" 2>/dev/null || true
	wait "$sshd_pid" 2>/dev/null || true
	sshd_pid=
	if [ $tries -ge 10 ]; then
		echo "run-remote: sshd did not start on a loopback port after $tries tries:" >&2
		cat "$dir/sshd.log" >&2
		exit 1
	fi
done

printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$dir/host_key.pub")" > "$dir/known_hosts"
{
	echo "targets:"
	echo "  cell:"
	echo "    description: the training cell over four hosts behind a private sshd on 127.0.0.1:$port (make run-remote)"
	echo "    simulated: true"
	echo "    hosts:"
	for h in dmgr n1 n2 n3; do
		echo "      $h: {address: 127.0.0.1, port: $port, user: $user, identity_file: $dir/client_key, known_hosts: $dir/known_hosts, agent: $BIN}"
	done
	echo "    was:"
	echo "      training: true"
	echo "      dmgr_host: dmgr"
	echo "      nodes:"
	echo "        node01: {host: n1}"
	echo "        node02: {host: n2}"
	echo "        node03: {host: n3}"
} > "$dir/targets.yaml"
echo "run-remote: sshd on 127.0.0.1:$port (pid $sshd_pid), targets file $dir/targets.yaml; both go away when drillbook exits" >&2

DRILLBOOK_TARGETS=$dir/targets.yaml
export DRILLBOOK_TARGETS
status=0
if [ $# -eq 0 ]; then
	"$BIN" --target cell || status=$?
else
	"$BIN" "$@" || status=$?
fi
exit $status
