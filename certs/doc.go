// Package certs turns the TLS settings given on the command line into
// *tls.Config values for etcd-classic's two sides: the client side (the
// v1/v2 HTTP API that clients talk to) and the peer side (the listener other
// members connect to, and the dialer this member uses to reach them).
//
// What this package owns:
//
//   - Info, the description of one side's TLS material (certificate, key,
//     trusted CA bundle, client-certificate authentication, auto TLS);
//   - validation of half-configured settings, with errors that name the
//     offending file;
//   - loading and checking certificates, keys and CA bundles;
//   - auto TLS: generating, once, a self-signed certificate in a directory
//     and reusing it on later starts, as etcd 3.x's --auto-tls does;
//   - the listener (ServerConfig) and dialer (ClientConfig) configurations,
//     with TLS 1.2 as the minimum version and only AEAD cipher suites
//     unless a list of suites is given;
//   - etcd 3.4's checks on the other side's certificate, made inside the
//     handshake: certificate revocation lists, an allowed CN, an allowed
//     host name.
//
// What this package must never do:
//
//   - import any other package of this module, or anything outside the Go
//     standard library (certs/certstest, the test helper, follows the same
//     rule);
//   - read flags, environment variables or configuration files itself: the
//     caller fills an Info and hands it over;
//   - log: every problem is returned as an error that names the file, and
//     the caller decides how to report it.
package certs
