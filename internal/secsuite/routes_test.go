package secsuite

import (
	"net/url"
	"strings"
)

// matrix is one row per route of the server: every operation of the
// OpenAPI document, every dashboard page and form, and the apex's own
// routes. checkCoverage fails on a route without a row. To add one, say
// who may use the route and the request that works for them, naming the
// victim's things through the fixture; see docs/security.md.
func matrix() []row {
	return []row{
		// The API (internal/api, documented in openapi.json).
		{route: "GET /api/v1/openapi.json", who: public, want: 200,
			req: get("/api/v1/openapi.json")},
		{route: "POST /api/v1/auth/login", who: public, want: 200,
			req: func(f *fixture) request {
				return request{method: "POST", path: "/api/v1/auth/login", noAuth: true,
					json: map[string]string{"email": f.w.other.user.Email, "password": password, "token_name": f.Unique("login")}}
			}},
		{route: "GET /api/v1/user", who: signedIn, want: 200, req: get("/api/v1/user")},
		{route: "GET /api/v1/usage", who: signedIn, want: 200, req: get("/api/v1/usage")},
		{route: "GET /api/v1/tokens", who: signedIn, want: 200, req: get("/api/v1/tokens")},
		{route: "POST /api/v1/tokens", who: signedIn, want: 201, changes: true,
			req: func(f *fixture) request {
				return jsonReq("POST", "/api/v1/tokens", map[string]string{"name": f.Unique("token")})
			}},
		{route: "DELETE /api/v1/tokens/{id}", who: personal, want: 204, changes: true,
			req: func(f *fixture) request { return request{method: "DELETE", path: "/api/v1/tokens/" + f.Token()} }},

		{route: "GET /api/v1/projects", who: signedIn, want: 200, req: get("/api/v1/projects")},
		{route: "POST /api/v1/projects", who: signedIn, want: 201, changes: true,
			req: func(f *fixture) request {
				return jsonReq("POST", "/api/v1/projects", map[string]string{"name": f.Unique("new")})
			}},
		{route: "GET /api/v1/projects/{name}", who: owner, want: 200,
			req: func(f *fixture) request { return get("/api/v1/projects/" + f.Name())(f) }},
		{route: "PATCH /api/v1/projects/{name}", who: owner, want: 200, changes: true,
			req: func(f *fixture) request {
				return jsonReq("PATCH", "/api/v1/projects/"+f.Name(), map[string]any{"settings": map[string]any{"serve": map[string]any{"spa": true}}})
			}},
		{route: "DELETE /api/v1/projects/{name}", who: owner, want: 204, changes: true,
			req: func(f *fixture) request { return request{method: "DELETE", path: "/api/v1/projects/" + f.Name()} }},
		{route: "GET /api/v1/projects/{name}/deployments", who: owner, want: 200,
			req: func(f *fixture) request {
				f.Production()
				return get("/api/v1/projects/" + f.Name() + "/deployments")(f)
			}},
		{route: "POST /api/v1/projects/{name}/deployments", who: owner, want: 201, changes: true,
			req: func(f *fixture) request {
				content := f.Unique("new file ")
				return jsonReq("POST", "/api/v1/projects/"+f.Name()+"/deployments", map[string]any{
					"files": []map[string]any{{"path": "index.html", "sha256": sha(content), "size": len(content)}}})
			}},
		{route: "POST /api/v1/projects/{name}/promote", who: owner, want: 200, changes: true, mixed: true,
			req: func(f *fixture) request {
				return jsonReq("POST", "/api/v1/projects/"+f.Name()+"/promote", map[string]string{"deployment_id": f.Preview()})
			}},
		{route: "POST /api/v1/projects/{name}/rollback", who: owner, want: 200, changes: true, mixed: true,
			req: func(f *fixture) request {
				return jsonReq("POST", "/api/v1/projects/"+f.Name()+"/rollback", map[string]string{"deployment_id": f.Previous()})
			}},
		{route: "GET /api/v1/deployments/{id}", who: owner, want: 200,
			req: func(f *fixture) request { return get("/api/v1/deployments/" + f.Production())(f) }},
		{route: "PUT /api/v1/deployments/{id}/files/{sha256}", who: owner, want: 204, changes: true,
			req: func(f *fixture) request {
				id, sum, content := f.Uploading()
				return request{method: "PUT", path: "/api/v1/deployments/" + id + "/files/" + sum, body: []byte(content), contentType: "application/octet-stream"}
			}},
		{route: "POST /api/v1/deployments/{id}/finalize", who: owner, want: 200, changes: true,
			req: func(f *fixture) request {
				return request{method: "POST", path: "/api/v1/deployments/" + f.Uploaded() + "/finalize"}
			}},
		{route: "GET /api/v1/projects/{name}/app", who: owner, want: 200,
			req: func(f *fixture) request { f.App(); return get("/api/v1/projects/" + f.Name() + "/app")(f) }},
		{route: "POST /api/v1/projects/{name}/app/scale", who: owner, want: 200, changes: true,
			req: func(f *fixture) request {
				f.App()
				return jsonReq("POST", "/api/v1/projects/"+f.Name()+"/app/scale", map[string]any{"instances": 2})
			}},
		{route: "POST /api/v1/projects/{name}/app/restart", who: owner, want: 200,
			req: func(f *fixture) request {
				f.App()
				return request{method: "POST", path: "/api/v1/projects/" + f.Name() + "/app/restart"}
			}},
		{route: "GET /api/v1/projects/{name}/runtime-logs", who: owner, want: 200,
			req: func(f *fixture) request {
				f.RuntimeLog()
				return get("/api/v1/projects/" + f.Name() + "/runtime-logs")(f)
			}},
		{route: "GET /api/v1/deployments/{id}/logs", who: owner, want: 200,
			req: func(f *fixture) request { return get("/api/v1/deployments/" + f.Queued() + "/logs")(f) }},
		{route: "POST /api/v1/deployments/{id}/cancel", who: owner, want: 200, changes: true,
			req: func(f *fixture) request {
				return request{method: "POST", path: "/api/v1/deployments/" + f.Queued() + "/cancel"}
			}},
		{route: "POST /api/v1/deployments/{id}/redeploy", who: owner, want: 201, changes: true,
			req: func(f *fixture) request {
				return request{method: "POST", path: "/api/v1/deployments/" + f.Queued() + "/redeploy"}
			}},
		// A build of an uploaded ZIP: the mixed request builds the
		// victim's upload in the other user's project.
		{route: "POST /api/v1/projects/{name}/builds", who: owner, want: 201, changes: true, mixed: true,
			req: func(f *fixture) request {
				return jsonReq("POST", "/api/v1/projects/"+f.Name()+"/builds", map[string]string{"upload_id": f.FilledUpload()})
			}},
		{route: "POST /api/v1/projects/{name}/uploads", who: owner, want: 201,
			req: func(f *fixture) request {
				return request{method: "POST", path: "/api/v1/projects/" + f.Name() + "/uploads"}
			}},
		{route: "PUT /api/v1/uploads/{id}", who: capability, want: 201, changes: true,
			req: func(f *fixture) request {
				return request{method: "PUT", path: f.UploadPath(), body: zipOf(f.t, map[string]string{"index.html": "zip"}),
					contentType: "application/zip", noAuth: true}
			},
			forged: []forgery{
				{what: "no signature", req: func(f *fixture) request {
					return request{method: "PUT", path: "/api/v1/uploads/" + f.Upload().ID, body: zipOf(f.t, map[string]string{"index.html": "forged"})}
				}},
				{what: "a wrong signature", req: func(f *fixture) request {
					u := mustURL(f.t, f.Upload().UploadURL)
					q := u.Query()
					q.Set("sig", strings.Repeat("A", len(q.Get("sig"))))
					return request{method: "PUT", path: u.Path + "?" + q.Encode(), body: zipOf(f.t, map[string]string{"index.html": "forged"})}
				}},
				{what: "a later expiry under the same signature", req: func(f *fixture) request {
					u := mustURL(f.t, f.Upload().UploadURL)
					q := u.Query()
					q.Set("expires", q.Get("expires")+"0")
					return request{method: "PUT", path: u.Path + "?" + q.Encode(), body: zipOf(f.t, map[string]string{"index.html": "forged"})}
				}},
				{what: "the signature of the other user's own upload", req: func(f *fixture) request {
					own := mustURL(f.t, f.OtherUpload().UploadURL)
					return request{method: "PUT", path: "/api/v1/uploads/" + f.Upload().ID + "?" + own.RawQuery, body: zipOf(f.t, map[string]string{"index.html": "forged"})}
				}},
			}},

		{route: "GET /api/v1/projects/{name}/domains", who: owner, want: 200,
			req: func(f *fixture) request { f.Domain(); return get("/api/v1/projects/" + f.Name() + "/domains")(f) }},
		{route: "POST /api/v1/projects/{name}/domains", who: owner, want: 201, changes: true,
			req: func(f *fixture) request {
				return jsonReq("POST", "/api/v1/projects/"+f.Name()+"/domains", map[string]string{"name": f.Unique("www") + ".victim-example.com"})
			}},
		{route: "GET /api/v1/domains/{domain}", who: owner, want: 200,
			req: func(f *fixture) request { return get("/api/v1/domains/" + f.Domain())(f) }},
		{route: "POST /api/v1/domains/{domain}/verify", who: owner, want: 200, changes: true,
			req: func(f *fixture) request {
				return request{method: "POST", path: "/api/v1/domains/" + f.Domain() + "/verify"}
			}},
		{route: "DELETE /api/v1/domains/{domain}", who: owner, want: 204, changes: true,
			req: func(f *fixture) request { return request{method: "DELETE", path: "/api/v1/domains/" + f.Domain()} }},

		{route: "GET /api/v1/dns/zones", who: signedIn, want: 200, req: get("/api/v1/dns/zones")},
		{route: "POST /api/v1/dns/zones", who: signedIn, want: 201, changes: true,
			req: func(f *fixture) request {
				return jsonReq("POST", "/api/v1/dns/zones", map[string]string{"name": f.w.unique("new") + ".example.org"})
			}},
		{route: "GET /api/v1/dns/zones/{zone}", who: owner, want: 200,
			req: func(f *fixture) request { return get("/api/v1/dns/zones/" + f.Zone())(f) }},
		{route: "POST /api/v1/dns/zones/{zone}/verify", who: owner, want: 200, changes: true,
			req: func(f *fixture) request {
				return request{method: "POST", path: "/api/v1/dns/zones/" + f.Zone() + "/verify"}
			}},
		{route: "DELETE /api/v1/dns/zones/{zone}", who: owner, want: 204, changes: true,
			req: func(f *fixture) request { return request{method: "DELETE", path: "/api/v1/dns/zones/" + f.Zone()} }},
		{route: "GET /api/v1/dns/zones/{zone}/records", who: owner, want: 200,
			req: func(f *fixture) request { f.ZoneRecord(); return get("/api/v1/dns/zones/" + f.Zone() + "/records")(f) }},
		{route: "POST /api/v1/dns/zones/{zone}/records", who: owner, want: 201, changes: true,
			req: func(f *fixture) request {
				return jsonReq("POST", "/api/v1/dns/zones/"+f.Zone()+"/records",
					map[string]any{"name": f.w.unique("host"), "type": "A", "value": "192.0.2.1"})
			}},
		{route: "PATCH /api/v1/dns/zones/{zone}/records/{id}", who: owner, want: 200, changes: true,
			req: func(f *fixture) request {
				return jsonReq("PATCH", "/api/v1/dns/zones/"+f.Zone()+"/records/"+f.ZoneRecord(), map[string]any{"value": f.w.unique("patched-")})
			}},
		{route: "DELETE /api/v1/dns/zones/{zone}/records/{id}", who: owner, want: 204, changes: true,
			req: func(f *fixture) request {
				return request{method: "DELETE", path: "/api/v1/dns/zones/" + f.Zone() + "/records/" + f.ZoneRecord()}
			}},

		{route: "GET /api/v1/projects/{name}/analytics", who: owner, want: 200,
			req: func(f *fixture) request { return get("/api/v1/projects/" + f.Name() + "/analytics?since=24h")(f) }},
		{route: "GET /api/v1/projects/{name}/requests", who: owner, want: 200,
			req: func(f *fixture) request { return get("/api/v1/projects/" + f.Name() + "/requests")(f) }},
		{route: "GET /api/v1/projects/{name}/env", who: owner, want: 200,
			req: func(f *fixture) request { f.EnvKey(); return get("/api/v1/projects/" + f.Name() + "/env")(f) }},
		{route: "PUT /api/v1/projects/{name}/env/{key}", who: owner, want: 200, changes: true,
			req: func(f *fixture) request {
				return jsonReq("PUT", "/api/v1/projects/"+f.Name()+"/env/"+f.EnvKey(), map[string]any{"value": "overwritten", "secret": true})
			}},
		{route: "DELETE /api/v1/projects/{name}/env/{key}", who: owner, want: 204, changes: true,
			req: func(f *fixture) request {
				return request{method: "DELETE", path: "/api/v1/projects/" + f.Name() + "/env/" + f.EnvKey()}
			}},

		{route: "GET /api/v1/projects/{name}/webhooks", who: owner, want: 200,
			req: func(f *fixture) request { f.Webhook(); return get("/api/v1/projects/" + f.Name() + "/webhooks")(f) }},
		{route: "POST /api/v1/projects/{name}/webhooks", who: owner, want: 201, changes: true,
			req: func(f *fixture) request {
				return jsonReq("POST", "/api/v1/projects/"+f.Name()+"/webhooks", map[string]any{"url": f.w.hooks.URL + "/" + f.Unique("newhook")})
			}},
		{route: "DELETE /api/v1/projects/{name}/webhooks/{id}", who: owner, want: 204, changes: true, mixed: true,
			req: func(f *fixture) request {
				return request{method: "DELETE", path: "/api/v1/projects/" + f.Name() + "/webhooks/" + f.Webhook()}
			}},
		{route: "POST /api/v1/projects/{name}/webhooks/{id}/test", who: owner, want: 200, changes: true, mixed: true,
			req: func(f *fixture) request {
				return request{method: "POST", path: "/api/v1/projects/" + f.Name() + "/webhooks/" + f.Webhook() + "/test"}
			}},
		{route: "POST /api/v1/webhooks/github", who: capability, want: 202, changes: true,
			req: func(f *fixture) request { return f.GitHubPush(f.ProjectWebhookSecret()) },
			forged: []forgery{
				{what: "no signature", req: func(f *fixture) request { return f.GitHubPush("") }},
				{what: "a wrong secret", req: func(f *fixture) request { return f.GitHubPush("not-the-secret-0123456789") }},
				// Answered as a wrong secret: whether someone deploys a
				// repository is not the caller's to learn.
				{what: "a repository no project builds from", want: 401, req: func(f *fixture) request {
					return f.GitHubPushTo("https://git.invalid/"+f.Unique("nobody")+".git", f.ProjectWebhookSecret())
				}},
				// The other user connects the victim's repository to a
				// project of their own: its secret may build their
				// project, never the victim's.
				{what: "the secret of the other user's project on the same repository", anyStatus: true,
					req: func(f *fixture) request { return f.GitHubPush(f.OtherSameRepoSecret()) }},
			}},

		{route: "POST /api/v1/webhooks/github-app", who: capability, want: 202, changes: true,
			req: func(f *fixture) request { return f.AppPush(appSecret) },
			forged: []forgery{
				{what: "no signature", req: func(f *fixture) request { return f.AppPush("") }},
				{what: "a wrong secret", req: func(f *fixture) request { return f.AppPush("not-the-app-secret-0123") }},
				// A project's own webhook secret is no proof for the app.
				{what: "the project's webhook secret", req: func(f *fixture) request { return f.AppPush(f.ProjectWebhookSecret()) }},
			}},

		{route: "GET /api/v1/admin/figures", who: admin, want: 200, req: get("/api/v1/admin/figures")},
		{route: "GET /api/v1/admin/projects", who: admin, want: 200,
			req: func(f *fixture) request { f.Production(); return get("/api/v1/admin/projects")(f) }},
		{route: "GET /api/v1/admin/deployments", who: admin, want: 200,
			req: func(f *fixture) request { f.Production(); return get("/api/v1/admin/deployments")(f) }},
		{route: "GET /api/v1/admin/users", who: admin, want: 200, req: get("/api/v1/admin/users")},
		{route: "PATCH /api/v1/admin/users/{id}", who: admin, want: 200, changes: true, mixed: true,
			req: func(f *fixture) request {
				return jsonReq("PATCH", "/api/v1/admin/users/"+f.User(), map[string]any{"admin": true, "plan": f.Plan()})
			}},
		{route: "GET /api/v1/admin/plans", who: admin, want: 200,
			req: func(f *fixture) request { f.Plan(); return get("/api/v1/admin/plans")(f) }},
		{route: "POST /api/v1/admin/plans", who: admin, want: 201, changes: true,
			req: func(f *fixture) request {
				return jsonReq("POST", "/api/v1/admin/plans", map[string]any{"name": f.Unique("plan"), "projects": 1})
			}},
		{route: "PATCH /api/v1/admin/plans/{id}", who: admin, want: 200, changes: true,
			req: func(f *fixture) request {
				return jsonReq("PATCH", "/api/v1/admin/plans/"+f.Plan(), map[string]any{"projects": 1000})
			}},
		{route: "DELETE /api/v1/admin/plans/{id}", who: admin, want: 204, changes: true,
			req: func(f *fixture) request { return request{method: "DELETE", path: "/api/v1/admin/plans/" + f.Plan()} }},
		{route: "GET /api/v1/admin/invites", who: admin, want: 200,
			req: func(f *fixture) request { f.Invite(); return get("/api/v1/admin/invites")(f) }},
		{route: "POST /api/v1/admin/invites", who: admin, want: 201,
			req: func(f *fixture) request {
				return jsonReq("POST", "/api/v1/admin/invites", map[string]any{"email": f.Unique("invited") + "@victim.example"})
			}},
		{route: "DELETE /api/v1/admin/invites/{id}", who: admin, want: 204, changes: true,
			req: func(f *fixture) request {
				return request{method: "DELETE", path: "/api/v1/admin/invites/" + f.Invite()}
			}},
		// Teams (issue 19): the victim owns the fixture's team.
		{route: "GET /api/v1/teams", who: signedIn, want: 200, req: func(f *fixture) request { f.Team(); return get("/api/v1/teams")(f) }},
		{route: "POST /api/v1/teams", who: signedIn, want: 201, changes: true,
			req: func(f *fixture) request {
				return jsonReq("POST", "/api/v1/teams", map[string]string{"name": f.Unique("newteam")})
			}},
		{route: "POST /api/v1/teams/join", who: signedIn, want: 200, changes: true,
			reason: "the token is a third person's team's: joining it changes the caller's memberships only",
			req: func(f *fixture) request {
				return jsonReq("POST", "/api/v1/teams/join", map[string]string{"token": f.JoinToken()})
			}},
		{route: "GET /api/v1/teams/{team}", who: owner, want: 200,
			req: func(f *fixture) request { return get("/api/v1/teams/" + f.Team())(f) }},
		{route: "PATCH /api/v1/teams/{team}", who: owner, want: 200, changes: true,
			req: func(f *fixture) request {
				return jsonReq("PATCH", "/api/v1/teams/"+f.Team(), map[string]string{"display_name": f.Unique("Display ")})
			}},
		{route: "DELETE /api/v1/teams/{team}", who: owner, want: 204, changes: true,
			req: func(f *fixture) request { return request{method: "DELETE", path: "/api/v1/teams/" + f.Team()} }},
		{route: "GET /api/v1/teams/{team}/members", who: owner, want: 200,
			req: func(f *fixture) request { f.TeamMember(); return get("/api/v1/teams/" + f.Team() + "/members")(f) }},
		{route: "PATCH /api/v1/teams/{team}/members/{user}", who: owner, want: 200, changes: true,
			req: func(f *fixture) request {
				return jsonReq("PATCH", "/api/v1/teams/"+f.Team()+"/members/"+f.TeamMember(), map[string]string{"role": "viewer"})
			}},
		{route: "DELETE /api/v1/teams/{team}/members/{user}", who: owner, want: 204, changes: true,
			req: func(f *fixture) request {
				return request{method: "DELETE", path: "/api/v1/teams/" + f.Team() + "/members/" + f.TeamMember()}
			}},
		{route: "GET /api/v1/teams/{team}/invites", who: owner, want: 200,
			req: func(f *fixture) request { f.TeamInvite(); return get("/api/v1/teams/" + f.Team() + "/invites")(f) }},
		{route: "POST /api/v1/teams/{team}/invites", who: owner, want: 201, changes: true,
			req: func(f *fixture) request {
				return jsonReq("POST", "/api/v1/teams/"+f.Team()+"/invites", map[string]string{"role": "member"})
			}},
		{route: "DELETE /api/v1/teams/{team}/invites/{id}", who: owner, want: 204, changes: true,
			req: func(f *fixture) request {
				return request{method: "DELETE", path: "/api/v1/teams/" + f.Team() + "/invites/" + f.TeamInvite()}
			}},
		{route: "GET /api/v1/teams/{team}/webhooks", who: owner, want: 200,
			req: func(f *fixture) request { f.TeamWebhook(); return get("/api/v1/teams/" + f.Team() + "/webhooks")(f) }},
		{route: "POST /api/v1/teams/{team}/webhooks", who: owner, want: 201, changes: true,
			req: func(f *fixture) request {
				return jsonReq("POST", "/api/v1/teams/"+f.Team()+"/webhooks", map[string]any{"url": f.w.hooks.URL + "/" + f.Unique("newteamhook")})
			}},
		{route: "DELETE /api/v1/teams/{team}/webhooks/{id}", who: owner, want: 204, changes: true,
			req: func(f *fixture) request {
				return request{method: "DELETE", path: "/api/v1/teams/" + f.Team() + "/webhooks/" + f.TeamWebhook()}
			}},
		{route: "POST /api/v1/teams/{team}/webhooks/{id}/test", who: owner, want: 200, changes: true,
			req: func(f *fixture) request {
				return request{method: "POST", path: "/api/v1/teams/" + f.Team() + "/webhooks/" + f.TeamWebhook() + "/test"}
			}},
		{route: "POST /api/v1/projects/{name}/move", who: owner, want: 200, changes: true,
			req: func(f *fixture) request {
				return jsonReq("POST", "/api/v1/projects/"+f.Name()+"/move", map[string]string{"team": f.Team()})
			}},
		{route: "GET /api/v1/audit", who: signedIn, want: 200, req: get("/api/v1/audit")},
		{route: "/api/", who: public, want: 404, reason: "the API's answer to a path it has no route for",
			req: get("/api/v1/no-such-route")},

		// The apex's own routes (internal/server).
		{route: "GET /healthz", who: public, want: 200, req: get("/healthz")},
		{route: "GET /readyz", who: public, want: 200, req: get("/readyz")},
		{route: "/git/", who: owner, want: 200,
			req: func(f *fixture) request {
				return get("/git/" + f.PlainName() + ".git/info/refs?service=git-receive-pack")(f)
			}},

		// The dashboard (internal/dashboard).
		{route: "GET /static/", who: public, want: 200, req: get("/static/app.css")},
		{route: "GET /{$}", who: public, req: get("/"), refuse: []role{roleDisabled},
			reason: "the landing page reads the session: a disabled user's is refused"},
		{route: "/", who: public, want: 404, reason: "the dashboard's answer to a path it has no page for",
			req: get("/no-such-page")},
		{route: "GET /login", who: public, req: get("/login")},
		{route: "POST /login", who: public, want: 303,
			req: func(f *fixture) request {
				return loginForm(f, "/login", url.Values{"email": {f.w.other.user.Email}, "password": {password}, "next": {"/"}})
			}},
		{route: "GET /signup", who: public, want: 200,
			req: func(f *fixture) request { return get("/signup?invite=" + url.QueryEscape(f.InviteToken()))(f) }},
		{route: "POST /signup", who: public, want: 303,
			req: func(f *fixture) request {
				return loginForm(f, "/signup", url.Values{"invite": {f.InviteToken()}, "password": {password}, "password2": {password}})
			}},
		{route: "POST /logout", who: signedIn, want: 303, freshSession: true,
			req: func(f *fixture) request { return form("/logout", nil) }},
		{route: "GET /docs", who: public, want: 200, req: get("/docs")},
		{route: "GET /docs/{page}", who: public, want: 200, req: get("/docs/quick-start")},
		{route: "GET /events", who: signedIn, want: 200, req: func(f *fixture) request {
			r := get("/events")(f)
			r.stream = true
			return r
		}},

		{route: "GET /projects/new", who: signedIn, want: 200, req: get("/projects/new")},
		{route: "POST /projects/new", who: signedIn, want: 303, changes: true,
			req: func(f *fixture) request {
				return form("/projects/new", url.Values{"name": {f.Unique("dash")}, "kind": {"empty"}})
			}},
		{route: "GET /projects/{name}", who: owner, want: 200,
			req: func(f *fixture) request {
				f.Production()
				f.EnvKey()
				f.Webhook()
				f.Domain()
				return get("/projects/" + f.Name())(f)
			}},
		{route: "GET /projects/{name}/logs", who: owner, want: 200,
			req: func(f *fixture) request { f.Production(); return get("/projects/" + f.Name() + "/logs")(f) }},
		// Analytics and the request log (internal/dashboard/analytics.go, requestlog.go).
		{route: "GET /projects/{name}/analytics", who: owner, want: 200,
			req: func(f *fixture) request {
				f.Production()
				return get("/projects/" + f.Name() + "/analytics?range=7d")(f)
			}},
		{route: "GET /projects/{name}/requests", who: owner, want: 200,
			req: func(f *fixture) request { return get("/projects/" + f.Name() + "/requests?status=2xx&path=/*")(f) }},
		{route: "GET /projects/{name}/requests/stream", who: owner, want: 200, req: func(f *fixture) request {
			r := get("/projects/" + f.Name() + "/requests/stream?since=1h")(f)
			r.stream = true
			return r
		}},
		{route: "GET /projects/{name}/settings", who: owner, want: 200, req: func(f *fixture) request { return get("/projects/" + f.Name() + "/settings")(f) }},
		{route: "GET /projects/{name}/settings/build", who: owner, want: 200, req: func(f *fixture) request { return get("/projects/" + f.Name() + "/settings/build")(f) }},
		{route: "GET /projects/{name}/settings/serving", who: owner, want: 200, req: func(f *fixture) request { return get("/projects/" + f.Name() + "/settings/serving")(f) }},
		{route: "GET /projects/{name}/settings/domains", who: owner, want: 200,
			req: func(f *fixture) request { f.Domain(); return get("/projects/" + f.Name() + "/settings/domains")(f) }},
		{route: "GET /projects/{name}/settings/git", who: owner, want: 200, req: func(f *fixture) request { return get("/projects/" + f.Name() + "/settings/git")(f) }},
		{route: "GET /projects/{name}/settings/environment", who: owner, want: 200,
			req: func(f *fixture) request { f.EnvKey(); return get("/projects/" + f.Name() + "/settings/environment")(f) }},
		{route: "GET /projects/{name}/settings/notifications", who: owner, want: 200,
			req: func(f *fixture) request {
				f.Webhook()
				return get("/projects/" + f.Name() + "/settings/notifications")(f)
			}},
		{route: "POST /projects/{name}/rename", who: owner, want: 303, changes: true,
			req: func(f *fixture) request {
				return form("/projects/"+f.Name()+"/rename", url.Values{"new_name": {f.Unique("renamed")}})
			}},
		{route: "POST /projects/{name}/delete", who: owner, want: 303, changes: true,
			req: func(f *fixture) request {
				return form("/projects/"+f.Name()+"/delete", url.Values{"confirm": {f.Name()}})
			}},
		{route: "POST /projects/{name}/deploy", who: owner, want: 303, changes: true,
			req: func(f *fixture) request { return form("/projects/"+f.Name()+"/deploy", nil) }},
		{route: "POST /projects/{name}/promote", who: owner, want: 303, changes: true, mixed: true,
			req: func(f *fixture) request {
				return form("/projects/"+f.Name()+"/promote", url.Values{"deployment_id": {f.Preview()}})
			}},
		{route: "POST /projects/{name}/rollback", who: owner, want: 303, changes: true,
			req: func(f *fixture) request { f.Previous(); return form("/projects/"+f.Name()+"/rollback", nil) }},
		{route: "POST /projects/{name}/redeploy", who: owner, want: 303, changes: true, mixed: true,
			req: func(f *fixture) request {
				return form("/projects/"+f.Name()+"/redeploy", url.Values{"deployment_id": {f.Queued()}})
			}},
		{route: "POST /projects/{name}/zip", who: owner, want: 303, changes: true,
			req: func(f *fixture) request {
				return request{method: "POST", path: "/projects/" + f.Name() + "/zip",
					multipart: &multipartBody{fields: url.Values{"target": {"preview"}}, file: "site.zip",
						content: zipOf(f.t, map[string]string{"index.html": "from the dashboard"})}}
			}},
		{route: "POST /projects/{name}/env", who: owner, want: 303, changes: true,
			req: func(f *fixture) request {
				return form("/projects/"+f.Name()+"/env", url.Values{"key": {f.EnvKey()}, "value": {"overwritten"}, "secret": {"1"}})
			}},
		{route: "POST /projects/{name}/env/delete", who: owner, want: 303, changes: true,
			req: func(f *fixture) request {
				return form("/projects/"+f.Name()+"/env/delete", url.Values{"key": {f.EnvKey()}})
			}},
		// The app page (internal/dashboard/apps.go).
		{route: "GET /projects/{name}/app", who: owner, want: 200,
			req: func(f *fixture) request {
				f.Production()
				f.RuntimeLog()
				return get("/projects/" + f.Name() + "/app")(f)
			}},
		{route: "GET /projects/{name}/app/logs", who: owner, want: 200, req: func(f *fixture) request {
			f.RuntimeLog()
			r := get("/projects/" + f.Name() + "/app/logs")(f)
			r.stream = true
			return r
		}},
		{route: "GET /projects/{name}/app/status", who: owner, want: 200, req: func(f *fixture) request {
			f.Production()
			r := get("/projects/" + f.Name() + "/app/status")(f)
			r.stream = true
			return r
		}},
		{route: "POST /projects/{name}/app/env", who: owner, want: 303, changes: true,
			req: func(f *fixture) request {
				return form("/projects/"+f.Name()+"/app/env", url.Values{"key": {f.EnvKey()}, "value": {"overwritten"}, "secret": {"1"}})
			}},
		{route: "POST /projects/{name}/app/env/delete", who: owner, want: 303, changes: true,
			req: func(f *fixture) request {
				return form("/projects/"+f.Name()+"/app/env/delete", url.Values{"key": {f.EnvKey()}})
			}},
		{route: "POST /projects/{name}/app/rollback", who: owner, want: 303, changes: true, mixed: true,
			req: func(f *fixture) request {
				return form("/projects/"+f.Name()+"/app/rollback", url.Values{"deployment_id": {f.Previous()}})
			}},
		// As for the API's: no app runs in the matrix, so the owner's
		// request passes authorization and comes back with "not an app".
		{route: "POST /projects/{name}/app/scale", who: owner, want: 303,
			reason: "the owner's request passes authorization and stops at \"not an app\" (a message on the app page)",
			req: func(f *fixture) request {
				f.Production()
				return form("/projects/"+f.Name()+"/app/scale", url.Values{"instances": {"2"}})
			}},
		{route: "POST /projects/{name}/app/sandbox", who: owner, want: 303,
			reason: "the owner's request passes authorization and stops at the platform's refusal (the matrix's server lets no app choose a sandbox), a message on the app page",
			req: func(f *fixture) request {
				return form("/projects/"+f.Name()+"/app/sandbox", url.Values{"sandbox": {"runsc"}})
			}},
		{route: "POST /projects/{name}/app/restart", who: owner, want: 303,
			reason: "the owner's request passes authorization and stops at \"not an app\" (a message on the app page)",
			req:    func(f *fixture) request { f.Production(); return form("/projects/"+f.Name()+"/app/restart", nil) }},
		{route: "POST /projects/{name}/settings/build", who: owner, want: 303, changes: true,
			req: func(f *fixture) request {
				return form("/projects/"+f.Name()+"/settings/build", url.Values{"build_command": {"npm run attack"}})
			}},
		{route: "POST /projects/{name}/settings/serve", who: owner, want: 303, changes: true,
			req: func(f *fixture) request {
				return form("/projects/"+f.Name()+"/settings/serve", url.Values{"spa": {"1"}, "trailing_slash": {"add"}})
			}},
		{route: "POST /projects/{name}/domains", who: owner, want: 303, changes: true,
			req: func(f *fixture) request {
				return form("/projects/"+f.Name()+"/domains", url.Values{"domain": {f.Unique("dash") + ".victim-example.com"}})
			}},
		{route: "POST /projects/{name}/domains/verify", who: owner, want: 303, changes: true, mixed: true,
			req: func(f *fixture) request {
				return form("/projects/"+f.Name()+"/domains/verify", url.Values{"domain": {f.Domain()}})
			}},
		{route: "POST /projects/{name}/domains/remove", who: owner, want: 303, changes: true, mixed: true,
			req: func(f *fixture) request {
				return form("/projects/"+f.Name()+"/domains/remove", url.Values{"domain": {f.Domain()}})
			}},
		{route: "POST /projects/{name}/webhooks", who: owner, want: 200, changes: true,
			req: func(f *fixture) request {
				return form("/projects/"+f.Name()+"/webhooks", url.Values{"url": {f.w.hooks.URL + "/" + f.Unique("dashhook")},
					"events": {"deployment.ready"}})
			}},
		{route: "POST /projects/{name}/webhooks/{id}/delete", who: owner, want: 303, changes: true, mixed: true,
			req: func(f *fixture) request {
				return form("/projects/"+f.Name()+"/webhooks/"+f.Webhook()+"/delete", nil)
			}},
		{route: "POST /projects/{name}/webhooks/{id}/test", who: owner, want: 303, changes: true, mixed: true,
			req: func(f *fixture) request {
				return form("/projects/"+f.Name()+"/webhooks/"+f.Webhook()+"/test", nil)
			}},

		{route: "GET /deployments/{id}", who: owner, want: 200,
			req: func(f *fixture) request { return get("/deployments/" + f.Production())(f) }},
		{route: "GET /deployments/{id}/log", who: owner, want: 200,
			req: func(f *fixture) request { return get("/deployments/" + f.Production() + "/log")(f) }},
		{route: "GET /deployments/{id}/log.txt", who: owner, want: 200,
			req: func(f *fixture) request { return get("/deployments/" + f.Production() + "/log.txt")(f) }},
		{route: "POST /deployments/{id}/cancel", who: owner, want: 303, changes: true,
			req: func(f *fixture) request { return form("/deployments/"+f.Queued()+"/cancel", nil) }},

		// DNS zones and their records (internal/dashboard/dns.go).
		{route: "GET /dns", who: signedIn, want: 200, req: get("/dns")},
		{route: "POST /dns/zones", who: signedIn, want: 303, changes: true,
			req: func(f *fixture) request {
				return form("/dns/zones", url.Values{"name": {f.w.unique("dash") + ".example.org"}})
			}},
		{route: "GET /dns/zones/{zone}", who: owner, want: 200,
			req: func(f *fixture) request { f.ZoneRecord(); return get("/dns/zones/" + f.Zone())(f) }},
		{route: "POST /dns/zones/{zone}/verify", who: owner, want: 303, changes: true,
			req: func(f *fixture) request { return form("/dns/zones/"+f.Zone()+"/verify", nil) }},
		{route: "POST /dns/zones/{zone}/remove", who: owner, want: 303, changes: true,
			req: func(f *fixture) request { return form("/dns/zones/"+f.Zone()+"/remove", nil) }},
		{route: "POST /dns/zones/{zone}/records", who: owner, want: 303, changes: true,
			req: func(f *fixture) request {
				return form("/dns/zones/"+f.Zone()+"/records", url.Values{"name": {f.w.unique("host")}, "type": {"A"}, "value": {"192.0.2.1"}})
			}},
		{route: "POST /dns/zones/{zone}/records/{id}", who: owner, want: 303, changes: true,
			req: func(f *fixture) request {
				return form("/dns/zones/"+f.Zone()+"/records/"+f.ZoneRecord(), url.Values{"name": {"@"}, "type": {"TXT"}, "value": {f.w.unique("edited-")}, "ttl": {"300"}})
			}},
		{route: "POST /dns/zones/{zone}/records/{id}/remove", who: owner, want: 303, changes: true,
			req: func(f *fixture) request {
				return form("/dns/zones/"+f.Zone()+"/records/"+f.ZoneRecord()+"/remove", nil)
			}},

		// Teams (issue 19, internal/dashboard/teams.go).
		{route: "GET /teams", who: signedIn, want: 200, req: func(f *fixture) request { f.Team(); return get("/teams")(f) }},
		{route: "POST /teams", who: signedIn, want: 303, changes: true,
			req: func(f *fixture) request { return form("/teams", url.Values{"name": {f.Unique("dashteam")}}) }},
		{route: "GET /teams/join", who: public, want: 200, refuse: []role{roleDisabled},
			reason: "the invitation's page reads the session (join as you, or sign up): a disabled user's is refused",
			req:    func(f *fixture) request { return get("/teams/join?token=" + url.QueryEscape(f.JoinToken()))(f) }},
		{route: "POST /teams/join/signup", who: public, want: 303,
			reason: "the token is a third person's team's invitation: it makes a new account and nothing of anyone else's",
			req: func(f *fixture) request {
				return loginForm(f, "/teams/join/signup", url.Values{"token": {f.JoinToken()},
					"email": {f.w.unique("joiner") + "@secsuite.example"}, "password": {password}, "password2": {password}})
			}},
		{route: "POST /teams/join", who: signedIn, want: 303, changes: true,
			reason: "the token is a third person's team's: joining it changes the caller's memberships only",
			req:    func(f *fixture) request { return form("/teams/join", url.Values{"token": {f.JoinToken()}}) }},
		{route: "GET /teams/{team}", who: owner, want: 200,
			req: func(f *fixture) request { f.TeamInvite(); f.TeamMember(); return get("/teams/" + f.Team())(f) }},
		{route: "POST /teams/{team}/rename", who: owner, want: 303, changes: true,
			req: func(f *fixture) request {
				return form("/teams/"+f.Team()+"/rename", url.Values{"name": {f.Team()}, "display_name": {f.Unique("Display ")}})
			}},
		{route: "POST /teams/{team}/invites", who: owner, want: 200, changes: true,
			req: func(f *fixture) request {
				return form("/teams/"+f.Team()+"/invites", url.Values{"email": {f.Unique("dashinvitee") + "@victim.example"}, "role": {"viewer"}})
			}},
		{route: "POST /teams/{team}/invites/{id}/revoke", who: owner, want: 303, changes: true,
			req: func(f *fixture) request { return form("/teams/"+f.Team()+"/invites/"+f.TeamInvite()+"/revoke", nil) }},
		{route: "POST /teams/{team}/members/{user}/role", who: owner, want: 303, changes: true,
			req: func(f *fixture) request {
				return form("/teams/"+f.Team()+"/members/"+f.TeamMember()+"/role", url.Values{"role": {"viewer"}})
			}},
		{route: "POST /teams/{team}/members/{user}/remove", who: owner, want: 303, changes: true,
			req: func(f *fixture) request { return form("/teams/"+f.Team()+"/members/"+f.TeamMember()+"/remove", nil) }},
		{route: "POST /teams/{team}/webhooks", who: owner, want: 200, changes: true,
			req: func(f *fixture) request {
				return form("/teams/"+f.Team()+"/webhooks", url.Values{"url": {f.w.hooks.URL + "/" + f.Unique("dashteamhook")},
					"events": {"deployment.ready"}})
			}},
		{route: "POST /teams/{team}/webhooks/{id}/delete", who: owner, want: 303, changes: true,
			req: func(f *fixture) request { return form("/teams/"+f.Team()+"/webhooks/"+f.TeamWebhook()+"/delete", nil) }},
		{route: "POST /teams/{team}/webhooks/{id}/test", who: owner, want: 303, changes: true,
			req: func(f *fixture) request { return form("/teams/"+f.Team()+"/webhooks/"+f.TeamWebhook()+"/test", nil) }},
		{route: "GET /account", who: signedIn, want: 200, req: get("/account")},
		{route: "POST /account/tokens", who: signedIn, want: 200, changes: true,
			req: func(f *fixture) request {
				return form("/account/tokens", url.Values{"name": {f.Unique("dashtoken")}, "expires": {"30d"}})
			}},
		{route: "POST /account/tokens/{id}/revoke", who: personal, want: 303, changes: true,
			req: func(f *fixture) request { return form("/account/tokens/"+f.Token()+"/revoke", nil) }},
		{route: "POST /account/password", who: signedIn, want: 303, changes: true,
			req: func(f *fixture) request {
				return form("/account/password", url.Values{"current": {password}, "new": {password}, "new2": {password}})
			}},
		{route: "GET /auth/github", who: public, want: 302, reason: "sends the browser to GitHub with a fresh state",
			req: get("/auth/github")},
		{route: "GET /auth/github/callback", who: capability,
			reason: "the proof is the OAuth state cookie set by GET /auth/github; GitHub itself is not reachable here, so no genuine request",
			forged: []forgery{
				{what: "no state cookie", req: func(f *fixture) request {
					return get("/auth/github/callback?code=stolen&state=" + strings.Repeat("s", 43))(f)
				}},
			}},
		{route: "POST /account/github/disconnect", who: signedIn, want: 303,
			req: func(f *fixture) request { return form("/account/github/disconnect", nil) }},

		{route: "GET /admin", who: admin, want: 200, req: get("/admin")},
		{route: "GET /admin/projects", who: admin, want: 200,
			req: func(f *fixture) request { f.Production(); return get("/admin/projects")(f) }},
		{route: "GET /admin/audit", who: admin, want: 200, req: func(f *fixture) request { f.Team(); return get("/admin/audit")(f) }},
		{route: "GET /admin/deployments", who: admin, want: 200,
			req: func(f *fixture) request { f.Production(); return get("/admin/deployments")(f) }},
		{route: "GET /admin/users", who: admin, want: 200,
			req: func(f *fixture) request { f.User(); f.Invite(); return get("/admin/users")(f) }},
		{route: "POST /admin/users/{id}/disabled", who: admin, want: 303, changes: true,
			req: func(f *fixture) request {
				return form("/admin/users/"+f.User()+"/disabled", url.Values{"disabled": {"1"}})
			}},
		{route: "POST /admin/users/{id}/plan", who: admin, want: 303, changes: true, mixed: true,
			req: func(f *fixture) request {
				return form("/admin/users/"+f.User()+"/plan", url.Values{"plan": {f.Plan()}})
			}},
		{route: "POST /admin/invites", who: admin, want: 200,
			req: func(f *fixture) request {
				return form("/admin/invites", url.Values{"email": {f.Unique("dashinvite") + "@victim.example"}, "expires": {"1d"}})
			}},
		{route: "POST /admin/invites/{id}/revoke", who: admin, want: 303, changes: true,
			req: func(f *fixture) request { return form("/admin/invites/"+f.Invite()+"/revoke", nil) }},
		{route: "GET /admin/plans", who: admin, want: 200,
			req: func(f *fixture) request { f.Plan(); return get("/admin/plans")(f) }},
		{route: "GET /admin/plans/{id}", who: admin, want: 200,
			req: func(f *fixture) request { return get("/admin/plans/" + f.Plan())(f) }},
		{route: "POST /admin/plans", who: admin, want: 303, changes: true,
			req: func(f *fixture) request {
				return form("/admin/plans", url.Values{"name": {f.Unique("dashplan")}, "projects": {"1"},
					"concurrent_builds": {"1"}, "build_minutes": {"1"}, "storage_mib": {"1"}, "custom_domains": {"1"}})
			}},
		{route: "POST /admin/plans/{id}", who: admin, want: 303, changes: true,
			req: func(f *fixture) request {
				return form("/admin/plans/"+f.Plan(), url.Values{"name": {f.Unique("renamed")}, "projects": {"9"},
					"concurrent_builds": {"1"}, "build_minutes": {"1"}, "storage_mib": {"1"}, "custom_domains": {"1"}})
			}},
		{route: "POST /admin/plans/{id}/delete", who: admin, want: 303, changes: true,
			req: func(f *fixture) request { return form("/admin/plans/"+f.Plan()+"/delete", nil) }},
	}
}

// get is a GET of path.
func get(path string) func(*fixture) request {
	return func(*fixture) request { return request{method: "GET", path: path} }
}

func jsonReq(method, path string, body any) request {
	return request{method: method, path: path, json: body}
}

// form is a dashboard form POSTed to path (the caller's CSRF token added).
func form(path string, values url.Values) request {
	if values == nil {
		values = url.Values{}
	}
	return request{method: "POST", path: path, form: values}
}

// loginForm is a sign-in or sign-up form as a signed-out browser sends
// it, with the CSRF token and cookie the sign-in page gave a fresh
// browser, and no session, so that no principal's own is replaced.
func loginForm(f *fixture, path string, values url.Values) request {
	b := newBrowser()
	page := f.w.send(&principal{role: roleNone, browser: b}, request{method: "GET", path: "/login"}, 200)
	values.Set("csrf", csrfOf(f.t, page.body))
	var cookies []string
	for _, c := range b.Jar.Cookies(f.w.apex()) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	return request{method: "POST", path: path, form: values, noAuth: true,
		header: map[string][]string{"Cookie": {strings.Join(cookies, "; ")}}}
}
