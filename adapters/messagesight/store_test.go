package messagesight

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// storeTree writes a small store: two queue files in nested directories and
// an empty directory.
func storeTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"com.ibm.ism/queues/ORDERS.msg": "order-1\norder-2\n", "com.ibm.ism/subs/S1.sub": "sub"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDigestTreeIsStable pins the tree digest: manifests written by earlier
// versions of drillbook hold it, and must still match their store backups.
func TestDigestTreeIsStable(t *testing.T) {
	d, err := DigestTree(context.Background(), storeTree(t))
	if err != nil {
		t.Fatal(err)
	}
	want := TreeDigest{Files: 2, Bytes: 19, SHA256: "155a9327ef0ab720282b8d5da81c9bfc0ff5102ed10aa9244aebbdd03d5dc571"}
	if d != want {
		t.Errorf("digest %+v, want %+v", d, want)
	}
}

// TestDigestTreeRefusesLinks checks that a store holding a symbolic link is
// refused: a store holds regular files only.
func TestDigestTreeRefusesLinks(t *testing.T) {
	dir := storeTree(t)
	if err := os.Symlink("com.ibm.ism", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := DigestTree(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "not a regular file or directory") {
		t.Errorf("digest of a store with a link: %v, want a refusal", err)
	}
}
