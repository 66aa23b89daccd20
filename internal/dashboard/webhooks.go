package dashboard

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/apogee-dev/apogee"
)

// Outgoing webhooks on the project page: add (the secret is shown once,
// on the page that answers), test, remove. The webhook service checks
// ownership, URLs and the server's address policy.

func (d *Dashboard) addWebhook(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	req, err := webhookForm(r)
	if err != nil {
		return back(w, r, err, "")
	}
	v, err := d.svc.Webhooks.CreateWebhook(r.Context(), r.PathValue("name"), req)
	if err != nil {
		return back(w, r, err, "")
	}
	d.render(w, r, http.StatusOK, "webhook_created", s, "Webhook added", map[string]any{"Hook": v})
	return nil
}

func (d *Dashboard) removeWebhook(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	err := d.svc.Webhooks.DeleteWebhook(r.Context(), r.PathValue("name"), r.PathValue("id"))
	return back(w, r, err, "Webhook removed.")
}

func (d *Dashboard) testWebhook(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	res, err := d.svc.Webhooks.TestWebhook(r.Context(), r.PathValue("name"), r.PathValue("id"))
	if err != nil {
		return back(w, r, err, "")
	}
	if res.Status != apogee.DeliveryOK {
		err = apogee.Errorf(apogee.EINVALID, "Test delivery failed: %s", res.Error)
	}
	return back(w, r, err, fmt.Sprintf("Test delivery sent: the receiver answered %d.", res.Code))
}

// A team's webhooks, on the team's page: every member sees them with
// their last delivery; owners add (the secret shown once), test and
// remove them. The webhook service checks the roles.

// webhookForm reads the add form shared by projects' and teams' pages.
func webhookForm(r *http.Request) (apogee.CreateWebhookRequest, error) {
	req := apogee.CreateWebhookRequest{
		URL:    strings.TrimSpace(r.PostFormValue("url")),
		Events: r.PostForm["events"],
		Secret: strings.TrimSpace(r.PostFormValue("secret")),
	}
	if len(req.Events) == 0 {
		return req, apogee.Errorf(apogee.EINVALID, "choose at least one event for the webhook")
	}
	if len(req.Events) == len(apogee.WebhookEvents) {
		req.Events = nil // every event, including those added later
	}
	return req, nil
}

func teamWebhooksURL(r *http.Request) string { return teamURL(r) + "#team-webhooks" }

func (d *Dashboard) addTeamWebhook(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := r.ParseForm(); err != nil {
		return apogee.Errorf(apogee.EINVALID, "the form could not be read")
	}
	req, err := webhookForm(r)
	if err != nil {
		return teamBack(w, r, err, teamWebhooksURL(r))
	}
	v, err := d.svc.Webhooks.CreateTeamWebhook(r.Context(), r.PathValue("team"), req)
	if err != nil {
		return teamBack(w, r, err, teamWebhooksURL(r))
	}
	d.render(w, r, http.StatusOK, "webhook_created", s, "Webhook added", map[string]any{"Hook": v})
	return nil
}

func (d *Dashboard) removeTeamWebhook(w http.ResponseWriter, r *http.Request, s *session) error {
	err := d.svc.Webhooks.DeleteTeamWebhook(r.Context(), r.PathValue("team"), r.PathValue("id"))
	if err == nil {
		setFlash(w, r, "ok", "Webhook removed.")
	}
	return teamBack(w, r, err, teamWebhooksURL(r))
}

func (d *Dashboard) testTeamWebhook(w http.ResponseWriter, r *http.Request, s *session) error {
	res, err := d.svc.Webhooks.TestTeamWebhook(r.Context(), r.PathValue("team"), r.PathValue("id"))
	switch {
	case err != nil:
	case res.Status != apogee.DeliveryOK:
		err = apogee.Errorf(apogee.EINVALID, "Test delivery failed: %s", res.Error)
	default:
		setFlash(w, r, "ok", fmt.Sprintf("Test delivery sent: the receiver answered %d.", res.Code))
	}
	return teamBack(w, r, err, teamWebhooksURL(r))
}

// webhookList is what the project page shows of the project's webhooks.
func (d *Dashboard) webhookList(r *http.Request, project string) ([]*apogee.WebhookView, error) {
	return d.svc.Webhooks.Webhooks(r.Context(), project)
}

// hostOf is a webhook URL's host, which the page shows (the path of a
// Slack URL is its secret, so the whole URL is shown only on demand).
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Host
}
