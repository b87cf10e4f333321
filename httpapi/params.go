package httpapi

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/etcd-classic/etcd-classic/store"
)

// keyRequest is a parsed /v2/keys request.
type keyRequest struct {
	store.Request
	Wait, Stream, Quorum, Sorted bool
	WaitIndex                    uint64
	NoValueOnSuccess             bool
}

// formBool parses a boolean parameter with strconv.ParseBool; absent is
// false, and an empty value is an error (etcd's getBool).
func formBool(f url.Values, key string) (bool, bool) {
	vs, ok := f[key]
	if !ok {
		return false, true
	}
	b, err := strconv.ParseBool(vs[0])
	return b, err == nil
}

// formUint parses an unsigned decimal parameter; absent is 0.
func formUint(f url.Values, key string) (uint64, bool) {
	vs, ok := f[key]
	if !ok {
		return 0, true
	}
	i, err := strconv.ParseUint(vs[0], 10, 64)
	return i, err == nil
}

func first(f url.Values, key string) string {
	if vs := f[key]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// parseKeyRequest validates a v2 keys request in etcd's order; the first
// failure wins and every one has index 0.
func parseKeyRequest(r *http.Request, key string) (*keyRequest, error) {
	f, err := parseForm(r)
	if err != nil {
		return nil, store.NewError(store.EcodeInvalidForm, err.Error(), 0)
	}
	kr := &keyRequest{}
	kr.Method = r.Method
	kr.Path = key
	var ok bool
	if kr.PrevIndex, ok = formUint(f, "prevIndex"); !ok {
		return nil, store.NewError(store.EcodeIndexNaN, `invalid value for "prevIndex"`, 0)
	}
	if kr.WaitIndex, ok = formUint(f, "waitIndex"); !ok {
		return nil, store.NewError(store.EcodeIndexNaN, `invalid value for "waitIndex"`, 0)
	}
	for _, b := range []struct {
		name string
		dst  *bool
	}{
		{"recursive", &kr.Recursive}, {"sorted", &kr.Sorted}, {"wait", &kr.Wait},
		{"dir", &kr.Dir}, {"quorum", &kr.Quorum}, {"stream", &kr.Stream},
	} {
		if *b.dst, ok = formBool(f, b.name); !ok {
			return nil, store.NewError(store.EcodeInvalidField, `invalid value for "`+b.name+`"`, 0)
		}
	}
	if kr.Wait && r.Method != http.MethodGet {
		return nil, store.NewError(store.EcodeInvalidField, `"wait" can only be used with GET requests`, 0)
	}
	kr.PrevValue = first(f, "prevValue")
	if _, has := f["prevValue"]; has && kr.PrevValue == "" {
		return nil, store.NewError(store.EcodePrevValueRequired, `"prevValue" cannot be empty`, 0)
	}
	if kr.NoValueOnSuccess, ok = formBool(f, "noValueOnSuccess"); !ok {
		return nil, store.NewError(store.EcodeInvalidField, `invalid value for "noValueOnSuccess"`, 0)
	}
	if first(f, "ttl") != "" {
		ttl, ok := formUint(f, "ttl")
		if !ok {
			return nil, store.NewError(store.EcodeTTLNaN, `invalid value for "ttl"`, 0)
		}
		kr.HasTTL, kr.TTL = true, store.TTLDuration(ttl)
	}
	if _, has := f["prevExist"]; has {
		pe, ok := formBool(f, "prevExist")
		if !ok {
			return nil, store.NewError(store.EcodeInvalidField, "invalid value for prevExist", 0)
		}
		kr.PrevExist = &pe
	}
	if _, has := f["refresh"]; has {
		refresh, ok := formBool(f, "refresh")
		if !ok {
			return nil, store.NewError(store.EcodeInvalidField, "invalid value for refresh", 0)
		}
		if refresh {
			if first(f, "value") != "" {
				return nil, store.NewError(store.EcodeRefreshValue, "A value was provided on a refresh", 0)
			}
			if !kr.HasTTL {
				return nil, store.NewError(store.EcodeRefreshTTLRequired, "No TTL value set", 0)
			}
		}
		kr.Refresh = refresh
	}
	kr.Value = first(f, "value")
	return kr, nil
}
