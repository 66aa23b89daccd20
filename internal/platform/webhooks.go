package platform

import (
	"context"
	"fmt"
	"net/url"

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
	h, secret, err := pl.newWebhook(req, &apogee.Webhook{ProjectID: p.ID})
	if err != nil {
		return nil, err
	}
	if err := pl.store.CreateWebhook(ctx, h); err != nil {
		return nil, fmt.Errorf("platform: create webhook of %q: %w", p.Name, err)
	}
	pl.log.Info("webhook added", "project", p.Name, "webhook", h.ID, "events", h.Events, "user", u.ID)
	pl.recordProject(ctx, u, p, "webhook.create", h.ID, "")
	return &apogee.WebhookView{Webhook: h, Project: p.Name, Secret: secret}, nil
}

// newWebhook checks req and returns h (its owner set) filled in from it,
// with a new id and its secret sealed, and the secret in plain text.
func (pl *Platform) newWebhook(req apogee.CreateWebhookRequest, h *apogee.Webhook) (*apogee.Webhook, string, error) {
	if err := pl.cfg.Webhooks.CheckURL(req.URL); err != nil {
		return nil, "", err
	}
	events, err := apogee.ValidateWebhookEvents(req.Events)
	if err != nil {
		return nil, "", err
	}
	secret := req.Secret
	if secret == "" {
		secret = "whsec_" + apogee.NewSecret(24)
	} else if err := apogee.ValidateWebhookSecret(secret); err != nil {
		return nil, "", err
	}
	h.ID, h.URL, h.Events, h.CreatedAt = apogee.NewID(), req.URL, events, pl.now().UTC()
	if h.Events == nil {
		h.Events = []string{}
	}
	h.Secret = pl.box.Seal(secret, h.SecretPurpose())
	return h, secret, nil
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

// A team's webhooks (issue 19): any member sees them (never a secret: it
// is in the answer that made one only); owners add, remove and test
// them, as Vercel's team webhooks are the team's settings.

func (pl webhooks) TeamWebhooks(ctx context.Context, team string) ([]*apogee.WebhookView, error) {
	u, err := pl.actor(ctx)
	if err != nil {
		return nil, err
	}
	t, role, err := pl.teamAs(ctx, u, team, needRead)
	if err != nil {
		return nil, err
	}
	hs, err := pl.store.ListTeamWebhooks(ctx, t.ID)
	if err != nil {
		return nil, fmt.Errorf("platform: list webhooks of team %s: %w", t.Name, err)
	}
	views := make([]*apogee.WebhookView, len(hs))
	for i, h := range hs {
		if role != apogee.RoleOwner {
			// A URL's path and query may be its secret (a Slack URL's
			// are): members and viewers see where it goes, not them.
			h.URL = redactURL(h.URL)
		}
		views[i] = &apogee.WebhookView{Webhook: h, Team: t.Name}
	}
	return views, nil
}

// redactURL keeps the scheme and host of a webhook URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(hidden)"
	}
	out := u.Scheme + "://" + u.Host + "/"
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		out += "…"
	}
	return out
}

func (pl webhooks) CreateTeamWebhook(ctx context.Context, team string, req apogee.CreateWebhookRequest) (*apogee.WebhookView, error) {
	u, err := pl.actor(ctx)
	if err != nil {
		return nil, err
	}
	t, _, err := pl.teamAs(ctx, u, team, needOwner)
	if err != nil {
		return nil, err
	}
	h, secret, err := pl.newWebhook(req, &apogee.Webhook{TeamID: t.ID})
	if err != nil {
		return nil, err
	}
	if err := pl.store.CreateWebhook(ctx, h); err != nil {
		if apogee.ErrorCode(err) == apogee.ETOOLARGE {
			return nil, err
		}
		return nil, fmt.Errorf("platform: create webhook of team %s: %w", t.Name, err)
	}
	pl.log.Info("team webhook added", "team", t.Name, "webhook", h.ID, "events", h.Events, "user", u.ID)
	pl.record(ctx, u, t.ID, nil, "webhook.create", h.ID, "team webhook")
	return &apogee.WebhookView{Webhook: h, Team: t.Name, Secret: secret}, nil
}

// teamWebhook returns webhook id of the team if the acting user owns the
// team; any other id is the webhook's ENOTFOUND.
func (pl *Platform) teamWebhook(ctx context.Context, team, id string) (*apogee.User, *apogee.Team, *apogee.Webhook, error) {
	u, err := pl.actor(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	t, _, err := pl.teamAs(ctx, u, team, needOwner)
	if err != nil {
		return nil, nil, nil, err
	}
	h, err := pl.store.TeamWebhookByID(ctx, t.ID, id)
	if apogee.ErrorCode(err) == apogee.ENOTFOUND {
		return nil, nil, nil, apogee.Errorf(apogee.ENOTFOUND, "team %s has no webhook %q", t.Name, id)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("platform: webhook %s of team %s: %w", id, t.Name, err)
	}
	return u, t, h, nil
}

func (pl webhooks) DeleteTeamWebhook(ctx context.Context, team, id string) error {
	u, t, h, err := pl.teamWebhook(ctx, team, id)
	if err != nil {
		return err
	}
	if err := pl.store.DeleteTeamWebhook(ctx, t.ID, h.ID); err != nil && apogee.ErrorCode(err) != apogee.ENOTFOUND {
		return fmt.Errorf("platform: delete webhook %s of team %s: %w", h.ID, t.Name, err)
	}
	pl.log.Info("team webhook removed", "team", t.Name, "webhook", h.ID, "user", u.ID)
	pl.record(ctx, u, t.ID, nil, "webhook.delete", h.ID, "team webhook")
	return nil
}

func (pl webhooks) TestTeamWebhook(ctx context.Context, team, id string) (*apogee.WebhookDelivery, error) {
	_, t, h, err := pl.teamWebhook(ctx, team, id)
	if err != nil {
		return nil, err
	}
	d := pl.cfg.Webhooks.PingTeam(ctx, t, h)
	return &d, nil
}
