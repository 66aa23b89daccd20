package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
)

// TestTeamsCommands: the commands end to end against the real
// API: create, invite, join, members, switch, a team project, the member
// and viewer roles, remove, audit --json.
func TestTeamsCommands(t *testing.T) {
	st, bob := inviteAPI(t) // root (APOGEE_TOKEN) owns the team; bob joins it
	ctx := context.Background()

	r := run(t, "", "teams", "create", "acme").ok(t)
	if !strings.Contains(r.stdout, "Created team acme.") {
		t.Errorf("create said %q", r.stdout)
	}
	if r := run(t, "", "teams", "create", "acme"); r.code == 0 || !strings.Contains(r.stderr, "taken") {
		t.Errorf("a taken name: %+v", r)
	}
	link := strings.TrimSpace(run(t, "", "teams", "invite", "acme", "ada@example.com", "--role", "member").ok(t).stdout)
	if !strings.HasPrefix(link, "https://apogee.example.com/teams/join?token=") {
		t.Fatalf("invite printed %q, want the link alone", link)
	}
	if r := run(t, "", "teams", "invite", "acme", "--role", "boss"); r.code == 0 || !strings.Contains(r.stderr, "owner, member, viewer") {
		t.Errorf("a bad role: %+v", r)
	}
	viewer := oneJSON(t, run(t, "", "teams", "invite", "acme", "--role", "viewer", "--json").ok(t).stdout)
	if viewer["role"] != "viewer" || viewer["token"] == "" {
		t.Fatalf("invite --json %v", viewer)
	}
	if out := run(t, "", "--token", bob, "teams", "join", link).ok(t).stdout; !strings.Contains(out, "Joined team acme as member.") {
		t.Errorf("join said %q", out)
	}

	var ms struct{ Members []apogee.Member }
	if err := json.Unmarshal([]byte(run(t, "", "teams", "members", "acme", "--json").ok(t).stdout), &ms); err != nil {
		t.Fatal(err)
	}
	if len(ms.Members) != 2 || ms.Members[0].Email != "ada@example.com" || ms.Members[0].Role != apogee.RoleMember ||
		ms.Members[1].Role != apogee.RoleOwner {
		t.Fatalf("members %+v", ms.Members)
	}

	// The scope: switch, then create and list in the team.
	if out := run(t, "", "--token", bob, "switch", "acme").ok(t).stdout; !strings.Contains(out, "Switched to team acme.") {
		t.Errorf("switch said %q", out)
	}
	cfg, err := LoadConfig()
	if err != nil || cfg.Team != "acme" {
		t.Fatalf("config after switch: %+v, %v", cfg, err)
	}
	if r := run(t, "", "switch", "nosuch"); r.code == 0 {
		t.Errorf("switch to a team of no one's: %+v", r)
	}
	if out := run(t, "", "--token", bob, "projects", "create", "web").ok(t).stdout; !strings.Contains(out, "in team acme") {
		t.Errorf("create in the scope said %q", out)
	}
	p, err := st.ProjectByName(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	team, err := st.TeamByName(ctx, "acme")
	if err != nil || p.OwnerID != team.ID {
		t.Fatalf("web's owner %q, team %+v %v", p.OwnerID, team, err)
	}
	if out := run(t, "", "--token", bob, "projects", "list").ok(t).stdout; !strings.Contains(out, "web") {
		t.Errorf("list in the scope lacks web:\n%s", out)
	}
	if out := run(t, "", "--token", bob, "projects", "list", "--team", "").ok(t).stdout; strings.Contains(out, "web") {
		t.Errorf("the personal list shows the team's project:\n%s", out)
	}
	run(t, "", "--token", bob, "switch", "--personal").ok(t)
	run(t, "", "--token", bob, "projects", "create", "own").ok(t)
	if own, _ := st.ProjectByName(ctx, "own"); own == nil || own.OwnerID == team.ID {
		t.Errorf("a personal project went to the team: %+v", own)
	}

	// A member may not read the team's audit log; the owner may.
	if r := run(t, "", "--token", bob, "audit", "--team", "acme"); r.code == 0 {
		t.Errorf("a member read the audit log: %+v", r)
	}
	run(t, "", "teams", "remove", "acme", "ada@example.com").ok(t)
	if r := run(t, "", "--token", bob, "projects", "show", "web"); r.code == 0 {
		t.Errorf("a removed member still sees the project: %+v", r)
	}
	var log struct{ Entries []apogee.AuditEntry }
	if err := json.Unmarshal([]byte(run(t, "", "audit", "--team", "acme", "--since", "1h", "--json").ok(t).stdout), &log); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range log.Entries {
		actions = append(actions, e.Action+" "+e.Actor)
	}
	want := []string{"member.remove root@example.com", "access.refused ada@example.com", "project.create ada@example.com", "invite.accept ada@example.com",
		"invite.create root@example.com", "invite.create root@example.com", "team.create root@example.com"}
	if strings.Join(actions, ",") != strings.Join(want, ",") {
		t.Errorf("audit --json:\n got  %q\n want %q", actions, want)
	}
	if out := run(t, "", "audit", "--team", "acme").ok(t).stdout; !strings.Contains(out, "ACTION") || !strings.Contains(out, "member.remove") {
		t.Errorf("audit table:\n%s", out)
	}
	if r := run(t, "", "teams", "delete", "acme"); r.code == 0 || !strings.Contains(r.stderr, "projects move") {
		t.Errorf("deleting a team with a project: %+v", r)
	}
}

// TestTeamsRename: `apogee teams rename` changes the name and the display
// name (owners only), the old name stops working, the CLI's scope
// follows, bad names change nothing, and the audit log has it.
func TestTeamsRename(t *testing.T) {
	_, bob := inviteAPI(t)
	run(t, "", "teams", "create", "acme").ok(t)
	run(t, "", "teams", "create", "globex").ok(t)
	link := strings.TrimSpace(run(t, "", "teams", "invite", "acme", "--role", "member").ok(t).stdout)
	run(t, "", "--token", bob, "teams", "join", link).ok(t)
	run(t, "", "switch", "acme").ok(t)

	for _, c := range []struct {
		name string
		argv []string
		msg  string
	}{
		{"no change given", []string{"teams", "rename", "acme"}, "ive a new name, --display-name or both"},
		{"taken", []string{"teams", "rename", "acme", "globex"}, "taken"},
		{"not a label", []string{"teams", "rename", "acme", "Acme Inc"}, "team name"},
		{"reserved", []string{"teams", "rename", "acme", "join"}, "reserved"},
		{"too long", []string{"teams", "rename", "acme", "--display-name", strings.Repeat("x", 65)}, "at most 64"},
		{"a member", []string{"--token", bob, "teams", "rename", "acme", "bobs"}, "owner"},
	} {
		if r := run(t, "", c.argv...); r.code == 0 || !strings.Contains(r.stderr, c.msg) {
			t.Errorf("%s: %+v", c.name, r)
		}
	}
	if out := run(t, "", "teams", "show", "acme", "--json").ok(t).stdout; !strings.Contains(out, `"name": "acme"`) || strings.Contains(out, "display_name") {
		t.Fatalf("refused renames changed the team:\n%s", out)
	}

	out := run(t, "", "teams", "rename", "acme", "acme-inc", "--display-name", "Acme, Inc.").ok(t).stdout
	if !strings.Contains(out, "Team acme is now acme-inc (Acme, Inc.).") {
		t.Errorf("rename said %q", out)
	}
	if r := run(t, "", "teams", "show", "acme"); r.code == 0 {
		t.Errorf("the old name still works: %+v", r)
	}
	v := oneJSON(t, run(t, "", "teams", "show", "acme-inc", "--json").ok(t).stdout)
	if v["display_name"] != "Acme, Inc." || v["role"] != "owner" {
		t.Errorf("renamed team %v", v)
	}
	if cfg, err := LoadConfig(); err != nil || cfg.Team != "acme-inc" {
		t.Errorf("the scope did not follow the rename: %+v, %v", cfg, err)
	}
	// The member's membership and view follow too.
	if out := run(t, "", "--token", bob, "teams", "list").ok(t).stdout; !strings.Contains(out, "acme-inc") {
		t.Errorf("the member's teams:\n%s", out)
	}
	run(t, "", "teams", "rename", "acme-inc", "--display-name", "").ok(t)
	if v := oneJSON(t, run(t, "", "teams", "show", "acme-inc", "--json").ok(t).stdout); v["display_name"] != nil {
		t.Errorf("display name not cleared: %v", v)
	}
	var log struct{ Entries []apogee.AuditEntry }
	if err := json.Unmarshal([]byte(run(t, "", "audit", "--team", "acme-inc", "--json").ok(t).stdout), &log); err != nil {
		t.Fatal(err)
	}
	if len(log.Entries) < 2 || log.Entries[0].Action != "team.rename" || log.Entries[1].Action != "team.rename" ||
		!strings.Contains(log.Entries[1].Detail, "name acme → acme-inc") || !strings.Contains(log.Entries[1].Detail, `"Acme, Inc."`) {
		t.Errorf("audit after renames: %+v", log.Entries[:min(3, len(log.Entries))])
	}
}
