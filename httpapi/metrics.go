package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

// metrics holds the HTTP instruments and the registry of one API.
type metrics struct {
	reg       *prometheus.Registry
	received  *prometheus.CounterVec
	failed    *prometheus.CounterVec
	durations *prometheus.HistogramVec
}

// newMetrics registers etcd 2.x's series: the store's (etcd_store_*), the
// HTTP layer's (etcd_http_*), the server's (etcd_server_*) and the raft
// log's (etcd_disk_*), plus Go's process and runtime collectors.
func newMetrics(st *store.Store, raftStats func() machines.RaftStats) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.received = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "http", Name: "received_total",
		Help: "Counter of requests received into the system (successfully parsed and authd)."}, []string{"method"})
	m.failed = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "http", Name: "failed_total",
		Help: "Counter of handle failures of requests (non-watches), by method (GET/PUT etc.) and code (400, 500 etc.)."}, []string{"method", "code"})
	m.durations = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "etcd", Subsystem: "http", Name: "successful_duration_seconds",
		Help:    "Bucketed histogram of processing time (s) of successfully handled requests (non-watches), by method (GET/PUT etc.).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 13)}, []string{"method"})
	m.reg.MustRegister(m.received, m.failed, m.durations,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&storeCollector{st: st}, &raftCollector{stats: raftStats})
	return m
}

// handler serves the registry in the Prometheus text format, with the
// content type etcd sends ("text/plain; version=0.0.4; charset=utf-8").
func (m *metrics) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fams, err := m.reg.Gather()
		if err != nil && len(fams) == 0 {
			http.Error(w, "metrics: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, f := range fams {
			if err := enc.Encode(f); err != nil {
				return
			}
		}
	})
}

// observe records one finished keys request; watches are not timed.
func (m *metrics) observe(method string, status int, start time.Time, watch bool) {
	m.received.WithLabelValues(method).Inc()
	if status >= 400 {
		m.failed.WithLabelValues(method, strconv.Itoa(status)).Inc()
		return
	}
	if !watch {
		m.durations.WithLabelValues(method).Observe(time.Since(start).Seconds())
	}
}

var (
	descReads        = prometheus.NewDesc("etcd_store_reads_total", "Total number of reads action by (get/getRecursive), local to this member.", []string{"action"}, nil)
	descReadsFailed  = prometheus.NewDesc("etcd_store_reads_failed_total", "Failed read actions by (get/getRecursive), local to this member.", []string{"action"}, nil)
	descWrites       = prometheus.NewDesc("etcd_store_writes_total", "Total number of writes (e.g. set/compareAndDelete) seen by this member.", []string{"action"}, nil)
	descWritesFailed = prometheus.NewDesc("etcd_store_writes_failed_total", "Failed writes (e.g. set/compareAndDelete) seen by this member.", []string{"action"}, nil)
	descExpires      = prometheus.NewDesc("etcd_store_expires_total", "Total number of expired keys.", nil, nil)
	descWatchReqs    = prometheus.NewDesc("etcd_store_watch_requests_total", "Total number of incoming watch requests (new or reestablished).", nil, nil)
	descWatchers     = prometheus.NewDesc("etcd_store_watchers", "Count of currently active watchers.", nil, nil)
)

// storeCollector reads the store's counters at scrape time.
type storeCollector struct{ st *store.Store }

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReads, descReadsFailed, descWrites, descWritesFailed, descExpires, descWatchReqs, descWatchers} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.st.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(descReads, s.GetsSuccess.Load()+s.GetsFail.Load(), "get")
	counter(descReadsFailed, s.GetsFail.Load(), "get")
	for _, w := range []struct {
		action    string
		ok, fails uint64
	}{
		{"set", s.SetsSuccess.Load(), s.SetsFail.Load()},
		{"update", s.UpdateSuccess.Load(), s.UpdateFail.Load()},
		{"create", s.CreateSuccess.Load(), s.CreateFail.Load()},
		{"compareAndSwap", s.CompareAndSwapSuccess.Load(), s.CompareAndSwapFail.Load()},
		{"delete", s.DeleteSuccess.Load(), s.DeleteFail.Load()},
		{"compareAndDelete", s.CompareAndDeleteSuccess.Load(), s.CompareAndDeleteFail.Load()},
	} {
		counter(descWrites, w.ok+w.fails, w.action)
		counter(descWritesFailed, w.fails, w.action)
	}
	counter(descExpires, s.ExpireCount.Load())
	counter(descWatchReqs, s.WatchRequests.Load())
	ch <- prometheus.MustNewConstMetric(descWatchers, prometheus.GaugeValue, float64(c.st.WatcherCount()))
}

var (
	descHasLeader  = prometheus.NewDesc("etcd_server_has_leader", "Whether or not a leader exists. 1 is existence, 0 is not.", nil, nil)
	descIsLeader   = prometheus.NewDesc("etcd_server_is_leader", "Whether or not this member is a leader. 1 if is, 0 otherwise.", nil, nil)
	descLeaderChg  = prometheus.NewDesc("etcd_server_leader_changes_seen_total", "The number of leader changes seen.", nil, nil)
	descTerm       = prometheus.NewDesc("etcd_server_term", "The current raft term.", nil, nil)
	descCommitted  = prometheus.NewDesc("etcd_server_proposals_committed_total", "The total number of consensus proposals committed (raft index).", nil, nil)
	descApplied    = prometheus.NewDesc("etcd_server_proposals_applied_total", "The total number of consensus proposals applied (raft index).", nil, nil)
	descPropFailed = prometheus.NewDesc("etcd_server_proposals_failed_total", "The total number of failed proposals seen.", nil, nil)
	descWALFsync   = prometheus.NewDesc("etcd_disk_wal_fsync_total", "Durable appends to the raft log (one fsync each).", nil, nil)
	descWALEntries = prometheus.NewDesc("etcd_disk_wal_entries_total", "Entries appended to the raft log.", nil, nil)
	descRecvApp    = prometheus.NewDesc("etcd_network_append_requests_received_total", "Raft append requests received from the leader.", nil, nil)
	descSentApp    = prometheus.NewDesc("etcd_network_append_requests_sent_total", "Raft append requests sent to followers.", nil, nil)
)

// raftCollector reads the replication figures at scrape time.
type raftCollector struct{ stats func() machines.RaftStats }

func (c *raftCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descHasLeader, descIsLeader, descLeaderChg, descTerm, descCommitted, descApplied, descPropFailed, descWALFsync, descWALEntries, descRecvApp, descSentApp} {
		ch <- d
	}
}

func (c *raftCollector) Collect(ch chan<- prometheus.Metric) {
	if c.stats == nil {
		return
	}
	s := c.stats()
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(descHasLeader, b(s.HasLeader))
	gauge(descIsLeader, b(s.IsLeader))
	counter(descLeaderChg, s.LeaderChanges)
	gauge(descTerm, float64(s.Term))
	counter(descCommitted, s.CommitIndex)
	counter(descApplied, s.AppliedIndex)
	counter(descPropFailed, s.ProposalsFailed)
	counter(descWALFsync, s.LogAppends)
	counter(descWALEntries, s.LogEntries)
	counter(descRecvApp, s.RecvAppends)
	counter(descSentApp, s.SentAppends)
}
