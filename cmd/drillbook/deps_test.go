package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDependenciesExplained reads go.mod: every module drillbook requires
// directly is named in the README's Dependencies section, and no package,
// tests included, depends on the archived gopkg.in/yaml.v3 or on
// github.com/hpcloud/tail, which the README says why drillbook does not use.
func TestDependenciesExplained(t *testing.T) {
	mod, err := os.ReadFile(filepath.Join(moduleRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(moduleRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	i := strings.Index(text, "## Dependencies")
	if i < 0 {
		t.Fatal("README.md has no Dependencies section")
	}
	section := text[i:]
	if j := strings.Index(section[3:], "\n## "); j >= 0 {
		section = section[:j+3]
	}
	direct := 0
	inRequire := false
	for _, line := range strings.Split(string(mod), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "require ("):
			inRequire = true
			continue
		case line == ")":
			inRequire = false
			continue
		}
		if !inRequire || line == "" || strings.Contains(line, "// indirect") {
			continue
		}
		path := strings.Fields(line)[0]
		direct++
		name := path
		// A module of a family is named by its last part beside the first
		// one (bubbletea, bubbles, lipgloss).
		if !strings.Contains(section, "`"+path+"`") && !strings.Contains(section, "`"+filepath.Base(path)+"`") && !strings.Contains(section, "`"+strings.TrimPrefix(path, "github.com/charmbracelet/")+"`") {
			t.Errorf("README.md's Dependencies section does not name %s, which go.mod requires directly: say what it is for and why it was chosen", name)
		}
	}
	if direct < 10 {
		t.Fatalf("read %d direct requirements from go.mod: the parse missed them", direct)
	}
	out, err := exec.Command("go", "list", "-deps", "-test", "github.com/drillbook/drillbook/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 100 {
		t.Fatalf("go list -deps gave %d packages: the check would prove nothing", len(deps))
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "gopkg.in/yaml.v3") || strings.HasPrefix(d, "github.com/hpcloud/tail") {
			t.Errorf("a package depends on %s: YAML goes through go.yaml.in/yaml/v3, and the log watcher follows files itself (README.md, Dependencies)", d)
		}
	}
}
