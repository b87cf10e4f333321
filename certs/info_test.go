package certs

import (
	"strings"
	"testing"
)

func TestEmptyAndScheme(t *testing.T) {
	tests := []struct {
		name       string
		info       Info
		wantEmpty  bool
		wantScheme string
	}{
		{"zero", Info{}, true, "http"},
		{"hosts and dir only", Info{Hosts: []string{"10.0.0.1"}, AutoDir: "/tmp/x"}, true, "http"},
		{"cert and key", Info{CertFile: "a.crt", KeyFile: "a.key"}, false, "https"},
		{"cert key and CA", Info{CertFile: "a.crt", KeyFile: "a.key", CAFile: "ca.crt", ClientCertAuth: true}, false, "https"},
		{"auto TLS", Info{AutoTLS: true, AutoDir: "/tmp/x"}, false, "https"},
		{"CA only", Info{CAFile: "ca.crt"}, false, "https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.info.Empty(); got != tt.wantEmpty {
				t.Errorf("Empty() = %v, want %v", got, tt.wantEmpty)
			}
			if got := tt.info.Scheme(); got != tt.wantScheme {
				t.Errorf("Scheme() = %q, want %q", got, tt.wantScheme)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		info Info
		// wantErr holds substrings the error must contain; nil means no error.
		wantErr []string
	}{
		{name: "empty", info: Info{}},
		{name: "cert and key", info: Info{CertFile: "a.crt", KeyFile: "a.key"}},
		{name: "mutual TLS", info: Info{CertFile: "a.crt", KeyFile: "a.key", CAFile: "ca.crt", ClientCertAuth: true}},
		{name: "CA without client auth", info: Info{CertFile: "a.crt", KeyFile: "a.key", CAFile: "ca.crt"}},
		{name: "auto TLS", info: Info{AutoTLS: true, AutoDir: "/tmp/auto"}},
		{name: "auto TLS with client auth", info: Info{AutoTLS: true, AutoDir: "/tmp/auto", CAFile: "ca.crt", ClientCertAuth: true}},
		{name: "auto TLS ignored when cert given", info: Info{AutoTLS: true, CertFile: "a.crt", KeyFile: "a.key"}},
		{
			name:    "cert without key",
			info:    Info{CertFile: "/x/a.crt"},
			wantErr: []string{`certificate file "/x/a.crt"`, "without a key file"},
		},
		{
			name:    "key without cert",
			info:    Info{KeyFile: "/x/a.key"},
			wantErr: []string{`key file "/x/a.key"`, "without a certificate file"},
		},
		{
			name:    "key without cert but CA",
			info:    Info{KeyFile: "/x/a.key", CAFile: "ca.crt"},
			wantErr: []string{`key file "/x/a.key"`},
		},
		{
			name:    "client auth without CA",
			info:    Info{CertFile: "a.crt", KeyFile: "a.key", ClientCertAuth: true},
			wantErr: []string{"client certificate authentication", "without a CA file"},
		},
		{
			name:    "client auth and CA without cert",
			info:    Info{CAFile: "ca.pem", ClientCertAuth: true},
			wantErr: []string{`CA file "ca.pem"`, "without a certificate and key file"},
		},
		{
			name:    "CA without cert",
			info:    Info{CAFile: "ca.pem"},
			wantErr: []string{`CA file "ca.pem"`, "without a certificate and key file"},
		},
		{
			name:    "client auth alone",
			info:    Info{ClientCertAuth: true},
			wantErr: []string{"without a CA file"},
		},
		{
			name:    "auto TLS without dir",
			info:    Info{AutoTLS: true},
			wantErr: []string{"auto TLS", "AutoDir"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.info.Validate()
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want error containing %q", tt.wantErr)
			}
			for _, want := range append([]string{"certs: "}, tt.wantErr...) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate() = %q, want it to contain %q", err, want)
				}
			}
		})
	}
}

func TestConfigsRejectInvalidInfo(t *testing.T) {
	tests := []struct {
		name string
		info Info
		want string
	}{
		{"empty server", Info{}, "no TLS configured"},
		{"cert without key", Info{CertFile: "a.crt"}, `certificate file "a.crt" given without a key file`},
		{"auto without dir", Info{AutoTLS: true}, "AutoDir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := tt.info
			cfg, err := info.ServerConfig()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ServerConfig() = %v, %v; want nil, error containing %q", cfg, err, tt.want)
			}
			if tt.info.Empty() {
				return
			}
			cfg, err = info.ClientConfig()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ClientConfig() = %v, %v; want nil, error containing %q", cfg, err, tt.want)
			}
		})
	}
}
