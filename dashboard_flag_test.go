package main

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// TestEnableDashboardFlag: the dashboard is on unless --enable-dashboard
// (or ETCD_ENABLE_DASHBOARD) says false.
func TestEnableDashboardFlag(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		env     string
		wantOff bool
	}{
		{name: "default", wantOff: false},
		{name: "explicitly on", args: []string{"--enable-dashboard"}, wantOff: false},
		{name: "off", args: []string{"--enable-dashboard=false"}, wantOff: true},
		{name: "off, single dash", args: []string{"-enable-dashboard=0"}, wantOff: true},
		{name: "off by the environment", env: "false", wantOff: true},
		{name: "the flag beats the environment", args: []string{"--enable-dashboard=true"}, env: "false", wantOff: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("ETCD_ENABLE_DASHBOARD", tc.env)
			}
			c, err := parseFlags(tc.args, io.Discard)
			if err != nil {
				t.Fatalf("parseFlags(%q): %v", tc.args, err)
			}
			if c.dashboardOff != tc.wantOff {
				t.Errorf("parseFlags(%q) with ETCD_ENABLE_DASHBOARD=%q: dashboard off = %v, want %v", tc.args, tc.env, c.dashboardOff, tc.wantOff)
			}
		})
	}
	if _, err := parseFlags([]string{"--enable-dashboard=maybe"}, io.Discard); err == nil {
		t.Errorf("--enable-dashboard=maybe was accepted")
	}
}

// TestDashboardFlagProcess: the real binary serves the dashboard by
// default and answers 404 with --enable-dashboard=false (the flag reaches
// httpapi.Config).
func TestDashboardFlagProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	for _, tc := range []struct {
		extra []string
		want  int
	}{{nil, http.StatusOK}, {[]string{"--enable-dashboard=false"}, http.StatusNotFound}} {
		dir := t.TempDir()
		client, args := singleMemberArgs(t, dir)
		p := startProc(t, client, dir, append(args, tc.extra...)...)
		res, err := (&http.Client{Timeout: 10 * time.Second}).Get(client + "/dashboard/")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("GET /dashboard/ with %q: status %d, want %d", tc.extra, res.StatusCode, tc.want)
		}
		p.kill()
	}
}
