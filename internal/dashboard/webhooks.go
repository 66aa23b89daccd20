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
	req := apogee.CreateWebhookRequest{
		URL:    strings.TrimSpace(r.PostFormValue("url")),
		Events: r.PostForm["events"],
		Secret: strings.TrimSpace(r.PostFormValue("secret")),
	}
	if len(req.Events) == 0 {
		return back(w, r, apogee.Errorf(apogee.EINVALID, "choose at least one event for the webhook"), "")
	}
	if len(req.Events) == len(apogee.WebhookEvents) {
		req.Events = nil // every event, including those added later
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
