// Command chaos is etcd-classic's chaos test and chaos benchmark: it runs
// a cluster through a fault while clients spread over every member read
// and write, then checks what the clients saw with a linearizability
// checker (github.com/anishathalye/porcupine) and checks that nothing
// acknowledged was lost and nothing applied twice.
//
//	scripts/chaos.sh                      # all six faults, 3 and 5 members
//	go run ./scripts/chaos -bin ./etcd-classic -members 3 -scenarios kill-leader,pause-leader
//
// Faults (issue 17's six), each injected once the workload runs and
// healed after -fault:
//
//	kill-leader       SIGKILL the leader, restart it on its data dir
//	kill-follower     SIGKILL a follower, restart it
//	pause-leader      SIGSTOP the leader longer than the election timeout, then SIGCONT
//	                  (a read of every key is queued at it meanwhile)
//	partition-leader  cut the leader (with one follower of five) from the majority, then heal
//	isolate-follower  cut one follower from every other member, read every key on it, then heal
//	kill-all          SIGKILL every member, restart them all
//
// The kills and pauses are made on OS processes of the built binary
// (proctest). The partitions are made between members started in this
// process with server.Start, whose peer connections all go through a
// fault net (server.Config.PeerDial): cutting links between processes
// would need root, or a proxy in front of each member whose address the
// members advertise as their own — and a proxy per member cannot tell
// which member is calling, so it could isolate a member's inbound links
// but not its outbound ones. In-process members are the same code over
// real loopback TCP and real disks; only the links fail, and the clients
// still reach every member on both sides, as in a real partition.
//
// The workload: clients (-clients-per-member per member) send one
// operation at a time, each to a member picked at random — quorum GETs,
// sets, compare-and-swaps on prevValue and on prevIndex, creates
// (prevExist=false) and deletes on a few contended keys, and sets of
// unique keys. Every written value is unique. Each operation is recorded
// with its call and return times; one whose outcome the client cannot
// know (a timeout, a connection lost after sending, an error 300 other
// than "no leader") is recorded as possibly applied, with an infinite
// return time. Plain GETs are not linearizable on followers, so they are
// not in the checked history: a share of acknowledged writes is followed
// by a plain GET on the member that answered, which must see that write
// or a later one (read-your-writes, issue 11).
//
// After the fault is healed and the cluster is healthy, the workload runs
// on for -recover, then every member answers a recursive quorum read of
// the whole key space, which joins the history. The checks:
//
//   - linearizable: porcupine over a key-value model with etcd v2's
//     rules (model.go), partitioned by key; a violation is reduced to the
//     earliest moment it was certain and printed with the operations
//     around it (and rendered to violation.html in the run's directory);
//   - lost: every acknowledged unique key is on every member with its
//     value and the index its answer named;
//   - applied twice: a write seen anywhere with two modifiedIndexes, a
//     unique key whose modifiedIndex is not its createdIndex, or one index
//     carrying two writes (members that diverged);
//   - read-your-writes, as above.
//
// The harness can fail: model_test.go feeds the checker histories with a
// stale read, a lost write and a write applied twice, and
// TestChaosCatchesStaleReads runs a partition with -stale-reads (plain
// GETs in the checked history) and requires the checker to find it. The
// checker also caught bugs planted by hand and never committed: quorum
// reads served without the read-index round (httpapi's quorum GET
// skipping ReadBarrier), writes acknowledged without being committed (a
// made-up success when the proposal failed), and — rarely, its window is
// milliseconds — a leader's read-index step without VerifyLeader; see
// chaos_test.go.
//
// Why here: the command (the chaos benchmark, scripts/chaos.sh) and the
// Go test (chaos_test.go, a short run of three faults on three members,
// skipped under -short) share every line of the harness, and a package
// main under scripts/ is a tool beside the server that production code
// can never import. It imports server (in-process members), proctest
// (processes that never outlive the run) and porcupine.
package main
