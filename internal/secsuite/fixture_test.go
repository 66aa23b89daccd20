package secsuite

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
)

// fixture is the victim's data one row attacks: a project of the owner's
// and what a request may name in it, each made on first use through the
// API as the owner (or the admin, for plans, invites and users). Every
// name and secret it makes is a marker: an answer to a caller who did
// not send it must not contain it.
type fixture struct {
	w   *world
	t   *testing.T
	ctx context.Context

	project string // the victim's project
	path    string // the project name requests carry: project, or the other user's own in a mixed request
	markers map[string]bool

	deps        map[string]string // production, previous, preview, queued: deployment ids
	uploading   *uploading
	uploaded    string // a deployment with every file, not finalized
	plain       string // a project without a repository (git push)
	otherRepo   string // the webhook secret of the other user's project on the victim's repository
	secret      string // the victim project's webhook secret
	filled      string // the upload, once it received its ZIP
	runtimeLine string // a line of the project's runtime log
	app         string // the app release serving production
	domain      string
	dnsZone     string // a delegated zone of the victim, attached to the project
	dnsRecord   string // a record of it
	envKey      string
	webhook     string
	upload      *apogee.UploadResponse
	token       string
	plan        string
	invite      string
	user        string
	team        string // the victim's team (teams_fixture_test.go)
	teamID      string
	teamInvite  string
	teamMember  string
	teamWebhook string
}

type uploading struct {
	id, sha, content string
}

