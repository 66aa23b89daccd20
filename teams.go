package apogee

import (
	"context"
	"strings"
	"time"
)

// A team is an owner of projects, as a person is (issue 19): it has its
// own plan and usage, members with roles, invitations by link and an
// audit log. In the store a team is an account like a user (a users row
// of kind "team", with no password and no email a person could have), so
// that everything kept per owner (projects, the plan, usage, held blobs)
// is kept for a team the same way; Team is what only a team has.
type Team struct {
	ID   string `json:"id"`
	Name string `json:"name"` // the slug: the CLI's and the URLs' handle
	// DisplayName is free text shown on the team's pages ("" shows Name).
	DisplayName string    `json:"display_name,omitempty"`
	CreatedBy   string    `json:"created_by,omitempty"` // the user who made it
	CreatedAt   time.Time `json:"created_at"`
	// PlanID is the team's own plan; "" means the default plan.
	PlanID string `json:"plan_id,omitempty"`
}

// Role is what a member may do in a team. Roles are checked in one place,
// the platform's access check:
//
//   - owner: everything a member may, and the team itself: members and
//     their roles, invitations, the plan, deleting the team and any of its
//     projects, moving projects in and out, the audit log;
//   - member: create and deploy projects, environment variables, domains,
//     settings, webhooks, promote and roll back;
//   - viewer: see projects, deployments and logs; no secret values, no
//     changes.
type Role string

// The roles, from the most to the least allowed.
const (
	RoleOwner  Role = "owner"
	RoleMember Role = "member"
	RoleViewer Role = "viewer"
)

// Valid reports whether r is one of the three roles.
func (r Role) Valid() bool { return r == RoleOwner || r == RoleMember || r == RoleViewer }

// CheckRole returns the role named by s ("" is member), or an EINVALID
// error naming the choices.
func CheckRole(s string) (Role, error) {
	if s == "" {
		return RoleMember, nil
	}
	if r := Role(s); r.Valid() {
		return r, nil
	}
	return "", Errorf(EINVALID, "role %q is not one of owner, member, viewer", s)
}

// Member is a user's membership of a team.
type Member struct {
	TeamID    string    `json:"team_id"`
	UserID    string    `json:"user_id"`
	Email     string    `json:"email"`
	Role      Role      `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// TeamInvite is a link that makes whoever opens it, signed in, a member of
// a team with a role. Only the SHA-256 of the link's token is kept. As
// Vercel's invitations do, one made for an Email is accepted only by the
// account of that email (CheckInviteEmail), and makes that account when
// it signs someone up; one made without an email is an open link that
// works for whoever has it.
type TeamInvite struct {
	ID         string     `json:"id"`
	TeamID     string     `json:"team_id"`
	Email      string     `json:"email,omitempty"`
	Role       Role       `json:"role"`
	Hash       []byte     `json:"-"`
	InvitedBy  string     `json:"invited_by"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	AcceptedAt *time.Time `json:"accepted_at,omitempty"`
	AcceptedBy string     `json:"accepted_by,omitempty"`
}

// Pending reports whether the invitation may still be accepted at now.
func (i *TeamInvite) Pending(now time.Time) bool {
	return i.AcceptedAt == nil && now.Before(i.ExpiresAt)
}

// CheckInviteEmail returns nil if an account with email userEmail may
// accept an invitation to team made for inviteEmail ("" is an open link,
// which anyone may accept); otherwise an EFORBIDDEN error saying which
// account to sign in with. Emails compare without regard to case.
func CheckInviteEmail(team, inviteEmail, userEmail string) error {
	if inviteEmail == "" || strings.EqualFold(strings.TrimSpace(inviteEmail), strings.TrimSpace(userEmail)) {
		return nil
	}
	return Errorf(EFORBIDDEN, "this invitation to team %s is for %s, and you are signed in as %s: sign out and sign in as %s (or make that account from the link) to accept it, or ask a team owner for an invitation for %s",
		team, inviteEmail, userEmail, inviteEmail, userEmail)
}

