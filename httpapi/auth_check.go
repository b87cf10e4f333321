package httpapi

import (
	"crypto/rand"
	"crypto/sha256"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/etcd-classic/etcd-classic/store"
)

// Who a request acts as, and what it may do, once v2 auth is enabled
// (etcd 3.4 etcdserver/api/v2http/client_auth.go). Checks read the
// member's applied auth state (store.Auth), without a lock.

// errNoAuth is the keys API's answer to missing permission, wrong or
// unknown credentials alike: 401, error 110.
func errNoAuth() *store.Error {
	return store.NewError(store.EcodeUnauthorized, "Insufficient credentials", 0)
}

// writeNoAuth is the 401 of /v2/auth and /v2/members: written before the
// cluster ID header, as etcd does.
func writeNoAuth(w http.ResponseWriter) {
	writeMembersError(w, http.StatusUnauthorized, "Insufficient credentials")
}

// identify returns the user a request acts as with auth enabled: "" for
// the guest (no Authorization header and no client certificate naming a
// user), the user whose Basic credentials are right, or ok=false for
// credentials that are wrong, malformed or name nobody. Without an
// Authorization header and with --client-cert-auth, a verified client
// certificate whose CN names a user acts as that user (etcd 3.4).
func (a *API) identify(r *http.Request, st *store.AuthState) (user string, ok bool) {
	if r.Header.Get("Authorization") == "" {
		if a.cfg.ClientCertAuth {
			if u, found := userFromCert(r, st); found {
				return u, true
			}
		}
		return "", true
	}
	name, password, ok := r.BasicAuth()
	if !ok || !a.creds.check(st, name, password) {
		return "", false
	}
	return name, true
}

// userFromCert is etcd 3.4's userFromClientCertificate: the first
// certificate of the verified chains whose common name is a user.
func userFromCert(r *http.Request, st *store.AuthState) (string, bool) {
	if r.TLS == nil {
		return "", false
	}
	for _, chain := range r.TLS.VerifiedChains {
		for _, c := range chain {
			if _, ok := st.User(c.Subject.CommonName); ok {
				return c.Subject.CommonName, true
			}
		}
	}
	return "", false
}

// keyAccess checks a keys request on key (the path as the client wrote
// it after the API prefix). It returns the user to record in the write
// ("" when auth is off or for the guest) and whether access is granted.
func (a *API) keyAccess(r *http.Request, key string, recursive bool) (string, bool) {
	st := a.cfg.Store.Auth()
	if !st.Enabled() {
		return "", true
	}
	user, ok := a.identify(r, st)
	if !ok {
		return "", false
	}
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	return user, st.CanAccess(user, key, recursive, write)
}

// rootAccess is etcd's hasRootAccess: true when auth is off, else only
// for a user holding the root role (by password, or with
// --client-cert-auth by certificate when no Authorization is sent).
func (a *API) rootAccess(r *http.Request) bool {
	st := a.cfg.Store.Auth()
	if !st.Enabled() {
		return true
	}
	var user string
	if r.Header.Get("Authorization") == "" && a.cfg.ClientCertAuth {
		u, found := userFromCert(r, st)
		if !found {
			return false
		}
		user = u
	} else {
		name, password, ok := r.BasicAuth()
		if !ok || !a.creds.check(st, name, password) {
			return false
		}
		user = name
	}
	return st.IsRoot(user)
}

// writeRootAccess is etcd's hasWriteRootAccess: reads are open to all.
func (a *API) writeRootAccess(r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	return a.rootAccess(r)
}

// readFilter is the per-event check of a watch registered by user on
// key: an event is delivered only if the user may read it, judged with
// the auth state of the moment it happens (a revoked role stops the
// events of a running watch). Events about the watched key itself or a
// directory above it (its deletion or expiry) are judged as the watch
// was; any other event by its own key.
func (a *API) readFilter(user, key string, recursive bool) func(*store.Event) bool {
	st := a.cfg.Store
	watched := cleanKey(key)
	return func(e *store.Event) bool {
		auth := st.Auth()
		if !auth.Enabled() {
			return true
		}
		k := e.Node.Key
		if k == watched || k == "/" || strings.HasPrefix(watched, k+"/") {
			return auth.CanAccess(user, key, recursive, false)
		}
		return auth.CanAccess(user, k, false, false)
	}
}

// cleanKey is the store's form of a client key.
func cleanKey(k string) string {
	if k == "" || k == "/" {
		return "/"
	}
	if k[0] != '/' {
		k = "/" + k
	}
	for len(k) > 1 && strings.HasSuffix(k, "/") {
		k = k[:len(k)-1]
	}
	return k
}

// credCache remembers verified passwords, so that only the first request
// of a user pays for bcrypt (tens of milliseconds at the default cost).
// An entry is keyed by a salted SHA-256 of user and password (the cache
// never holds a password) and records the bcrypt hash it was verified
// against: it counts only while that user still has exactly that hash in
// the current auth state. A deleted user or a changed password therefore
// stops matching on the next request that this member serves after
// applying the change.
type credCache struct {
	salt [16]byte
	mu   sync.RWMutex
	m    map[[sha256.Size]byte]cacheEntry // guarded by mu
}

type cacheEntry struct{ user, hash string }

// credCacheSize bounds the cache; past it a random entry makes room.
const credCacheSize = 4096

func newCredCache() *credCache {
	c := &credCache{m: make(map[[sha256.Size]byte]cacheEntry)}
	_, _ = rand.Read(c.salt[:])
	return c
}

func (c *credCache) key(user, password string) [sha256.Size]byte {
	var buf [128]byte
	b := append(buf[:0], c.salt[:]...)
	b = append(b, user...)
	b = append(b, 0)
	b = append(b, password...)
	return sha256.Sum256(b)
}

// check reports whether password is user's in st.
func (c *credCache) check(st *store.AuthState, user, password string) bool {
	hash, ok := st.PasswordHash(user)
	if !ok {
		return false
	}
	k := c.key(user, password)
	c.mu.RLock()
	e, hit := c.m[k]
	c.mu.RUnlock()
	if hit && e.user == user && e.hash == hash {
		return true
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return false
	}
	c.mu.Lock()
	if len(c.m) >= credCacheSize {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = cacheEntry{user: user, hash: hash}
	c.mu.Unlock()
	return true
}

// hashPassword is the bcrypt hash stored for a new password, made on the
// member that received it before the change is proposed (the random salt
// must not be drawn during apply). bcrypt reads at most 72 bytes; etcd
// 3.4's bcrypt ignored the rest, so longer passwords are cut the same way
// rather than refused.
func (a *API) hashPassword(password string) (string, error) {
	if len(password) > 72 {
		password = password[:72]
	}
	b, err := bcrypt.GenerateFromPassword([]byte(password), a.cfg.BcryptCost)
	return string(b), err
}
