package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// envName is the environment variable of a flag: ETCD_ and the name in
// upper case with dashes as underscores (--initial-cluster →
// ETCD_INITIAL_CLUSTER), as etcd 2.x and 3.x read them.
func envName(flagName string) string {
	return "ETCD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// envAliases are etcd 0.4 variable names that do not follow the rule.
var envAliases = map[string]string{
	"ETCD_SNAPSHOTCOUNT": "snapshot-count",
}

// applyEnv sets every flag not given on the command line from its ETCD_*
// variable, if present: a flag beats its variable. Variables that match
// no flag are reported as warnings (etcd does the same), not errors.
func applyEnv(fs *flag.FlagSet, specs []flagSpec, warn io.Writer, environ []string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	known := map[string]string{}
	for _, s := range specs {
		for _, n := range s.names {
			if len(n) > 2 && !isDeprecated(s, n) {
				known[envName(n)] = n
			}
		}
	}
	for k, v := range envAliases {
		known[k] = v
	}
	setBy := map[string]string{} // canonical flag → variable used
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "ETCD_") {
			continue
		}
		name, ok := known[k]
		if !ok {
			if k != "ETCD_UNSUPPORTED_ARCH" {
				fmt.Fprintf(warn, "[warning] unrecognized environment variable %s=%s\n", k, v)
			}
			continue
		}
		spec := specFor(specs, name)
		if anyGiven(spec, given) {
			continue // the flag wins
		}
		if prev, dup := setBy[spec.names[0]]; dup {
			return fmt.Errorf("environment variables %s and %s set the same flag", prev, k)
		}
		if err := fs.Set(name, v); err != nil {
			return fmt.Errorf("%s=%q: %w", k, v, err)
		}
		setBy[spec.names[0]] = k
	}
	return nil
}

func isDeprecated(s flagSpec, n string) bool {
	for _, d := range s.deprecated {
		if d == n {
			return true
		}
	}
	return false
}

func specFor(specs []flagSpec, name string) flagSpec {
	for _, s := range specs {
		for _, n := range s.names {
			if n == name {
				return s
			}
		}
	}
	return flagSpec{names: []string{name}}
}

func anyGiven(s flagSpec, given map[string]bool) bool {
	for _, n := range s.names {
		if given[n] {
			return true
		}
	}
	return false
}