// ErrTeamInviteUsed is the answer to an invitation that was accepted,
// revoked or has expired.
var ErrTeamInviteUsed = Errorf(EINVALID, "this team invitation was used already, was revoked or has expired; ask a team owner for a new one")

// TeamStore keeps teams, their members and invitations. Errors follow the
// Store conventions.
type TeamStore interface {
	// CreateTeam inserts t (an account of kind team and its name) with
	// owner as its first owner, in one transaction; ECONFLICT if the
	// name is taken.
	CreateTeam(ctx context.Context, t *Team, owner string) error
	TeamByName(ctx context.Context, name string) (*Team, error)
	TeamByID(ctx context.Context, id string) (*Team, error)
	// Teams returns the teams userID belongs to, by name, with the
	// user's role in each; every team (with no role) for "".
	Teams(ctx context.Context, userID string) ([]*TeamMembership, error)
	// DeleteTeam removes the team, its members, invitations and tokens
	// scoped to it. ECONFLICT while it owns projects.
	DeleteTeam(ctx context.Context, id string) error
	// RenameTeam sets the team's name and display name; ECONFLICT if the
	// name is another team's, ErrNotFound for no such team.
	RenameTeam(ctx context.Context, id, name, displayName string) error
	// Members returns a team's members by email.
	Members(ctx context.Context, teamID string) ([]*Member, error)
	// Membership returns userID's membership of teamID; ErrNotFound if
	// the user is not a member.
	Membership(ctx context.Context, teamID, userID string) (*Member, error)
	// SetMemberRole changes a member's role. ErrNotFound for a
	// non-member; ECONFLICT if the team would be left without an owner.
	SetMemberRole(ctx context.Context, teamID, userID string, role Role) error
	// RemoveMember removes a member and revokes (at at) their tokens
	// scoped to the team, in one transaction. ErrNotFound for a
	// non-member; ECONFLICT if the team would be left without an owner.
	RemoveMember(ctx context.Context, teamID, userID string, at time.Time) error
	// CreateTeamInvite inserts i (an empty ID is filled in).
	CreateTeamInvite(ctx context.Context, i *TeamInvite) error
	// TeamInviteByHash returns the invitation whose token hashes to
	// hash, used or expired ones included.
	TeamInviteByHash(ctx context.Context, hash []byte) (*TeamInvite, error)
	// TeamInvites returns a team's invitations pending at now, oldest
	// first.
	TeamInvites(ctx context.Context, teamID string, now time.Time) ([]*TeamInvite, error)
	// DeleteTeamInvite revokes one of the team's invitations.
	DeleteTeamInvite(ctx context.Context, teamID, id string) error
	// AcceptTeamInvite marks the invitation accepted by userID at at and
	// makes the user a member with its role, in one transaction.
	// ErrTeamInviteUsed if it is not pending at at; ECONFLICT if the user
	// is a member already (nothing changes then).
	AcceptTeamInvite(ctx context.Context, inviteID, userID string, at time.Time) (*Member, error)
	// SignUpByTeamInvite makes the account u (created at at) and accepts
	// the invitation for it, in one transaction: ErrTeamInviteUsed or
	// ECONFLICT (the email has an account) and nothing is made.
	SignUpByTeamInvite(ctx context.Context, inviteID string, u *User, at time.Time) (*Member, error)
	// MoveProject gives project id to the owner account ownerID (a user
	// or a team). ErrNotFound if either does not exist.
	MoveProject(ctx context.Context, id, ownerID string) error
}

// TeamMembership is a team as one of its members sees it.
type TeamMembership struct {
	*Team
	Role Role `json:"role,omitempty"`
}

// Scope is what the credential a user acts with allows: a token scoped to
// a team acts only on the team and its projects; a read-only token changes
// nothing. A nil Scope (a session, an unscoped token) allows everything the
// user may do. The platform reads it from User.Scope, which is never
// stored with the user.
type Scope struct {
	TeamID   string `json:"team_id,omitempty"`
	ReadOnly bool   `json:"read_only,omitempty"`
}

