package main

import (
	"errors"
	"flag"
	"strconv"
	"time"
)

// This file gives the etcd 2.x and 3.x flags that are accepted without
// effect (or refused) their etcd value types, so that a command line an
// etcd script wrote parses here exactly as it parsed there: an on/off flag
// stands alone (--pre-vote) or takes a value (--pre-vote=false) and never
// swallows the next argument, and a number or duration that etcd would
// reject is rejected here too.

// compatKind is the etcd value type of a compatibility flag.
type compatKind int

const (
	kindString compatKind = iota
	kindBool
	kindUint
	kindInt
	kindDuration
)

// compatKinds maps every compatibility flag that does not take a plain
// string to its etcd 3.4.23 (or 2.3) type. Flags not listed take a string.
var compatKinds = map[string]compatKind{
	// on/off flags
	"pre-vote":                                       kindBool,
	"initial-election-tick-advance":                  kindBool,
	"enable-grpc-gateway":                            kindBool,
	"experimental-initial-corrupt-check":             kindBool,
	"experimental-enable-lease-checkpoint":           kindBool,
	"experimental-peer-skip-client-san-verification": kindBool,
	"experimental-v3demo":                            kindBool,
	"unsafe-no-fsync":                                kindBool,
	// numbers
	"quota-backend-bytes":                    kindInt,
	"max-request-bytes":                      kindUint,
	"max-snapshots":                          kindUint,
	"max-wals":                               kindUint,
	"max-txn-ops":                            kindUint,
	"max-concurrent-streams":                 kindUint,
	"backend-batch-limit":                    kindInt,
	"experimental-compaction-batch-limit":    kindInt,
	"experimental-auto-compaction-retention": kindInt,
	"proxy-failure-wait":                     kindUint,
	"proxy-refresh-interval":                 kindUint,
	"proxy-dial-timeout":                     kindUint,
	"proxy-write-timeout":                    kindUint,
	"proxy-read-timeout":                     kindUint,
	// durations ("5s", "2h")
	"grpc-keepalive-min-time":                     kindDuration,
	"grpc-keepalive-interval":                     kindDuration,
	"grpc-keepalive-timeout":                      kindDuration,
	"backend-batch-interval":                      kindDuration,
	"experimental-corrupt-check-time":             kindDuration,
	"experimental-watch-progress-notify-interval": kindDuration,
	"experimental-warning-apply-duration":         kindDuration,
}

// compatValue is the flag.Value of one compatibility flag: it checks the
// value against the flag's etcd type and remembers whether it asks for
// the feature (true, or a non-empty string), which decides whether a
// refused flag is refused.
type compatValue struct {
	kind compatKind
	raw  string
	on   bool
}

func newCompatValue(name string) *compatValue { return &compatValue{kind: compatKinds[name]} }

func (v *compatValue) String() string { return v.raw }

// IsBoolFlag lets an on/off flag stand alone, as etcd's do.
func (v *compatValue) IsBoolFlag() bool { return v.kind == kindBool }

func (v *compatValue) Set(s string) error {
	switch v.kind {
	case kindBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("not a boolean")
		}
		v.on = b
	case kindUint:
		if _, err := strconv.ParseUint(s, 10, 64); err != nil {
			return errors.New("not a non-negative integer")
		}
		v.on = true
	case kindInt:
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			return errors.New("not an integer")
		}
		v.on = true
	case kindDuration:
		if _, err := time.ParseDuration(s); err != nil {
			return errors.New("not a duration (like 5s or 2h)")
		}
		v.on = true
	default:
		v.on = s != ""
	}
	v.raw = s
	return nil
}

// asksFor reports whether the flag's value asks for its feature: a
// refused flag given as --force-new-cluster=false or --discovery= is
// harmless and accepted (start-up scripts write the defaults out).
func asksFor(v flag.Value) bool {
	if cv, ok := v.(*compatValue); ok {
		return cv.on
	}
	return true
}

// authSpecs are etcd 3.x's v2 auth settings. They are parsed, checked as
// etcd checks them and kept in the configuration for the v2 auth API.
func authSpecs() []flagSpec {
	return []flagSpec{
		{names: []string{"bcrypt-cost"}, usage: "cost of the bcrypt hashes of auth passwords (4 to 31)",
			value: func(c *config) flag.Value { return (*uintValue)(&c.bcryptCost) }},
		{names: []string{"auth-token-ttl"}, usage: "lifetime in seconds of etcd 3.x simple auth tokens",
			ignored: "v2 auth sends the user and password with every request; there are no tokens",
			value:   func(c *config) flag.Value { return (*uintValue)(&c.authTokenTTL) }},
	}
}

// bcrypt's limits (golang.org/x/crypto/bcrypt MinCost and MaxCost), which
// etcd 3.4 checks --bcrypt-cost against.
const (
	minBcryptCost = 4
	maxBcryptCost = 31
)
