package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// trackedFiles lists the repository's files (git ls-files), or skips
// when this is not a git checkout.
func trackedFiles(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("git", "ls-files").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	return strings.Fields(string(out))
}

// Everything a user reads stands in the repository: no document, comment
// or script points at the project's private notes (a spec folder beside
// the checkout, a conformance kit, its goldens).
func TestNoReferencesOutsideTheRepository(t *testing.T) {
	t.Parallel()
	bad := regexp.MustCompile(`\.\./shared|spec/v2\.md|spec/v1-and-legacy\.md|spec/v2-auth\.md|conformance (kit|golden)|STYLE\.md|STYLE §`)
	for _, f := range trackedFiles(t) {
		if strings.HasSuffix(f, ".golden") || strings.HasSuffix(f, ".sum") || f == "docs_test.go" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a file deleted in the working tree
		}
		for i, line := range strings.Split(string(b), "\n") {
			if bad.MatchString(line) {
				t.Errorf("%s:%d points outside the repository: %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
}

// Every relative link of the Markdown files leads to a file or folder
// of the repository.
func TestMarkdownLinksExist(t *testing.T) {
	t.Parallel()
	link := regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)
	for _, f := range trackedFiles(t) {
		if !strings.HasSuffix(f, ".md") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			p := filepath.Join(filepath.Dir(f), target)
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s links to %s, which does not exist", f, target)
			}
		}
	}
}
