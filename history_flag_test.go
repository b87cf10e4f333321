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
