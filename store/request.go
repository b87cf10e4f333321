package store

import "time"

// Request methods understood by Apply.
const (
	MethodPut    = "PUT"
	MethodPost   = "POST"
	MethodDelete = "DELETE"
	// MethodAuth is a change of the authentication state (Request.Auth).
	MethodAuth = "AUTH"
)

// Request is a keys-API write as the HTTP layer parsed it. It is what
// travels through the raft log, and Apply turns it into one store
// operation on every replica, so the choice between set, create, update
// and compareAndSwap is made at apply time exactly as etcd makes it.
type Request struct {
	Method    string
	Path      string
	Value     string
	Dir       bool
	Recursive bool
	Refresh   bool
	PrevValue string
	PrevIndex uint64
	// PrevExist is the tri-state prevExist parameter: nil when absent.
	PrevExist *bool
	// HasTTL is false when no TTL (or an empty ttl=) was given.
	HasTTL bool
	// TTL is the requested TTL as a (possibly wrapped) nanosecond
	// duration, computed as etcd does: time.Duration(ttl) * time.Second
	// in wrapping int64 arithmetic. Huge TTLs therefore produce the same
	// odd expirations they produce in etcd.
	TTL time.Duration
	// V01 marks a /v1 write made through a member that speaks etcd
	// v0.1.0's dialect. It travels in the log, so every replica applies
	// v0.1.0's rules to it (applyV01): PUT or POST is a set, or a
	// TestAndSet when PrevValue is not empty; DELETE deletes a key. Path
	// is then the key as the client wrote it (v0.1.0 echoed it in one
	// error cause).
	V01 bool
	// User is who the member that received the write checked it as: a
	// user name, or "" for a request without credentials (the guest
	// role). When auth is on at apply time, the write is checked again
	// as that user with the state of that moment (CanAccess on Path,
	// Recursive), so a write can never slip through a permission revoked
	// while it was in flight.
	User string
	// Auth is the change a MethodAuth request makes.
	Auth *AuthChange
}

// accessKey is the key whose permission a write needs: the path as the
// client wrote it (a 0.1-dialect path has no leading slash).
func (r *Request) accessKey() string {
	if r.V01 {
		return "/" + r.Path
	}
	return r.Path
}

// MaxKeyLength is the longest key, in bytes, a write may name. etcd 3.4
// takes keys from the request line, which it refuses past 4094 bytes, so
// no key etcd accepts on a fresh connection is longer than that; this
// limit is twice that and can only be reached by an entry that did not
// come through the client port. It also bounds a key's depth: every level
// takes at least two bytes ("/x"), so a key has at most MaxKeyLength/2
// levels.
const MaxKeyLength = 8192

// uniqueSuffix is what a POST adds to its key: "/" and 20 digits.
const uniqueSuffix = 21

// Validate checks the limits every write must respect whatever the path
// it came by: its key (after a POST's unique name is added) is at most
// MaxKeyLength bytes. It is checked before a write is proposed and again
// when it is applied, so an entry that reached the log anyway is refused
// alike on every replica instead of being applied. The error is 209
// "Invalid field" (HTTP 400) with index 0.
func (r *Request) Validate() *Error {
	n := len(r.Path)
	if r.Method == MethodPost && !r.V01 {
		n += uniqueSuffix
	}
	if n > MaxKeyLength {
		return NewError(EcodeInvalidField, "key is longer than "+uitoa(MaxKeyLength)+" bytes", 0)
	}
	return nil
}

// TTLDuration converts TTL seconds into the wrapped duration etcd uses.
func TTLDuration(seconds uint64) time.Duration {
	return time.Duration(seconds) * time.Second
}

// ExpireTime is the absolute expiration of a request applied at now: zero
// (permanent) without TTL, else now+TTL computed through Unix nanoseconds,
// so that overflows wrap exactly as in etcd.
func (r *Request) ExpireTime(now time.Time) time.Time {
	if !r.HasTTL {
		return time.Time{}
	}
	return time.Unix(0, now.Add(r.TTL).UnixNano())
}

// Apply performs the request at the command time now and returns its
// event. Dispatch (etcd 2.x applyRequest):
//
//	POST                                  → create, unique name
//	PUT prevExist=true, no compare        → update
//	PUT prevExist=true, compare           → compareAndSwap
//	PUT prevExist=false                   → create
//	PUT prevValue or prevIndex given      → compareAndSwap
//	PUT otherwise                         → set
//	DELETE prevValue or prevIndex given   → compareAndDelete
//	DELETE otherwise                      → delete
//
// "Given" means a non-empty prevValue or a non-zero prevIndex. Requests
// marked V01 follow etcd v0.1.0's rules instead (applyV01). A request
// that fails Validate is refused first and changes nothing.
func (s *Store) Apply(r *Request, now time.Time) (*Event, error) {
	if err := r.Validate(); err != nil {
		// Nothing changes, no index is taken: a deterministic refusal.
		return nil, err
	}
	if r.Method == MethodAuth {
		return s.applyAuth(r.Auth)
	}
	// Apply runs on the FSM's one goroutine and auth changes are applied
	// there too, so the state cannot change between this check and the
	// write.
	if a := s.auth.Load(); a.enabled && !a.CanAccess(r.User, r.accessKey(), r.Recursive, true) {
		return nil, NewError(EcodeUnauthorized, "Insufficient credentials", 0)
	}
	if r.V01 {
		return s.applyV01(r, now)
	}
	expire := r.ExpireTime(now)
	compare := r.PrevValue != "" || r.PrevIndex != 0
	switch r.Method {
	case MethodPost:
		return s.Create(r.Path, r.Dir, r.Value, true, expire, now)
	case MethodPut:
		switch {
		case r.PrevExist != nil && *r.PrevExist && !compare:
			return s.Update(r.Path, r.Value, expire, r.Refresh, now)
		case r.PrevExist != nil && *r.PrevExist:
			return s.CompareAndSwap(r.Path, r.PrevValue, r.PrevIndex, r.Value, expire, r.Refresh, now)
		case r.PrevExist != nil:
			return s.Create(r.Path, r.Dir, r.Value, false, expire, now)
		case compare:
			return s.CompareAndSwap(r.Path, r.PrevValue, r.PrevIndex, r.Value, expire, r.Refresh, now)
		default:
			return s.Set(r.Path, r.Dir, r.Value, expire, r.Refresh, now)
		}
	case MethodDelete:
		if compare {
			return s.CompareAndDelete(r.Path, r.PrevValue, r.PrevIndex, now)
		}
		return s.Delete(r.Path, r.Dir, r.Recursive, now)
	}
	return nil, NewError(EcodeRaftInternal, "unknown request method "+r.Method, 0)
}
