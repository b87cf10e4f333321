package etcdctl

import "testing"

// etcdctl's whole user, role and auth command set, with --username, on
// one member.
func TestEtcdctlAuthSingleMember(t *testing.T) {
	runScenarioAs(t, "auth", 1, "root:rootpw", authSteps())
}

// The same on three members: every change goes through whichever member
// etcdctl picks and must be visible through all of them at once.
func TestEtcdctlAuthThreeMembers(t *testing.T) {
	runScenarioAs(t, "auth3", 3, "root:rootpw", authSteps())
}

// as runs a command with etcdctl's --username.
func as(name, user string, args ...string) step {
	return step{name: name, args: append([]string{"--username", user}, args...)}
}

// authSteps walks the v2 auth commands: users and roles before auth is
// enabled, enabling it, narrowing the guest role, what a user limited to
// /app/* can do, the root-only surfaces, and tearing it down again.
// etcdctl reads passwords from stdin when they are not given as
// user:password (it complains that stdin is not a terminal on stderr).
func authSteps() []step {
	const root, alice = "root:rootpw", "alice:alicepw"
	return []step{
		cmd("user-list-empty", "user", "list"),
		cmd("role-list-initial", "role", "list"),
		cmd("auth-enable-no-root", "auth", "enable"), // 409
		cmd("user-get-missing", "user", "get", "root"),
		cmd("user-add-root", "user", "add", "root:rootpw"),
		cmd("user-add-root-again", "user", "add", "root:rootpw"), // an update: new password hash
		cmd("user-get-root", "user", "get", "root"),
		cmd("role-get-root", "role", "get", "root"),
		cmd("role-add-app", "role", "add", "app"),
		cmd("role-add-app-again", "role", "add", "app"), // 409
		cmd("role-add-root", "role", "add", "root"),     // 403
		cmd("role-get-app-empty", "role", "get", "app"),
		cmd("role-grant-app", "role", "grant", "--path", "/app/*", "--rw", "app"),
		cmd("role-grant-app-dup", "role", "grant", "--path", "/app/*", "--read", "app"), // 409
		cmd("role-grant-ro", "role", "grant", "--path", "/ro/*", "--read", "app"),
		cmd("role-grant-wo", "role", "grant", "--path", "/wo", "--write", "app"),
		cmd("role-get-app", "role", "get", "app"),
		cmd("role-revoke-ro", "role", "revoke", "--path", "/ro/*", "--read", "app"),
		cmd("role-revoke-missing", "role", "revoke", "--path", "/nope", "--write", "app"), // 400 not updated
		cmd("role-revoke-wo", "role", "revoke", "--path", "/wo", "--rw", "app"),
		cmd("role-grant-no-path", "role", "grant", "--rw", "app"),
		cmd("role-grant-no-kind", "role", "grant", "--path", "/x", "app"),
		cmd("role-grant-no-role", "role", "grant", "--path", "/x", "--rw"),
		cmd("role-grant-missing-role", "role", "grant", "--path", "/x", "--rw", "nosuch"), // 404
		cmd("role-get-missing", "role", "get", "nosuch"),
		cmd("role-add-other", "role", "add", "other"),
		cmd("role-list", "role", "list"),
		cmd("user-add-alice", "user", "add", "alice:alicepw"),
		{name: "user-add-stdin", args: []string{"user", "add", "bob"}, stdin: "bobpw\n"},
		cmd("user-add-no-name", "user", "add"),
		cmd("user-grant-alice", "user", "grant", "--roles", "app", "alice"),
		cmd("user-grant-dup", "user", "grant", "--roles", "app", "alice"),         // 409
		cmd("user-grant-two", "user", "grant", "--roles", "other,ghost", "alice"), // a role that does not exist is granted
		cmd("user-get-ghost-role", "user", "get", "alice"),                        // 404: role ghost
		cmd("user-revoke-ghost", "user", "revoke", "--roles", "ghost,other", "alice"),
		cmd("user-revoke-missing", "user", "revoke", "--roles", "nosuch", "alice"), // 409
		cmd("user-grant-no-roles", "user", "grant", "alice"),
		cmd("user-get-alice", "user", "get", "alice"),
		cmd("user-get-missing-2", "user", "get", "nosuch"),
		cmd("user-grant-missing-user", "user", "grant", "--roles", "app", "nosuch"),
		cmd("user-list", "user", "list"),
		{name: "user-passwd-stdin", args: []string{"user", "passwd", "bob"}, stdin: "newbob\n"},
		{name: "user-passwd-empty", args: []string{"user", "passwd", "bob"}}, // 400 not updated
		cmd("role-remove-other", "role", "remove", "other"),
		cmd("user-get-alice-after-role-removed", "user", "get", "alice"),
		cmd("auth-enable", "auth", "enable"),
		as("auth-enable-again", root, "auth", "enable"), // 409
		cmd("user-list-no-auth", "user", "list"),
		as("user-list-root", root, "user", "list"),
		as("user-list-wrong-password", "root:wrong", "user", "list"),
		as("user-list-unknown-user", "nobody:x", "user", "list"),
		as("role-list-root", root, "role", "list"),
		as("role-get-guest", root, "role", "get", "guest"),
		cmd("set-as-guest-before", "set", "/guest", "g"),
		as("role-revoke-guest", root, "role", "revoke", "--path", "/*", "--rw", "guest"),
		cmd("set-as-guest", "set", "/foo", "bar"), // 110
		cmd("get-as-guest", "get", "/guest"),      // 110
		as("set-alice-app", alice, "set", "/app/x", "1"),
		as("get-alice-app", alice, "get", "/app/x"),
		as("set-alice-other", alice, "set", "/other", "1"), // 110
		as("get-alice-root-owned", alice, "get", "/guest"),
		as("get-wrong-password", "alice:nope", "get", "/app/x"),
		as("mk-in-order-alice", alice, "mk", "--in-order", "/app/q", "job"),
		as("ls-alice-app-recursive", alice, "ls", "--recursive", "/app"), // 110: /app itself is not under /app/*
		{name: "ls-alice-app-slash", args: []string{"--username", alice, "ls", "--recursive", "/app/"}, sortLines: true},
		as("mkdir-alice", alice, "mkdir", "/app/d"),
		as("rmdir-alice", alice, "rmdir", "/app/d"),
		as("rm-alice-app-recursive", alice, "rm", "--recursive", "/app"), // 110
		as("update-alice", alice, "update", "/app/x", "2"),
		as("json-get-alice", alice, "-o", "json", "get", "/app/x"),
		{name: "member-list-alice", args: []string{"--username", alice, "member", "list"}, sortLines: true},
		{name: "member-add-alice", args: []string{"--username", alice, "member", "add", "s9", "{newpeer:n9}"}, removeAfter: []string{"n9"}},
		as("user-add-as-alice", alice, "user", "add", "eve:evepw"),
		as("auth-disable-as-alice", alice, "auth", "disable"),
		as("user-remove-root", root, "user", "remove", "root"), // 403
		as("role-remove-root", root, "role", "remove", "root"), // 403
		as("role-revoke-root", root, "role", "revoke", "--path", "/*", "--rw", "root"),
		as("user-revoke-alice", root, "user", "revoke", "--roles", "app", "alice"),
		as("get-alice-revoked", alice, "get", "/app/x"), // 110
		as("user-grant-alice-again", root, "user", "grant", "--roles", "app", "alice"),
		as("get-alice-granted", alice, "get", "/app/x"),
		as("role-revoke-app", root, "role", "revoke", "--path", "/app/*", "--read", "app"),
		as("get-alice-role-revoked", alice, "get", "/app/x"), // 110
		as("set-alice-still-writes", alice, "set", "/app/x", "3"),
		{name: "user-passwd-alice", args: []string{"--username", root, "user", "passwd", "alice"}, stdin: "alice2\n"},
		as("set-alice-old-password", alice, "set", "/app/x", "4"), // 110
		as("set-alice-new-password", "alice:alice2", "set", "/app/x", "4"),
		as("user-remove-alice", root, "user", "remove", "alice"),
		as("set-alice-removed", "alice:alice2", "set", "/app/x", "5"), // 110
		as("user-remove-missing", root, "user", "remove", "alice"),
		as("role-remove-app", root, "role", "remove", "app"),
		as("role-remove-missing", root, "role", "remove", "app"),
		cmd("auth-disable-no-auth", "auth", "disable"),
		as("auth-disable", root, "auth", "disable"),
		cmd("auth-disable-again", "auth", "disable"), // 409
		cmd("get-after-disable", "get", "/app/x"),
		cmd("json-set-after-disable", "-o", "json", "set", "/after", "v"), // the indexes auth spent
		cmd("user-list-after", "user", "list"),
		cmd("role-list-after", "role", "list"),
		cmd("user-remove-root-after-disable", "user", "remove", "root"),
		cmd("user-list-last", "user", "list"),
	}
}
