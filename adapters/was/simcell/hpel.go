package simcell

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// HPEL (High Performance Extensible Logging) keeps a server's log records
// in a binary repository, by default PROFILE/logs/SERVER/logdata, read with
// the profile's bin/logViewer.sh (IBM "LogViewer command-line tool",
// rtrb_logviewer; the tool's source is shared with OpenLiberty,
// dev/com.ibm.ws.logging.hpel/.../viewer/LogViewer.java). The official tWAS
// container image switches servers to it and deletes SystemOut.log
// (WASdev/ci.docker.websphere-traditional, scripts/start_server.sh).
//
// SIMPLIFIED: the simulated repository holds one small text file per
// record (NNNNNNNNNNNNNNNN-SSSSSS.rec: the record's time in milliseconds
// and a sequence number, the record in basic format), not IBM's binary
// files, and the simulated logViewer.sh reads those. What the operator and
// drillbook see of it is the same: logViewer's basic-format output.

// HPELWriter appends records to a server's simulated HPEL repository.
type HPELWriter struct {
	// Dir is the repository (logdata).
	Dir string
	// Now gives the clock; nil means time.Now.
	Now func() time.Time
}

// Write adds the records, each as one file renamed into place whole, so a
// logViewer reading the repository never sees half a record.
func (w HPELWriter) Write(recs ...Record) error {
	if err := os.MkdirAll(w.Dir, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(w.Dir)
	if err != nil {
		return err
	}
	seq := 0
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".rec") {
			seq++
		}
	}
	for _, r := range recs {
		t := time.Now()
		if w.Now != nil {
			t = w.Now()
		}
		name := fmt.Sprintf("%016d-%06d.rec", t.UnixMilli(), seq)
		seq++
		tmp := filepath.Join(w.Dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, []byte(Format(t, r)), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(w.Dir, name)); err != nil {
			os.Remove(tmp)
			return err
		}
	}
	return nil
}

// writeLogViewer puts the simulated logViewer.sh in a node's profile bin.
func (c *Cell) writeLogViewer(node string) error {
	path := filepath.Join(c.ProfileDir(node), "bin", "logViewer.sh")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(logViewerScript), 0o755)
}

// logViewerScript is the simulated logViewer.sh. It takes the options
// drillbook uses with IBM's: -repositoryDir, -format basic, -monitor
// [seconds] (-tail is its synonym), -startDate "M/d/yy H:m:s:S z" (the
// English CWTRA0003I pattern; the simulation reads GMT and UTC only). As
// IBM's LogViewer.execute does, a monitor without -startDate starts at the
// current time ("we are tailing the log, don't want old messages"), an
// unknown option is CWTRA0023E, a bad date CWTRA0004E, a bad format
// CWTRA0028E, and an empty repository being monitored CWTRA0020I (texts
// from LogViewerMessages.nlsprops). SIMPLIFIED: no header is printed for a
// new server instance, and -level, -includeLoggers and the other filters
// are refused as unknown.
const logViewerScript = `#!/bin/sh
# Simulated logViewer.sh of drillbook's training cell: it reads the
# simulated HPEL repository (one .rec file per record) and prints the
# records in WebSphere's basic format, as IBM's logViewer does. See
# docs/was-simulation.md.
set -u
repo=""
monitor=""
start=""

num() {
	n=$(printf '%s' "$1" | sed 's/^0*//')
	[ -n "$n" ] || n=0
	case $n in *[!0-9]*) return 1 ;; esac
	printf '%s' "$n"
}

to_ms() {
	set -f
	old=$IFS
	IFS='/: '
	# shellcheck disable=SC2086
	set -- $1
	IFS=$old
	[ $# -eq 8 ] || return 1
	case $8 in GMT|UTC) ;; *) return 1 ;; esac
	mo=$(num "$1") && d=$(num "$2") && y=$(num "$3") && h=$(num "$4") && mi=$(num "$5") && s=$(num "$6") && ms=$(num "$7") || return 1
	secs=$(date -u -d "$(printf '%04d-%02d-%02d %02d:%02d:%02d' $((2000 + y)) "$mo" "$d" "$h" "$mi" "$s")" +%s 2>/dev/null) || return 1
	echo $((secs * 1000 + ms))
}

while [ $# -gt 0 ]; do
	case $1 in
	-repositoryDir)
		[ $# -ge 2 ] || { echo "CWTRA0022E: Option -repositoryDir requires 1 parameters." >&2; exit 1; }
		repo=$2; shift 2 ;;
	-monitor|-tail)
		monitor=5; shift
		if [ $# -gt 0 ]; then
			case $1 in -*) ;; *) monitor=$(num "$1") || { echo "CWTRA0019E: Unable to parse monitor interval: $1." >&2; exit 1; }; shift ;; esac
		fi ;;
	-format)
		[ "${2-}" = basic ] || { echo "CWTRA0028E: Incorrect output format specified: ${2-}" >&2; exit 1; }
		shift 2 ;;
	-startDate)
		start=$(to_ms "${2-}") || { echo "CWTRA0004E: Unable to parse start date/time." >&2; exit 1; }
		shift 2 ;;
	*)
		echo "CWTRA0023E: Unknown Argument: $1" >&2
		echo "CWTRA0029I: Use option -help for usage information." >&2
		exit 1 ;;
	esac
done
[ -n "$repo" ] || { echo "CWTRA0024E: Either the argument -repositoryDir is missing or no HPEL repository is found at that location." >&2; exit 1; }
if [ -z "$start" ] && [ -n "$monitor" ]; then
	start=$(($(date +%s%N) / 1000000))
fi
[ -n "$start" ] || start=0
if ! ls "$repo" 2>/dev/null | grep -q '\.rec$'; then
	if [ -n "$monitor" ]; then
		echo "CWTRA0020I: Directory specified does not currently contain any log or trace files.  Continuing to monitor this directory."
	else
		echo "CWTRA0021E: Directory specified does not contain any log or trace files." >&2
		exit 1
	fi
fi
last=""
while :; do
	names=$(LC_ALL=C ls -1 "$repo" 2>/dev/null | awk -v last="$last" -v start="$start" '/^[0-9]+-[0-9]+\.rec$/ && $0 > last && substr($0, 1, 16) + 0 >= start + 0')
	for n in $names; do
		cat "$repo/$n"
		last=$n
	done
	[ -n "$monitor" ] || break
	sleep "$monitor"
done
echo "Operation Complete"
`