func (w *world) fixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{w: w, t: t, ctx: context.Background(), markers: map[string]bool{}, deps: map[string]string{}}
	f.project = w.unique("victim")
	f.path = f.project
	if _, err := w.ownerAPI.CreateGitProject(f.ctx, f.project, apogee.GitSource{URL: f.repoURL(), Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	f.mark(f.project)
	// The owner's own identity is never anyone else's business.
	f.mark(w.owner.user.Email, w.owner.user.ID)
	t.Cleanup(func() {
		// Gone with its deployments, domains, variables and webhooks; a
		// row that deleted it already gets 404.
		_ = w.ownerAPI.DeleteProject(context.Background(), f.project)
	})
	return f
}

// mixed returns the fixture as the other user's mixed request sees it:
// the other user's own project in the path, the victim's things
// everywhere else.
func (f *fixture) mixed() *fixture {
	m := *f
	m.path = f.w.otherProject
	m.user = f.w.other.user.ID // admin rows: their own account
	return &m
}

func (f *fixture) mark(values ...string) {
	for _, v := range values {
		if v != "" {
			f.markers[v] = true
		}
	}
}

// leaks returns the markers found in an answer that the request did not
// carry itself.
func (f *fixture) leaks(req request, res response) []string {
	sent := req.text()
	var got strings.Builder
	got.Write(res.body)
	for _, k := range []string{"Location", "Set-Cookie", "Link", "Refresh"} {
		for _, v := range res.header.Values(k) {
			got.WriteString("\n" + v)
			if u, err := url.QueryUnescape(v); err == nil {
				got.WriteString("\n" + u)
			}
		}
	}
	answer := got.String()
	var out []string
	for m := range f.markers {
		if strings.Contains(answer, m) && !strings.Contains(sent, m) {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

// Name is the project name a request carries.
func (f *fixture) Name() string { return f.path }

func (f *fixture) api() *client.Client { return f.w.ownerAPI }

// deployments makes the project's ready deployments: production, the
// previous production (the rollback target) and a ready preview.
func (f *fixture) deployments() {
	if len(f.deps) > 0 && f.deps["production"] != "" {
		return
	}
	t := f.t
	t.Helper()
	prev := deployFiles(t, f.api(), f.project, map[string]string{"index.html": "previous " + f.project}, true)
	prod := deployFiles(t, f.api(), f.project, map[string]string{"index.html": "production " + f.project}, true)
	prev2 := deployFiles(t, f.api(), f.project, map[string]string{"index.html": "preview " + f.project}, false)
	f.deps["previous"], f.deps["production"], f.deps["preview"] = prev.ID, prod.ID, prev2.ID
	f.mark(prev.ID, prod.ID, prev2.ID)
	// The edge hears of the new production through the event bus: wait
	// until it serves it, so that the snapshot sees a settled site.
	host := f.project + ".localhost" + f.w.port
	deadline := time.Now().Add(10 * time.Second)
	for {
		res := f.w.do(f.w.none, request{method: "GET", path: "/", host: host, noAuth: true})
		if res.status == 200 && string(res.body) == "production "+f.project {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never served its production deployment: %s", host, res)
		}
		time.Sleep(time.Millisecond)
	}
}

// Production is the id of the project's production deployment.
func (f *fixture) Production() string { f.deployments(); return f.deps["production"] }

// Previous is the id of the production before it (rollback's target).
func (f *fixture) Previous() string { f.deployments(); return f.deps["previous"] }

// Preview is the id of a ready preview deployment.
func (f *fixture) Preview() string { f.deployments(); return f.deps["preview"] }

// Uploading is a deployment still uploading, with the one file it lacks.
func (f *fixture) Uploading() (id, sha256, content string) {
	if f.uploading == nil {
		content := "uploading " + f.project
		d, err := f.api().CreateDeployment(f.ctx, f.project, apogee.CreateDeploymentRequest{
			Files: []apogee.File{{Path: "index.html", SHA256: sha(content), Size: int64(len(content))}}})
		if err != nil {
			f.t.Fatal(err)
		}
		f.uploading = &uploading{id: d.ID, sha: sha(content), content: content}
		f.mark(d.ID)
	}
	return f.uploading.id, f.uploading.sha, f.uploading.content
}

// Uploaded is a deployment whose files are all uploaded, not finalized.
func (f *fixture) Uploaded() string {
	if f.uploaded == "" {
		content := f.Unique("uploaded ")
		d, err := f.api().CreateDeployment(f.ctx, f.project, apogee.CreateDeploymentRequest{
			Files: []apogee.File{{Path: "index.html", SHA256: sha(content), Size: int64(len(content))}}})
		if err != nil {
			f.t.Fatal(err)
		}
		if err := f.api().UploadFile(f.ctx, d.ID, sha(content), strings.NewReader(content), int64(len(content))); err != nil {
			f.t.Fatal(err)
		}
		f.uploaded = d.ID
		f.mark(d.ID)
	}
	return f.uploaded
}

// PlainName is a project of the owner's without a repository: git push
// goes to the platform's own.
func (f *fixture) PlainName() string {
	if f.plain == "" {
		f.plain = f.w.unique("plain")
		if _, err := f.api().CreateProject(f.ctx, f.plain); err != nil {
			f.t.Fatal(err)
		}
		f.mark(f.plain)
		name := f.plain
		f.t.Cleanup(func() { _ = f.w.ownerAPI.DeleteProject(context.Background(), name) })
	}
	if f.path != f.project { // mixed
		return f.path
	}
	return f.plain
}

// OtherUpload is a pre-signed upload of the other user's own project.
func (f *fixture) OtherUpload() *apogee.UploadResponse {
	up, err := client.New(f.w.base, f.w.other.token).CreateUpload(f.ctx, f.w.otherProject)
	if err != nil {
		f.t.Fatal(err)
	}
	return up
}

// ProjectWebhookSecret is the secret that signs the victim project's
// GitHub push webhooks.
func (f *fixture) ProjectWebhookSecret() string {
	if f.secret == "" {
		p, err := f.api().GetProject(f.ctx, f.project)
		if err != nil {
			f.t.Fatal(err)
		}
		if p.WebhookSecret == "" {
			f.t.Fatalf("project %s shows its owner no webhook secret", f.project)
		}
		f.secret = p.WebhookSecret
		f.mark(f.secret)
	}
	return f.secret
}

// OtherSameRepoSecret makes a project of the other user's on the
// victim's repository and returns its webhook secret.
func (f *fixture) OtherSameRepoSecret() string {
	if f.otherRepo == "" {
		c := client.New(f.w.base, f.w.other.token)
		name := f.w.unique("samerepo")
		p, err := c.CreateGitProject(f.ctx, name, apogee.GitSource{URL: f.repoURL(), Branch: "main"})
		if err != nil {
			f.t.Fatal(err)
		}
		f.otherRepo = p.WebhookSecret
		f.t.Cleanup(func() { _ = c.DeleteProject(context.Background(), name) })
	}
	return f.otherRepo
}

func (f *fixture) repoURL() string { return "https://git.invalid/" + f.project + ".git" }

// appSecret signs the world's GitHub App deliveries.
const appSecret = "secsuite-app-secret"

// AppPush is the GitHub App's push of the victim project's repository,
// signed with secret ("" for unsigned), after linking the project to the
// app's installation 9 as an import does.
func (f *fixture) AppPush(secret string) request {
	p, err := f.w.store.ProjectByName(f.ctx, f.project)
	if err != nil {
		f.t.Fatal(err)
	}
	repo := "victim/" + f.project
	if err := f.w.store.LinkAppProject(f.ctx, apogee.AppProject{ProjectID: p.ID, InstallationID: 9, Repo: repo}); err != nil {
		f.t.Fatal(err)
	}
	body, err := json.Marshal(map[string]any{
		"ref": "refs/heads/main", "after": sha(f.Unique("apppushed"))[:40],
		"installation": map[string]any{"id": 9},
		"repository":   map[string]string{"full_name": repo, "clone_url": f.repoURL()},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	h := http.Header{"X-Github-Event": {"push"}, "X-Github-Delivery": {f.Unique("delivery")}}
	if secret != "" {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		h.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	}
	return request{method: "POST", path: "/api/v1/webhooks/github-app", body: body, contentType: "application/json", header: h, noAuth: true}
}

// GitHubPush is GitHub's push webhook for the victim's repository and
// branch, signed with secret ("" for unsigned).
func (f *fixture) GitHubPush(secret string) request { return f.GitHubPushTo(f.repoURL(), secret) }

// GitHubPushTo is GitHub's push webhook for the repository at repo.
func (f *fixture) GitHubPushTo(repo, secret string) request {
	f.ProjectWebhookSecret()
	body, err := json.Marshal(map[string]any{
		"ref": "refs/heads/main", "after": sha(f.Unique("pushed"))[:40],
		"repository": map[string]string{"full_name": "victim/" + f.project, "clone_url": repo},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	h := http.Header{"X-Github-Event": {"push"}, "X-Github-Delivery": {f.Unique("delivery")}}
	if secret != "" {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		h.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	}
	return request{method: "POST", path: "/api/v1/webhooks/github", body: body, contentType: "application/json", header: h, noAuth: true}
}

// RuntimeLog writes a line to the project's runtime log (as its app
// would) and returns its text.
func (f *fixture) RuntimeLog() string {
	if f.runtimeLine == "" {
		st, ok := f.w.store.(apogee.RuntimeLogStore)
		if !ok {
			f.t.Fatalf("the store %T keeps no runtime logs", f.w.store)
		}
		p, err := f.w.store.ProjectByName(f.ctx, f.project)
		if err != nil {
			f.t.Fatal(err)
		}
		text := f.Unique("app says its secret ")
		if _, _, err := st.AppendRuntimeLogs(f.ctx, p.ID, []apogee.LogLine{{Time: time.Now().UTC(), Stream: "stdout", Text: text}}); err != nil {
			f.t.Fatal(err)
		}
		f.runtimeLine = text
		f.mark(text)
	}
	return f.runtimeLine
}

// Queued is a build queued from a commit of the project's repository (no
// builder runs, so it stays queued): cancel, logs and redeploy take it.
func (f *fixture) Queued() string {
	if f.deps["queued"] == "" {
		commit := sha(f.project)[:40]
		d, err := f.api().QueueBuild(f.ctx, f.project, apogee.BuildRequest{Ref: commit})
		if err != nil {
			f.t.Fatal(err)
		}
		f.deps["queued"] = d.ID
		f.mark(d.ID)
	}
	return f.deps["queued"]
}

// Domain is a custom domain of the project, not verified yet, whose TXT
// record the test's DNS server holds (so that its owner can verify it).
func (f *fixture) Domain() string {
	if f.domain == "" {
		name := f.w.unique("shop") + ".victim-example.com"
		d, err := f.api().AddDomain(f.ctx, f.project, name)
		if err != nil {
			f.t.Fatal(err)
		}
		f.w.zone.Set(d.Verification.Name, d.Verification.Value)
		f.domain = d.Name
		f.mark(d.Name, d.Verification.Value)
	}
	return f.domain
}

// Zone is a delegated DNS zone of the victim, attached to the project,
// whose delegation the loopback DNS reports (verify succeeds).
func (f *fixture) Zone() string {
	if f.dnsZone == "" {
		name := f.w.unique("zone") + ".victim-example.net"
		// A team fixture's zone is the team's, as its project is.
		z, err := f.api().AddZone(f.ctx, apogee.AddZoneRequest{Name: name, Team: f.team, Project: f.project})
		if err != nil {
			f.t.Fatal(err)
		}
		f.w.zone.SetNS(z.Name, z.Nameservers...)
		f.dnsZone = z.Name
		f.mark(z.Name)
	}
	return f.dnsZone
}

// ZoneRecord is a TXT record of the victim's zone, holding a marker.
func (f *fixture) ZoneRecord() string {
	if f.dnsRecord == "" {
		value := f.w.unique("dnsvalue-")
		r, err := f.api().AddRecord(f.ctx, f.Zone(), apogee.AddRecordRequest{Name: "@", Type: "TXT", Value: value})
		if err != nil {
			f.t.Fatal(err)
		}
		f.dnsRecord = r.ID
		f.mark(value)
	}
	return f.dnsRecord
}

// EnvKey is a secret environment variable of the project.
func (f *fixture) EnvKey() string {
	if f.envKey == "" {
		key := strings.ToUpper(f.w.unique("SECRET_"))
		value := f.w.unique("envvalue-")
		if _, err := f.api().SetEnv(f.ctx, f.project, key, value, true); err != nil {
			f.t.Fatal(err)
		}
		f.envKey = key
		f.mark(key, value)
	}
	return f.envKey
}

// Webhook is a webhook of the project to the test's receiver, for an
// event no fixture sets off (nothing builds here).
func (f *fixture) Webhook() string {
	if f.webhook == "" {
		u := f.w.hooks.URL + "/" + f.w.unique("hook")
		secret := f.w.unique("whsecret-0123456789-")
		h, err := f.api().CreateWebhook(f.ctx, f.project, apogee.CreateWebhookRequest{
			URL: u, Secret: secret, Events: []string{apogee.NotifyDeploymentBuilding}})
		if err != nil {
			f.t.Fatal(err)
		}
		f.webhook = h.ID
		f.mark(h.ID, u, secret)
	}
	return f.webhook
}

// Upload is a pre-signed ZIP upload of the project, not used yet.
func (f *fixture) Upload() *apogee.UploadResponse {
	if f.upload == nil {
		up, err := f.api().CreateUpload(f.ctx, f.project)
		if err != nil {
			f.t.Fatal(err)
		}
		f.upload = up
		f.mark(up.ID, up.UploadURL)
	}
	return f.upload
}

// FilledUpload is the id of a pre-signed upload that received a ZIP,
// not built yet.
func (f *fixture) FilledUpload() string {
	up := f.Upload()
	if f.filled == "" {
		body := zipOf(f.t, map[string]string{"index.html": "uploaded " + f.project})
		if err := f.api().PutUpload(f.ctx, up.UploadURL, bytes.NewReader(body), int64(len(body))); err != nil {
			f.t.Fatal(err)
		}
		f.filled = up.ID
	}
	return f.filled
}

// UploadPath is the path and query of the upload's signed URL.
func (f *fixture) UploadPath() string {
	u := mustURL(f.t, f.Upload().UploadURL)
	return u.RequestURI()
}

// Token is the id of an API token of the owner's, not revoked.
func (f *fixture) Token() string {
	if f.token == "" {
		name := f.w.unique("victim-token-")
		tr, err := f.api().CreateToken(f.ctx, apogee.CreateTokenRequest{Name: name})
		if err != nil {
			f.t.Fatal(err)
		}
		f.token = tr.Detail.ID
		f.mark(tr.Detail.ID, name, tr.Token)
	}
	return f.token
}

// Plan is the id of a plan the admin made, no one on it.
func (f *fixture) Plan() string {
	if f.plan == "" {
		name, n := f.w.unique("plan-"), int64(3)
		p, err := f.w.adminAPI.AdminCreatePlan(f.ctx, apogee.PlanRequest{Name: &name, Projects: &n})
		if err != nil {
			f.t.Fatal(err)
		}
		f.plan = p.ID
		f.mark(p.ID, name)
		f.t.Cleanup(func() { _ = f.w.adminAPI.AdminDeletePlan(context.Background(), p.ID) })
	}
	return f.plan
}

// Invite is the id of a pending invitation the admin made.
func (f *fixture) Invite() string {
	if f.invite == "" {
		inv, err := f.w.adminAPI.AdminInvite(f.ctx, apogee.InviteRequest{Email: f.w.unique("invitee") + "@victim.example"})
		if err != nil {
			f.t.Fatal(err)
		}
		f.invite = inv.ID
		f.mark(inv.ID, inv.Email, inv.URL)
	}
	return f.invite
}

// InviteToken is a fresh invitation's secret (each call a new one: a
// sign-up uses it up).
func (f *fixture) InviteToken() string {
	inv, err := f.w.adminAPI.AdminInvite(f.ctx, apogee.InviteRequest{Email: f.w.unique("signup") + "@secsuite.example"})
	if err != nil {
		f.t.Fatal(err)
	}
	u := mustURL(f.t, inv.URL)
	return u.Query().Get("invite")
}

// User is the id of a plain user (not the owner) that admin rows change.
func (f *fixture) User() string {
	if f.user == "" {
		email := f.w.unique("target") + "@victim.example"
		u := &apogee.User{ID: apogee.NewID(), Email: email, Password: f.w.hash, CreatedAt: f.w.owner.user.CreatedAt}
		if err := f.w.store.CreateUser(f.ctx, u); err != nil {
			f.t.Fatal(err)
		}
		f.user = u.ID
		f.mark(u.ID, email)
	}
	return f.user
}

// Unique is a fresh name for what a request creates.
func (f *fixture) Unique(prefix string) string { return f.w.unique(prefix) }

// snapshot is the victim's data as the store holds it, and what the
// victim's hosts serve: every record of the owner's (their user, tokens,
// projects with their deployments, domains, variables and webhooks, the
// webhooks' deliveries), and what only an admin may change (the
// principals' and the fixture user's flags and plans, every plan, the
// fixture's invitation). Times of last use are left out: using your own
// token is not a change.
func (f *fixture) snapshot() string {
	t, w := f.t, f.w
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	put := func(label string, v any) {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s: %s\n", label, j)
	}
	must := func(err error) {
		if err != nil {
			t.Helper()
			t.Fatal(err)
		}
	}
	ids := []string{w.owner.user.ID, w.other.user.ID, w.admin.user.ID, w.disabled.user.ID}
	if f.user != "" {
		ids = append(ids, f.user)
	}
	for _, id := range ids {
		u, err := w.store.UserByID(ctx, id)
		must(err)
		hash := "" // only the victims' passwords: others may change their own
		if id == w.owner.user.ID || id == f.user {
			hash = u.Password
		}
		put("user", []any{u.ID, u.Email, hash, u.Admin, u.PlanID, u.DisabledAt})
	}
	plans, err := w.store.ListPlans(ctx)
	must(err)
	for _, p := range plans {
		put("plan", []any{p.ID, p.Name, p.Default, p.Limits, p.Users, p.Teams})
	}
	zones, err := w.store.ListZones(ctx, w.owner.user.ID)
	must(err)
	if f.teamID != "" { // a team fixture's zone is the team's
		tz, err := w.store.ListZones(ctx, f.teamID)
		must(err)
		zones = append(zones, tz...)
	}
	for _, z := range zones {
		put("zone", z)
		rs, err := w.store.ZoneRecords(ctx, z.Name)
		must(err)
		put("zone records", rs)
	}
	if f.invite != "" {
		invites, err := w.store.ListInvites(ctx, time.Time{})
		must(err)
		found := false
		for _, i := range invites {
			if i.ID == f.invite {
				put("invite", []any{i.ID, i.Email, i.Hash, i.ExpiresAt, i.UsedAt})
				found = true
			}
		}
		put("invite pending", found)
	}
	if f.upload != nil {
		up, err := w.store.UploadByID(ctx, f.upload.ID)
		must(err)
		put("upload", up)
	}
	// Every blob: a refused upload must not leave one behind either.
	var blobs []string
	filepath.WalkDir(filepath.Join(w.data, "blobs"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			blobs = append(blobs, strings.TrimPrefix(path, w.data))
		}
		return nil
	})
	put("blobs", blobs)
	f.teamSnapshot(put, must)
	tokens, err := w.store.ListTokens(ctx, w.owner.user.ID)
	must(err)
	for _, tok := range tokens {
		put("token", []any{tok.ID, tok.Name, tok.Hash, tok.ExpiresAt, tok.RevokedAt})
	}
	projects, err := w.store.ListProjects(ctx, w.owner.user.ID)
	must(err)
	// And the projects of the victim's teams (roles_test.go).
	teams, err := w.store.Teams(ctx, w.owner.user.ID)
	must(err)
	for _, t := range teams {
		ps, err := w.store.ListProjects(ctx, t.ID)
		must(err)
		projects = append(projects, ps...)
	}
	for _, p := range projects {
		put("project", []any{p, p.WebhookSecret})
		deps, err := w.store.ListDeployments(ctx, p.ID, 1000)
		must(err)
		for _, d := range deps {
			put("deployment", []any{d, d.SourceBlob})
			files, err := w.store.DeploymentFiles(ctx, d.ID)
			must(err)
			put("files", files)
		}
		domains, err := w.store.ListDomains(ctx, p.ID)
		must(err)
		for _, d := range domains {
			put("domain", []any{d, d.Token})
		}
		env, err := w.store.ListEnv(ctx, p.ID)
		must(err)
		for _, e := range env {
			put("env", []any{e.Key, e.Value, e.Secret})
		}
		hooks, err := w.store.ListWebhooks(ctx, p.ID)
		must(err)
		for _, h := range hooks {
			u, _ := url.Parse(h.URL)
			put("webhook", []any{h, h.Secret, w.hooks.count(u.Path)})
		}
		if p.ProductionID != "" {
			res := w.do(w.none, request{method: "GET", path: "/", host: p.Name + ".localhost" + w.port, noAuth: true})
			put("serves", []any{res.status, string(res.body)})
		}
	}
	return b.String()
}

// diff says which lines of a snapshot changed.
func diff(before, after string) string {
	a, b := strings.Split(before, "\n"), strings.Split(after, "\n")
	var out []string
	for _, l := range a {
		if !slices.Contains(b, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range b {
		if !slices.Contains(a, l) {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

// App makes the project an app whose production is a running release
// (a one-file Node server, its release recorded as a build's would be,
// then promoted through the gate, which starts its instance): status,
// scale and restart take it. It returns the release's deployment id.
func (f *fixture) App() string {
	if f.app != "" {
		return f.app
	}
	t := f.t
	t.Helper()
	body := f.Unique("app of ")
	files := map[string]string{
		"server.js": `require('http').createServer((q, s) => s.end('` + body + `')).listen(process.env.PORT)`,
	}
	var manifest []apogee.File
	for name, content := range files {
		manifest = append(manifest, apogee.File{Path: name, SHA256: sha(content), Size: int64(len(content))})
	}
	d, err := f.api().CreateDeployment(f.ctx, f.project, apogee.CreateDeploymentRequest{Files: manifest})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range manifest {
		if err := f.api().UploadFile(f.ctx, d.ID, m.SHA256, strings.NewReader(files[m.Path]), m.Size); err != nil {
			t.Fatal(err)
		}
	}
	p, err := f.w.store.ProjectByName(f.ctx, f.project)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.w.store.CreateRelease(f.ctx, &apogee.Release{DeploymentID: d.ID, ProjectID: p.ID, StartCommand: "node server.js",
		HealthPath: "/", BootTimeout: 30}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.api().Finalize(f.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.api().Promote(f.ctx, f.project, d.ID); err != nil {
		t.Fatal(err)
	}
	f.app = d.ID
	f.mark(d.ID, body)
	host := f.project + ".localhost" + f.w.port
	deadline := time.Now().Add(10 * time.Second)
	for {
		res := f.w.do(f.w.none, request{method: "GET", path: "/", host: host, noAuth: true})
		if res.status == 200 && string(res.body) == body {
			return f.app
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never served its app: %s", host, res)
		}
		time.Sleep(time.Millisecond)
	}
}
