package store

import (
	"strconv"
	"sync/atomic"
)

// Stats counts store operations since the process started (they are not
// replicated and not part of snapshots). Mutation counters move on every
// member; get counters only on the member that served the read.
type Stats struct {
	GetsSuccess             atomic.Uint64
	GetsFail                atomic.Uint64
	SetsSuccess             atomic.Uint64
	SetsFail                atomic.Uint64
	DeleteSuccess           atomic.Uint64
	DeleteFail              atomic.Uint64
	UpdateSuccess           atomic.Uint64
	UpdateFail              atomic.Uint64
	CreateSuccess           atomic.Uint64
	CreateFail              atomic.Uint64
	CompareAndSwapSuccess   atomic.Uint64
	CompareAndSwapFail      atomic.Uint64
	CompareAndDeleteSuccess atomic.Uint64
	CompareAndDeleteFail    atomic.Uint64
	ExpireCount             atomic.Uint64
	// WatchRequests counts watch registrations (not part of the stats
	// JSON; exported as a metric).
	WatchRequests atomic.Uint64
}

func (st *Stats) inc(c *atomic.Uint64) { c.Add(1) }

// JSON renders the counters as /v2/stats/store does, in etcd's field
// order, with the given number of registered watchers.
func (st *Stats) JSON(watchers int64) []byte {
	fields := []struct {
		name string
		v    uint64
	}{
		{"getsSuccess", st.GetsSuccess.Load()},
		{"getsFail", st.GetsFail.Load()},
		{"setsSuccess", st.SetsSuccess.Load()},
		{"setsFail", st.SetsFail.Load()},
		{"deleteSuccess", st.DeleteSuccess.Load()},
		{"deleteFail", st.DeleteFail.Load()},
		{"updateSuccess", st.UpdateSuccess.Load()},
		{"updateFail", st.UpdateFail.Load()},
		{"createSuccess", st.CreateSuccess.Load()},
		{"createFail", st.CreateFail.Load()},
		{"compareAndSwapSuccess", st.CompareAndSwapSuccess.Load()},
		{"compareAndSwapFail", st.CompareAndSwapFail.Load()},
		{"compareAndDeleteSuccess", st.CompareAndDeleteSuccess.Load()},
		{"compareAndDeleteFail", st.CompareAndDeleteFail.Load()},
		{"expireCount", st.ExpireCount.Load()},
	}
	b := []byte{'{'}
	for _, f := range fields {
		b = append(b, '"')
		b = append(b, f.name...)
		b = append(b, `":`...)
		b = strconv.AppendUint(b, f.v, 10)
		b = append(b, ',')
	}
	b = append(b, `"watchers":`...)
	b = strconv.AppendInt(b, watchers, 10)
	return append(b, '}')
}