// AuditEntry is one change in the audit log: who (the actor and the
// client's address), when, what (action and target) and whose log it is
// (OwnerID: the person or team that owns what changed; "" for the
// platform's own, an admin's changes to users and plans).
type AuditEntry struct {
	ID         int64     `json:"id"`
	At         time.Time `json:"at"`
	OwnerID    string    `json:"owner_id,omitempty"`
	ActorID    string    `json:"actor_id,omitempty"`
	Actor      string    `json:"actor"`
	ClientAddr string    `json:"client_address,omitempty"`
	Action     string    `json:"action"`
	Target     string    `json:"target,omitempty"`
	ProjectID  string    `json:"project_id,omitempty"`
	Project    string    `json:"project,omitempty"`
	Detail     string    `json:"detail,omitempty"`
}

// AuditQuery selects entries of the audit log, newest first.
type AuditQuery struct {
	// OwnerID is whose log: a user's or a team's id; "" with All for
	// every entry (admins).
	OwnerID string
	All     bool
	// ProjectID narrows to one project ("" any).
	ProjectID string
	// Since drops older entries (zero: none); Before pages (entries with
	// a smaller id; 0: from the newest).
	Since  time.Time
	Before int64
	// Limit bounds the answer (<= 0 or more than MaxAuditPage:
	// MaxAuditPage).
	Limit int
}

// MaxAuditPage is the most entries one read of the audit log returns.
const MaxAuditPage = 1000

// AuditStore keeps the audit log.
type AuditStore interface {
	// AddAudit appends e, filling in its ID.
	AddAudit(ctx context.Context, e *AuditEntry) error
	// AuditLog returns the entries q selects, newest first.
	AuditLog(ctx context.Context, q AuditQuery) ([]*AuditEntry, error)
	// AuditOwners returns every owner id the log holds entries of.
	AuditOwners(ctx context.Context) ([]string, error)
	// PruneAudit deletes ownerID's entries older than before and returns
	// how many.
	PruneAudit(ctx context.Context, ownerID string, before time.Time) (int64, error)
}

// DefaultTeamInviteTTL is how long a team invitation is good for unless
// the owner says otherwise.
const DefaultTeamInviteTTL = 7 * 24 * time.Hour

// TeamService keeps teams, their members and invitations. Who may do what
// is the roles' (Role): any member sees the team and its members; owners
// change them. A team the caller is no member of is ENOTFOUND, as a
// missing one.
type TeamService interface {
	// Teams returns the caller's teams with their role in each.
	Teams(ctx context.Context) ([]*TeamMembership, error)
	// Team returns one of the caller's teams with its members, its plan
	// and usage, and (for owners) its pending invitations.
	Team(ctx context.Context, name string) (*TeamView, error)
	// CreateTeam makes a team with the caller as its owner.
	CreateTeam(ctx context.Context, req CreateTeamRequest) (*TeamView, error)
	// RenameTeam changes the team's name (its slug) and/or display name
	// (owners). The old name stops working at once: links, the CLI's
	// --team and `apogee switch` use the new one.
	RenameTeam(ctx context.Context, team string, req RenameTeamRequest) (*TeamView, error)
	// DeleteTeam removes an empty team (owners; ECONFLICT while it owns
	// projects).
	DeleteTeam(ctx context.Context, name string) error
	// Members returns the team's members by email.
	Members(ctx context.Context, team string) ([]*Member, error)
	// SetRole changes a member's role, found by email or id (owners).
	SetRole(ctx context.Context, team, user string, role Role) (*Member, error)
	// RemoveMember removes a member (owners; anyone may leave): their
	// access ends at once, their tokens scoped to the team are revoked.
	RemoveMember(ctx context.Context, team, user string) error
	// Invite makes an invitation link (owners); the link is in this
	// answer only.
	Invite(ctx context.Context, team string, req TeamInviteRequest) (*NewTeamInvite, error)
	// Invites returns the team's pending invitations (owners).
	Invites(ctx context.Context, team string) ([]*TeamInvite, error)
	RevokeInvite(ctx context.Context, team, id string) error
	// AcceptInvite makes the caller a member by an invitation's token
	// (the last part of its link). An invitation made for an email is
	// EFORBIDDEN to any other account (CheckInviteEmail), and nothing
	// changes; one without an email works for anyone signed in.
	AcceptInvite(ctx context.Context, token string) (*TeamMembership, error)
	// InvitePreview says which team and role a pending invitation's
	// token is for; ErrTeamInviteUsed when it is not pending. It needs
	// no caller: the token is the credential.
	InvitePreview(ctx context.Context, token string) (*TeamInvitePreview, error)
	// SignUpByInvite makes a new account (the invitation's email if it
	// names one) and makes it a member, in one step, whatever the
	// server's sign-up mode: the invitation is the permission. Nothing is
	// made on any error.
	SignUpByInvite(ctx context.Context, req TeamSignUpRequest) (*User, *TeamMembership, error)
}

