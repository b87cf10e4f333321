package httpapi

import (
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// /metrics is scraped and parsed with Prometheus's own text parser.
func TestMetricsScrape(t *testing.T) {
	t.Parallel()
	s := newStubServer(t)
	s.do(t, "PUT", "/v2/keys/m", "value=1")
	s.do(t, "GET", "/v2/keys/m", "")
	s.do(t, "GET", "/v2/keys/nope", "")
	s.do(t, "PUT", "/v2/keys/m?prevExist=false", "value=2")
	s.do(t, "GET", "/v2/keys/m?wait=true&waitIndex=1", "")

	r, err := testClient.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if ct := r.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("content type %q", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(r.Body)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		f, ok := fams[name]
		if !ok {
			t.Fatalf("no %s in /metrics", name)
		}
		for _, m := range f.Metric {
			if matches(m, labels) {
				switch {
				case m.Counter != nil:
					return m.Counter.GetValue()
				case m.Gauge != nil:
					return m.Gauge.GetValue()
				case m.Histogram != nil:
					return float64(m.Histogram.GetSampleCount())
				}
			}
		}
		t.Fatalf("no %s%v in /metrics", name, labels)
		return 0
	}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"etcd_store_writes_total", map[string]string{"action": "set"}, 1},
		{"etcd_store_writes_total", map[string]string{"action": "create"}, 1},
		{"etcd_store_writes_failed_total", map[string]string{"action": "create"}, 1},
		{"etcd_store_reads_total", map[string]string{"action": "get"}, 2},
		{"etcd_store_reads_failed_total", map[string]string{"action": "get"}, 1},
		{"etcd_store_watch_requests_total", nil, 1},
		{"etcd_store_watchers", nil, 0},
		{"etcd_store_expires_total", nil, 0},
		{"etcd_http_received_total", map[string]string{"method": "PUT"}, 2},
		{"etcd_http_received_total", map[string]string{"method": "GET"}, 3},
		{"etcd_http_failed_total", map[string]string{"method": "GET", "code": "404"}, 1},
		{"etcd_http_failed_total", map[string]string{"method": "PUT", "code": "412"}, 1},
		{"etcd_http_successful_duration_seconds", map[string]string{"method": "GET"}, 1},
	}
	for _, c := range checks {
		if got := value(c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
}

func matches(m *dto.Metric, labels map[string]string) bool {
	n := 0
	for _, l := range m.Label {
		if v, ok := labels[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(labels)
}

func TestPprofBehindFlag(t *testing.T) {
	t.Parallel()
	s := newStubServer(t)
	if r := s.do(t, "GET", "/debug/pprof/", ""); r.status != 404 {
		t.Errorf("pprof without the flag: %d", r.status)
	}
	s.api.cfg.EnablePprof = true
	s.api.handler = s.api.wrap(s.api.routes())
	if r := s.do(t, "GET", "/debug/pprof/", ""); r.status != 200 || !strings.Contains(r.body, "goroutine") {
		t.Errorf("pprof with the flag: %d", r.status)
	}
	// The CPU profile and the others with handlers of their own, not
	// the index's "Unknown profile".
	if r := s.do(t, "GET", "/debug/pprof/profile?seconds=1", ""); r.status != 200 || strings.Contains(r.body, "Unknown profile") {
		t.Errorf("CPU profile: %d %.40q", r.status, r.body)
	}
	if r := s.do(t, "GET", "/debug/pprof/cmdline", ""); r.status != 200 || strings.Contains(r.body, "Unknown profile") {
		t.Errorf("cmdline: %d %.40q", r.status, r.body)
	}
}
