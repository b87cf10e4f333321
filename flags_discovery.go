package main

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"

	"github.com/etcd-classic/etcd-classic/server"
)

// resolverEnv names a DNS server (host:port) that --discovery-srv asks
// instead of the system's. etcd has no such setting; it is not an ETCD_*
// variable, so that it is not taken for a flag.
const resolverEnv = "ETCDCLASSIC_DNS_SERVER"

// discoveryFlags are the discovery settings besides --discovery itself
// (config.discovery).
type discoveryFlags struct {
	discoveryFallback string
	discoveryProxy    string
	discoverySRV      string
	discoverySRVName  string
}

// discoverySpecs declares etcd 2.x's discovery flags, spelled and
// defaulted as etcd 3.4.23 does.
func discoverySpecs() []flagSpec {
	return []flagSpec{
		{names: []string{"discovery"}, usage: "discovery URL used to bootstrap the cluster (a v2 keys directory holding _config/size; with 0.x address flags, etcd 0.4's protocol)",
			value: func(c *config) flag.Value { return (*stringValue)(&c.discovery) }},
		{names: []string{"discovery-fallback"}, usage: "what a member does when discovery finds the cluster full: 'exit' or 'proxy'",
			value: func(c *config) flag.Value { return (*fallbackValue)(&c.discoveryFallback) }},
		{names: []string{"discovery-proxy"}, usage: "HTTP proxy for the requests to the discovery service",
			value: func(c *config) flag.Value { return (*stringValue)(&c.discoveryProxy) }},
		{names: []string{"discovery-srv"}, usage: "DNS domain whose _etcd-server-ssl._tcp and _etcd-server._tcp SRV records list the initial cluster",
			value: func(c *config) flag.Value { return (*stringValue)(&c.discoverySRV) }},
		{names: []string{"discovery-srv-name"}, usage: "suffix of the SRV service names: _etcd-server-<name>._tcp",
			value: func(c *config) flag.Value { return (*stringValue)(&c.discoverySRVName) }},
	}
}

// fallbackValue is --discovery-fallback: exit or proxy.
type fallbackValue string

func (v *fallbackValue) String() string { return string(*v) }
func (v *fallbackValue) Set(s string) error {
	if s != server.FallbackExit && s != server.FallbackProxy {
		return errors.New("must be 'exit' or 'proxy'")
	}
	*v = fallbackValue(s)
	return nil
}

// resolveDiscovery checks the bootstrap flags as etcd 3.4 does (one of
// --initial-cluster, --discovery and --discovery-srv) and passes the
// discovery settings on.
func (c *config) resolveDiscovery(sc *server.Config) error {
	n := 0
	for _, on := range []bool{c.set["initial-cluster"] && c.initialCluster != "", c.discovery != "", c.discoverySRV != ""} {
		if on {
			n++
		}
	}
	if n > 1 {
		// etcd 3.4's words.
		return errors.New(`multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery" or "discovery-srv"`)
	}
	if c.discovery != "" {
		u, err := url.Parse(c.discovery)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--discovery %q: not an http or https URL", c.discovery)
		}
	}
	sc.Discovery, sc.DiscoveryLegacy = c.discovery, c.legacy
	sc.DiscoveryProxy, sc.DiscoveryFallback = c.discoveryProxy, c.discoveryFallback
	sc.DiscoverySRV, sc.DiscoverySRVName = c.discoverySRV, c.discoverySRVName
	if addr := os.Getenv(resolverEnv); addr != "" && c.discoverySRV != "" {
		sc.Resolver = server.ResolverAt(addr)
	}
	return nil
}
