package store

import (
	"encoding/json"
	"fmt"
)

// The authentication state in a snapshot (format 2, snapshot.go): after
// lastWrite,
//
//	flags (1=enabled, 2=etcd's bookkeeping nodes exist)
//	count, user*   as JSON, sorted by name (password hashes included)
//	count, role*   as JSON, sorted by name (root is built in, not saved)
//
// JSON keeps what etcd shows: the order and duplicates of role lists,
// null versus [].

func (e *encoder) authState(a *AuthState) {
	var flags uint64
	if a.enabled {
		flags |= 1
	}
	if a.dirs {
		flags |= 2
	}
	e.uvarint(flags)
	names := a.UserNames()
	e.uvarint(uint64(len(names)))
	for _, n := range names {
		b, err := json.Marshal(a.users[n])
		if err != nil && e.err == nil {
			e.err = err
		}
		e.str(string(b))
	}
	var roles []string
	for _, n := range a.RoleNames() {
		if n != RootRole {
			roles = append(roles, n)
		}
	}
	e.uvarint(uint64(len(roles)))
	for _, n := range roles {
		b, err := json.Marshal(a.roles[n])
		if err != nil && e.err == nil {
			e.err = err
		}
		e.str(string(b))
	}
}

func (d *decoder) authState() *AuthState {
	flags := d.uvarint()
	a := &AuthState{enabled: flags&1 != 0, dirs: flags&2 != 0, users: map[string]*User{}, roles: map[string]*Role{}}
	n := d.uvarint()
	for i := uint64(0); i < n && d.err == nil; i++ {
		u := &User{}
		if err := json.Unmarshal([]byte(d.str()), u); err != nil && d.err == nil {
			d.err = fmt.Errorf("%w: auth user: %v", ErrBadSnapshot, err)
		}
		a.users[u.User] = u
	}
	n = d.uvarint()
	for i := uint64(0); i < n && d.err == nil; i++ {
		r := &Role{}
		if err := json.Unmarshal([]byte(d.str()), r); err != nil && d.err == nil {
			d.err = fmt.Errorf("%w: auth role: %v", ErrBadSnapshot, err)
		}
		a.roles[r.Role] = r
	}
	return a
}
