package platform

import (
	"context"
	"fmt"

	"github.com/apogee-dev/apogee"
)

// webhooks implements apogee.WebhookService: projects' outgoing
// webhooks. No log line carries a URL (a Slack URL's path is its secret)
// or a secret.
type webhooks struct{ *Platform }

var _ apogee.WebhookService = webhooks{}

func (pl webhooks) Webhooks(ctx context.Context, project string) ([]*apogee.WebhookView, error) {
	_, p, err := pl.project(ctx, project, needRead)
	if err != nil {
		return nil, err
	}
	hs, err := pl.store.ListWebhooks(ctx, p.ID)
	if err != nil {
		return nil, fmt.Errorf("platform: list webhooks of %q: %w", p.Name, err)
	}
	views := make([]*apogee.WebhookView, len(hs))
	for i, h := range hs {
		views[i] = &apogee.WebhookView{Webhook: h, Project: p.Name}
	}
	return views, nil
}

func (pl webhooks) CreateWebhook(ctx context.Context, project string, req apogee.CreateWebhookRequest) (*apogee.WebhookView, error) {
	u, p, err := pl.project(ctx, project, needChange)
	if err != nil {
		return nil, err
	}
	if err := pl.cfg.Webhooks.CheckURL(req.URL); err != nil {
		return nil, err
	}
	events, err := apogee.ValidateWebhookEvents(req.Events)
	if err != nil {
		return nil, err
	}
	secret := req.Secret
	if secret == "" {
		secret = "whsec_" + apogee.NewSecret(24)
	} else if err := apogee.ValidateWebhookSecret(secret); err != nil {
		return nil, err
	}
	h := &apogee.Webhook{ID: apogee.NewID(), ProjectID: p.ID, URL: req.URL, Events: events, CreatedAt: pl.now().UTC()}
	if h.Events == nil {
		h.Events = []string{}
	}
	h.Secret = pl.box.Seal(secret, apogee.WebhookSecretPurpose(p.ID, h.ID))
	if err := pl.store.CreateWebhook(ctx, h); err != nil {
		return nil, fmt.Errorf("platform: create webhook of %q: %w", p.Name, err)
	}
	pl.log.Info("webhook added", "project", p.Name, "webhook", h.ID, "events", events, "user", u.ID)
	pl.recordProject(ctx, u, p, "webhook.create", h.ID, "")
	return &apogee.WebhookView{Webhook: h, Project: p.Name, Secret: secret}, nil
}

// webhook returns webhook id of the project if the acting user may see
// the project; any other id is the webhook's ENOTFOUND.
func (pl *Platform) webhook(ctx context.Context, project, id string) (*apogee.User, *apogee.Project, *apogee.Webhook, error) {
	u, p, err := pl.project(ctx, project, needChange)
	if err != nil {
		return nil, nil, nil, err
	}
	h, err := pl.store.WebhookByID(ctx, p.ID, id)
	if apogee.ErrorCode(err) == apogee.ENOTFOUND {
		return nil, nil, nil, apogee.Errorf(apogee.ENOTFOUND, "project %s has no webhook %q", p.Name, id)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("platform: webhook %s of %q: %w", id, p.Name, err)
	}
	return u, p, h, nil
}

func (pl webhooks) DeleteWebhook(ctx context.Context, project, id string) error {
	u, p, h, err := pl.webhook(ctx, project, id)
	if err != nil {
		return err
	}
	if err := pl.store.DeleteWebhook(ctx, p.ID, h.ID); err != nil && apogee.ErrorCode(err) != apogee.ENOTFOUND {
		return fmt.Errorf("platform: delete webhook %s of %q: %w", h.ID, p.Name, err)
	}
	pl.log.Info("webhook removed", "project", p.Name, "webhook", h.ID, "user", u.ID)
	pl.recordProject(ctx, u, p, "webhook.delete", h.ID, "")
	return nil
}

func (pl webhooks) TestWebhook(ctx context.Context, project, id string) (*apogee.WebhookDelivery, error) {
	_, p, h, err := pl.webhook(ctx, project, id)
	if err != nil {
		return nil, err
	}
	d := pl.cfg.Webhooks.Ping(ctx, p, h)
	return &d, nil
}