// TeamInvitePreview is what an invitation link's page shows before
// anyone accepts it.
type TeamInvitePreview struct {
	Team      string    `json:"team"`
	Role      Role      `json:"role"`
	Email     string    `json:"email,omitempty"` // the only email it may make an account for, when set
	ExpiresAt time.Time `json:"expires_at"`
}

// TeamSignUpRequest makes an account by a team invitation.
type TeamSignUpRequest struct {
	Token    string
	Email    string // ignored when the invitation names one
	Password string
}

// AuditService reads the audit log.
type AuditService interface {
	// Audit returns entries newest first: the caller's own log, a team's
	// (its owners) or, for an admin asking for All, every entry.
	Audit(ctx context.Context, req AuditRequest) ([]*AuditEntry, error)
}

// AuditRequest selects entries of GET /api/v1/audit.
type AuditRequest struct {
	Team    string `json:"team,omitempty"`
	Project string `json:"project,omitempty"`
	All     bool   `json:"all,omitempty"`
	// Since is a duration before now ("7d", "12h") or an RFC 3339 time.
	Since  string `json:"since,omitempty"`
	Before int64  `json:"before,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// CreateTeamRequest is the body of POST /api/v1/teams. The name follows
// the rules of project names (a DNS label).
type CreateTeamRequest struct {
	Name string `json:"name"`
}

// TeamView is a team as a member sees it.
type TeamView struct {
	*Team
	Role    Role          `json:"role"`
	Members []*Member     `json:"members"`
	Invites []*TeamInvite `json:"invites,omitempty"`
	Plan    *PlanView     `json:"plan,omitempty"`
}

// TeamInviteRequest is the body of POST /api/v1/teams/{team}/invites.
type TeamInviteRequest struct {
	Email string `json:"email,omitempty"`
	Role  string `json:"role,omitempty"` // default member
	// ExpiresIn is how long the link is good for, in seconds (default 7
	// days, at most 30).
	ExpiresIn int64 `json:"expires_in,omitempty"`
}

// NewTeamInvite is an invitation with its link, shown once.
type NewTeamInvite struct {
	*TeamInvite
	URL   string `json:"url"`
	Token string `json:"token"`
}

// RenameTeamRequest is the body of PATCH /api/v1/teams/{team}: a nil
// field is left as it is.
type RenameTeamRequest struct {
	Name        *string `json:"name,omitempty"`
	DisplayName *string `json:"display_name,omitempty"`
}

// MaxTeamDisplayName bounds a team's display name, in characters.
const MaxTeamDisplayName = 64

// AcceptTeamInviteRequest is the body of POST /api/v1/teams/join.
type AcceptTeamInviteRequest struct {
	Token string `json:"token"`
}

// SetRoleRequest is the body of PATCH /api/v1/teams/{team}/members/{user}.
type SetRoleRequest struct {
	Role string `json:"role"`
}

// MoveProjectRequest is the body of POST /api/v1/projects/{name}/move:
// Team is where the project goes, "" for the caller in person.
type MoveProjectRequest struct {
	Team string `json:"team"`
}
