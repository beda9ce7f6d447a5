#!/bin/sh
# The reference's verified commands (reference/rabbitmq.md §4, §5.1, §9),
# run bare, for BenchmarkBackupRestore100k to compare drillbook against.
# Usage: bare-backup-restore.sh backup|restore NODE BACKUP_DIR
# The caller exports HOME and ERL_EPMD_PORT for the node and puts the
# RabbitMQ CLI directory first in PATH. Vhost names may hold spaces and
# slashes ("/", "shop/eu ü 5%"): they are read one a line, never split,
# and the CLI inside such a loop reads /dev/null, not the list.
set -eu
what=$1 node=$2 dir=$3
ctl() { rabbitmqctl -n "$node" -q "$@" --timeout 30 </dev/null; }
datadir() { ctl status --formatter json | sed -n 's/.*"data_directory":"\([^"]*\)".*/\1/p'; }
case $what in
backup)
	ctl list_vhosts name | while IFS= read -r v; do ctl list_consumers -p "$v" >/dev/null; done
	mkdir -p "$dir"
	ctl export_definitions "$dir/definitions.json" >/dev/null
	d=$(datadir)
	cp -a "$d/msg_stores" "$dir/msg_stores"
	;;
restore)
	rabbitmq-upgrade -n "$node" -q drain --timeout 30 >/dev/null 2>&1 </dev/null
	ctl import_definitions "$dir/definitions.json" >/dev/null
	# poll until every queue exists (the import is asynchronous), at most 2 minutes
	n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["queues"]))' "$dir/definitions.json")
	tries=0
	while [ "$(ctl list_vhosts name | while IFS= read -r v; do ctl list_queues -p "$v" name; done | wc -l)" -lt "$n" ]; do
		tries=$((tries + 1))
		[ $tries -le 120 ] || { echo "the queues of $dir/definitions.json did not all appear within 2 minutes" >&2; exit 1; }
		sleep 1
	done
	d=$(datadir)
	ctl stop_app >/dev/null
	rm -rf "$d/msg_stores"
	cp -a "$dir/msg_stores" "$d/msg_stores"
	ctl start_app >/dev/null
	rabbitmq-upgrade -n "$node" -q revive --timeout 30 >/dev/null 2>&1 </dev/null
	;;
*) echo "usage: $0 backup|restore NODE DIR" >&2; exit 2 ;;
esac
