#!/usr/bin/env bash
# Makes the journals the report tests read, with the real binary: real runs
# on the training target and of shell steps, in plain mode and in the screen
# (driven through tmux). Run from the repository root:
#
#   runbook/testdata/reports/make-journals.sh [NAME...]
#   go test ./runbook -run TestReportGolden -update
#
# With names (demo-notes, was-flush-fails, records-auto, records-ops) it
# makes only those.
#
# It takes about a minute and a half (the WebSphere drill runs at the
# simulated cell's normal pace). The journals keep the paths, host name and
# times of the run that made them; the golden reports are rendered from them.
set -euo pipefail
here=runbook/testdata/reports
work=$(mktemp -d /tmp/drillbook-journals.XXXXXX)
trap 'tmux -S "$work/tmux.sock" kill-server 2>/dev/null || true' EXIT
# Built from a clone of the committed tree, so the journals record a
# drillbook with its revision (a git worktree's .git is a file, which Go's
# version stamping does not follow).
git clone -q "$(git rev-parse --show-toplevel)" "$work/src"
(cd "$work/src" && go build -buildvcs=true -o "$work/drillbook" ./cmd/drillbook)
db="$work/drillbook"
export DRILLBOOK_OPERATOR=drill-lead
only=" ${*:-demo-notes was-flush-fails records-auto records-ops} "
want() { [[ $only == *" $1 "* ]]; }
keep() { # keep NAME STATE: copy the state's only run's journal
  cp "$(ls -d "$2"/runs/*/ | head -1)journal.jsonl" "$here/$1.jsonl"
  echo "kept $here/$1.jsonl"
}

# 1. demo-notes: the shipped demo with notes, stopped at its destructive
# step in plain mode and resumed with the confirmation.
if want demo-notes; then
st="$work/demo" && mkdir -p "$st/w"
DRILLBOOK_STATE_DIR="$st" "$db" run demo-shell --plain --param workdir="$st/w" \
  --note 'tell=posted in #inc-42' --run-note 'first drill of the quarter' >/dev/null || true
sleep 1
DRILLBOOK_STATE_DIR="$st" "$db" resume last --plain --confirm wipe=demo --confirm tell=done \
  --note 'wipe=scratch was already gone' >/dev/null
keep demo-notes "$st"
fi

# 2. was-flush-fails: the WebSphere restore drill on the training cell with
# the first FLUSH start failing (CWSIP0782E) and retried.
if want was-flush-fails; then
st="$work/was"
DRILLBOOK_STATE_DIR="$st" "$db" run was-sib-restore-me --plain --yes --scenario flush-fails \
  --run-note 'Q4 restore drill, staging copy of the cell' \
  --note 'post-check=no CWSIP0784 on the other engines' >/dev/null
keep was-flush-fails "$st"
fi

# 3. records-auto: interrupted (SIGINT) during a long action, resumed and
# reconciled with --outcome; then a retried failure, an on_failure goto, a
# step skipped by its when:, an abort, and a finally step.
if want records-auto; then
st="$work/auto" && mkdir -p "$st/w"
DRILLBOOK_STATE_DIR="$st" "$db" run "$here/records-auto.yaml" --plain --param workdir="$st/w" \
  --note 'flaky=the engine always fails its first start after a restore' >/dev/null &
pid=$!
for _ in $(seq 100); do [ -e "$st/w/copy-started" ] && break; sleep 0.1; done
sleep 2
kill -INT $pid
wait $pid || true
sleep 2
DRILLBOOK_STATE_DIR="$st" "$db" resume last --plain --outcome copy=succeeded \
  --note 'copy=checked the copy by hand: 1.2 GB, same as the backup' >/dev/null || true
keep records-auto "$st"
fi

# 4. records-ops: the operator's decisions in the screen: an ad-hoc
# command, a retry (after quitting and resuming), a skip, a confirmation, a
# manual tick-off and an abort; a secret parameter, and a note and a reason
# that contain it (all masked in the journal).
if want records-ops; then
st="$work/ops" && mkdir -p "$st/w"
T="tmux -S $work/tmux.sock"
env="DRILLBOOK_STATE_DIR=$st DRILLBOOK_OPERATOR=drill-lead DRILLBOOK_PARAM_TOKEN=hunter2-s3cret"
$T new-session -d -s ops -x 120 -y 40 "env $env $db run $here/records-ops.yaml --param workdir=$st/w \
  --note 'check=token hunter2-s3cret came from the vault' --run-note 'operator decisions drill'; sleep 600"
key() { sleep "$1"; shift; $T send-keys -t ops "$@"; }
key 3 C-s # the form opens first, filled from --param and the environment
key 4 x; key 1 -l "touch $st/w/fixed"; key 0 Tab; key 0 -l 'freed space by removing old heap dumps'; key 1 Enter
key 3 q
sleep 2
$T kill-server || true
$T new-session -d -s ops -x 120 -y 40 "env $env $db resume last; sleep 600"
key 4 r; key 1 -l 'space is free now'; key 1 Enter
key 4 s; key 1 -l 'the cache warms itself on first use'; key 1 Enter
key 4 -l scratch; key 0 Enter
key 5 d
key 4 a; key 1 -l 'counts differ: restore again from the older backup set hunter2-s3cret'; key 0 Enter
key 2 q
sleep 1
if grep -q hunter2 "$(ls -d "$st"/runs/*/)journal.jsonl"; then
  echo "the secret reached the journal" >&2
  exit 1
fi
keep records-ops "$st"
fi
rm -rf "$work"
