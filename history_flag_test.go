package main

import (
	"io"
	"strings"
	"testing"
)

func TestHistorySizeFlag(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		env     string // ETCD_MAX_HISTORY, when not empty
		want    int
		wantErr string
	}{
		{name: "default is etcd's 1000", args: nil, want: 1000},
		{name: "2.x name", args: []string{"--max-history", "5000"}, want: 5000},
		{name: "0.x name", args: []string{"-max-result-buffer", "20"}, want: 20},
		{name: "0.1 short name", args: []string{"-m", "7"}, want: 7},
		{name: "environment", env: "300", want: 300},
		{name: "flag beats environment", args: []string{"--max-history", "40"}, env: "300", want: 40},
		{name: "zero refused", args: []string{"--max-history", "0"}, wantErr: "from 1 to 1000000"},
		{name: "negative refused", args: []string{"-m", "-5"}, wantErr: "from 1 to 1000000"},
		{name: "too large refused", args: []string{"--max-history", "1000001"}, wantErr: "from 1 to 1000000"},
		{name: "not a number", args: []string{"--max-history", "many"}, wantErr: "from 1 to 1000000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("ETCD_MAX_HISTORY", tc.env)
			}
			c, err := parseFlags(append([]string{"--name", "h"}, tc.args...), io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.historySize != tc.want {
				t.Errorf("history size %d, want %d", c.historySize, tc.want)
			}
		})
	}
}

// The history size and the auth settings go from the flags into the
// member's configuration: server.Config.HistorySize, the client API's
// BcryptCost, and the client side's ClientCertAuth (which server.Start
// hands to the API too).
func TestSettingsReachServerConfig(t *testing.T) {
	t.Parallel()
	c, err := parseFlags([]string{"--name", "h", "--max-history", "5000", "--bcrypt-cost", "12", "--client-cert-auth"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := c.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if sc.HistorySize != 5000 || sc.API.BcryptCost != 12 || !sc.ClientTLS.ClientCertAuth {
		t.Errorf("history %d, bcrypt cost %d, client cert auth %v; want 5000, 12, true", sc.HistorySize, sc.API.BcryptCost, sc.ClientTLS.ClientCertAuth)
	}
}
