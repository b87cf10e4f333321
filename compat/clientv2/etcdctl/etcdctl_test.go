package etcdctl

import "testing"

// Every v2 command against one member.
func TestEtcdctlSingleMember(t *testing.T) {
	runScenario(t, "single", 1, singleMemberSteps())
}

// Every v2 command against a 3-member cluster, etcdctl syncing its
// endpoints from /v2/members and picking any member.
func TestEtcdctlThreeMembers(t *testing.T) {
	runScenario(t, "cluster3", 3, clusterSteps())
}
