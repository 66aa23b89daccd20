package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/apogee-dev/apogee"
)

// Outgoing webhooks of a project: deployment notifications POSTed as
// signed JSON to URLs the owner gives (internal/notify delivers them).
// The signing secret is sealed at rest and shown once, in the answer that
// creates the webhook. No log line carries a URL (a Slack URL's path is
// its secret) or a secret.

// WebhookSender checks webhook URLs against the server's address policy
// and sends test deliveries (internal/notify's *Sender implements it).
type WebhookSender interface {
	// CheckURL returns an EINVALID *apogee.Error saying what is wrong
	// with raw, or nil.
	CheckURL(raw string) error
	// Ping sends a ping to webhook h of project p now, records the
	// outcome as its last delivery and returns it.
	Ping(ctx context.Context, p *apogee.Project, h *apogee.Webhook) apogee.WebhookDelivery
}

func (a *API) webhookView(p *apogee.Project, h *apogee.Webhook) *apogee.WebhookView {
	return &apogee.WebhookView{Webhook: h, Project: p.Name}
}

func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	p, err := a.project(r, u, r.PathValue("name"))
	if err != nil {
		return err
	}
	hs, err := a.store.ListWebhooks(r.Context(), p.ID)
	if err != nil {
		return fmt.Errorf("api: list webhooks of %q: %w", p.Name, err)
	}
	views := make([]*apogee.WebhookView, len(hs))
	for i, h := range hs {
		views[i] = a.webhookView(p, h)
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": views})
	return nil
}

func (a *API) createWebhook(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	p, err := a.project(r, u, r.PathValue("name"))
	if err != nil {
		return err
	}
	var req apogee.CreateWebhookRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	if err := a.webhooks.CheckURL(req.URL); err != nil {
		return err
	}
	events, err := apogee.ValidateWebhookEvents(req.Events)
	if err != nil {
		return err
	}
	secret := req.Secret
	if secret == "" {
		secret = "whsec_" + apogee.NewSecret(24)
	} else if err := apogee.ValidateWebhookSecret(secret); err != nil {
		return err
	}
	h := &apogee.Webhook{ID: apogee.NewID(), ProjectID: p.ID, URL: req.URL, Events: events, CreatedAt: a.now().UTC()}
	if h.Events == nil {
		h.Events = []string{}
	}
	h.Secret = a.box.Seal(secret, apogee.WebhookSecretPurpose(p.ID, h.ID))
	if err := a.store.CreateWebhook(r.Context(), h); err != nil {
		if code := apogee.ErrorCode(err); code != apogee.EINTERNAL && code != apogee.ENOTFOUND {
			return err
		}
		return fmt.Errorf("api: create webhook of %q: %w", p.Name, err)
	}
	a.log.Info("webhook added", "project", p.Name, "webhook", h.ID, "events", events, "user", u.ID)
	v := a.webhookView(p, h)
	v.Secret = secret
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// webhook returns the webhook of the request's path if u may see its
// project; any other id is the webhook's 404.
func (a *API) webhook(r *http.Request, u *apogee.User) (*apogee.Project, *apogee.Webhook, error) {
	p, err := a.project(r, u, r.PathValue("name"))
	if err != nil {
		return nil, nil, err
	}
	id := r.PathValue("id")
	h, err := a.store.WebhookByID(r.Context(), p.ID, id)
	if apogee.ErrorCode(err) == apogee.ENOTFOUND {
		return nil, nil, apogee.Errorf(apogee.ENOTFOUND, "project %s has no webhook %q; list them with `apogee webhooks list --project %s`", p.Name, id, p.Name)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("api: webhook %s of %q: %w", id, p.Name, err)
	}
	return p, h, nil
}

func (a *API) deleteWebhook(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	p, h, err := a.webhook(r, u)
	if err != nil {
		return err
	}
	if err := a.store.DeleteWebhook(r.Context(), p.ID, h.ID); err != nil && apogee.ErrorCode(err) != apogee.ENOTFOUND {
		return fmt.Errorf("api: delete webhook %s of %q: %w", h.ID, p.Name, err)
	}
	a.log.Info("webhook removed", "project", p.Name, "webhook", h.ID, "user", u.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) testWebhook(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	p, h, err := a.webhook(r, u)
	if err != nil {
		return err
	}
	d := a.webhooks.Ping(r.Context(), p, h)
	writeJSON(w, http.StatusOK, d)
	return nil
}
