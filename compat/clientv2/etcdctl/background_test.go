package etcdctl

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/compat/clientv2/internal/launch"
)

// background runs etcdctl while the harness changes keys over HTTP: the
// triggers fire once etcdctl's watch is registered.
type background struct {
	triggers []trigger
	// stopLine, for watches that never end, kills etcdctl once stdout
	// has this line; the last trigger writes it, so all earlier output is
	// complete by then. Empty waits for etcdctl to exit.
	stopLine string
}

// trigger is one HTTP change (none when method is empty), after which
// the harness waits for stdout to have lines lines.
type trigger struct {
	method, path, form string
	lines              int
}

// syncBuffer is a bytes.Buffer safe for a writer process and a poller.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) lines() int { return strings.Count(s.String(), "\n") }

func hasLine(out, line string) bool {
	return strings.HasPrefix(out, line+"\n") || strings.Contains(out, "\n"+line+"\n")
}

func (e *env) runBackground(t *testing.T, cmd *exec.Cmd, bg *background, stdout *syncBuffer, ctx context.Context) string {
	before := e.watchers()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var waitErr error
	finished := false
	poll := func(what string, cond func() bool) bool {
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			select {
			case waitErr = <-done:
				finished = true
				return cond()
			default:
			}
			if time.Now().After(deadline) {
				t.Errorf("timed out waiting for %s; stdout so far:\n%s", what, stdout.String())
				return false
			}
			time.Sleep(20 * time.Millisecond) // polling interval
		}
		return true
	}
	if len(bg.triggers) > 0 {
		poll("etcdctl's watch to register", func() bool { return e.watchers() > before })
	}
	for _, tr := range bg.triggers {
		if finished {
			break
		}
		if tr.method != "" {
			e.trigger(t, tr)
		}
		if tr.lines > 0 {
			poll(fmt.Sprintf("%d lines of output", tr.lines), func() bool { return stdout.lines() >= tr.lines })
		}
	}
	if bg.stopLine != "" && !finished {
		poll("the line "+bg.stopLine, func() bool { return hasLine(stdout.String(), bg.stopLine) })
	}
	if finished {
		return describe(waitErr, ctx)
	}
	if bg.stopLine != "" {
		_ = cmd.Process.Kill()
		<-done
		return "killed by the test after the expected output"
	}
	select {
	case err := <-done:
		return describe(err, ctx)
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return "killed by the test: did not exit within 15s"
	}
}

// watchers sums /v2/stats/store "watchers" over the live members.
func (e *env) watchers() int {
	ctx, cancel := ctx5()
	defer cancel()
	n := 0
	for _, m := range e.live() {
		var st struct{ Watchers int }
		if _, err := launch.GetJSON(ctx, m.ClientURL+"/v2/stats/store", &st); err == nil {
			n += st.Watchers
		}
	}
	return n
}

// trigger changes a key over HTTP, on the first live member.
func (e *env) trigger(t *testing.T, tr trigger) {
	ctx, cancel := ctx5()
	defer cancel()
	u := e.live()[0].ClientURL + "/v2/keys" + tr.path
	req, err := http.NewRequestWithContext(ctx, tr.method, u, strings.NewReader(tr.form))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := testClient.Do(req)
	if err != nil {
		t.Errorf("trigger %s %s: %v", tr.method, tr.path, err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Errorf("trigger %s %s: %s", tr.method, tr.path, resp.Status)
	}
}
