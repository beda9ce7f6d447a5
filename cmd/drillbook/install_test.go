package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeInstall installs drillbook as a new user would, with make
// install under a DESTDIR, then uses what it installed: bash and fish
// complete `drillbook run was-` through the installed completion scripts
// and the installed binary, and man renders drillbook-run(1).
func TestMakeInstall(t *testing.T) {
	for _, tool := range []string{"make", "bash", "man", "fish"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to test make install: apt-get install %s (make deps does)", tool, tool)
		}
	}
	const bashCompletion = "/usr/share/bash-completion/bash_completion"
	if _, err := os.Stat(bashCompletion); err != nil {
		t.Fatalf("bash-completion is needed to test the installed completion: apt-get install bash-completion (make deps does)")
	}
	dest := t.TempDir()
	bin := filepath.Join(t.TempDir(), "drillbook")
	cmd := exec.Command("make", "-C", "../..", "--no-print-directory", "install", "DESTDIR="+dest, "PREFIX=/usr", "BIN="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	usr := filepath.Join(dest, "usr")
	for _, f := range []string{
		"bin/drillbook",
		"share/man/man1/drillbook.1", "share/man/man1/drillbook-run.1", "share/man/man1/drillbook-resume.1",
		"share/bash-completion/completions/drillbook",
		"share/zsh/site-functions/_drillbook",
		"share/fish/vendor_completions.d/drillbook.fish",
		"share/drillbook/schema/runbook.schema.json", "share/drillbook/schema/targets.schema.json",
	} {
		if st, err := os.Stat(filepath.Join(usr, f)); err != nil || st.Size() == 0 {
			t.Errorf("make install did not install %s: %v", f, err)
		}
	}

	// bash as a user's interactive shell runs it: bash-completion loads
	// the script from where make install put it (XDG_DATA_DIRS, as for
	// /usr/share) the first time drillbook is completed, then completes
	// the words so far with the cursor on the last one.
	script := `source "$1"
__load_completion drillbook || { echo "bash-completion found no completion for drillbook"; exit 1; }
COMP_LINE="drillbook run was-"; COMP_POINT=${#COMP_LINE}
COMP_WORDS=(drillbook run was-); COMP_CWORD=2
fn=$(complete -p drillbook | sed -n 's/.*-F \([^ ]*\).*/\1/p')
"$fn" drillbook was- run
printf '%s\n' "${COMPREPLY[@]}"`
	sh := exec.Command("bash", "--norc", "--noprofile", "-c", script, "bash", bashCompletion)
	sh.Env = append(os.Environ(), "PATH="+filepath.Join(usr, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"),
		"XDG_DATA_DIRS="+filepath.Join(usr, "share"), "BASH_COMPLETION_USER_DIR="+t.TempDir())
	// stderr holds compopt's complaint that no real TAB is being completed.
	out, err := sh.Output()
	if err != nil {
		t.Fatalf("bash completion: %v\n%s", err, out)
	}
	got := strings.Fields(string(out))
	want := []string{"was-sib-backup", "was-sib-ha-failover-drill", "was-sib-restore-me"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("drillbook run was-<TAB> offers %q, want %q", got, want)
	}

	// fish, as a user's fish finds it: from the vendor completions
	// directory under XDG_DATA_DIRS, loaded the first time drillbook is
	// completed.
	home := t.TempDir()
	fish := exec.Command("fish", "-c", `complete -C "drillbook run was-"`)
	fish.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"PATH="+filepath.Join(usr, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"), "XDG_DATA_DIRS="+filepath.Join(usr, "share"))
	out, err = fish.Output()
	if err != nil {
		t.Fatalf("fish completion: %v\n%s", err, out)
	}
	var fishGot []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fishGot = append(fishGot, strings.SplitN(line, "\t", 2)[0])
	}
	if strings.Join(fishGot, " ") != strings.Join(want, " ") {
		t.Errorf("fish: drillbook run was-<TAB> offers %q, want %q", fishGot, want)
	}

	page := exec.Command("man", "-l", filepath.Join(usr, "share/man/man1/drillbook-run.1"))
	page.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat")
	out, err = page.Output()
	if err != nil {
		t.Fatalf("man drillbook-run: %v", err)
	}
	for _, w := range []string{"drillbook-run - Run a runbook", "drillbook run RUNBOOK [flags]", "--confirm", "--target", "--state-dir"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("man drillbook-run lacks %q:\n%s", w, out)
		}
	}
}
