package main

import (
	"os"
	"strings"
	"testing"
)

// --bcrypt-cost (and ETCD_BCRYPT_COST) as etcd 3.4 takes it: 4..31 as
// given, anything else a warning and the default 10, not a number an
// error.
func TestBcryptCostFlag(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		env     string
		want    int
		warns   bool
		failure string
	}{
		{nil, "", 10, false, ""},
		{[]string{"--bcrypt-cost", "12"}, "", 12, false, ""},
		{[]string{"--bcrypt-cost=4"}, "", 4, false, ""},
		{[]string{"--bcrypt-cost", "3"}, "", 10, true, ""},
		{[]string{"--bcrypt-cost", "32"}, "", 10, true, ""},
		{nil, "11", 11, false, ""},
		{[]string{"--bcrypt-cost", "abc"}, "", 0, false, `invalid value "abc" for flag -bcrypt-cost`},
	} {
		t.Setenv("ETCD_BCRYPT_COST", tc.env) // restored after the test
		if tc.env == "" {
			os.Unsetenv("ETCD_BCRYPT_COST")
		}
		c, err := parseFlags(tc.args, &strings.Builder{})
		if tc.failure != "" {
			if err == nil || !strings.Contains(err.Error(), tc.failure) {
				t.Errorf("%v: error %v, want %q", tc.args, err, tc.failure)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		cost, warning := c.effectiveBcryptCost()
		if cost != tc.want || (warning != "") != tc.warns {
			t.Errorf("%v env %q: cost %d warning %q, want %d (warning: %v)", tc.args, tc.env, cost, warning, tc.want, tc.warns)
		}
	}
}
