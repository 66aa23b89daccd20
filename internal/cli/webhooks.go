package cli

import (
	"context"
	"errors"
	"strings"

	"github.com/spf13/cobra"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
)

func newWebhooksCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhooks",
		Short: "Add, list, test and remove the outgoing webhooks of a project or a team",
		Long: `Outgoing webhooks POST a JSON notification to a URL of yours when a
deployment of the project starts building, is ready, fails or is canceled.
The body's "text" makes it a valid Slack (or Mattermost) incoming-webhook
message; X-Apogee-Signature: sha256=<hex HMAC-SHA256 of the body> proves
it came from this server. The signing secret is shown once, when the
webhook is added.

With --team instead of --project, the commands act on a team's webhooks,
which are sent the notifications of every project the team owns (besides
each project's own webhooks). A team's owners add, test and remove them;
its members and viewers list them.

  apogee webhooks add https://hooks.slack.com/services/T…/B…/… --project web
  apogee webhooks add https://ci.example.com/apogee --events deployment.ready,deployment.error --project web
  apogee webhooks list --project web
  apogee webhooks test ID --project web
  apogee webhooks remove ID --project web
  apogee webhooks add https://ci.example.com/apogee --team acme
  apogee webhooks list --team acme --json`,
		Args: args(cobra.NoArgs),
	}
	cmd.AddCommand(newWebhooksAddCmd(a), newWebhooksListCmd(a), newWebhooksTestCmd(a), newWebhooksRemoveCmd(a))
	return cmd
}

// webhookHint suggests how to find a project that was not found; the
// server's message for a missing webhook or team says what to do already.
func webhookHint(err error) error {
	if msg := apogee.ErrorMessage(err); strings.Contains(msg, "webhook") || strings.Contains(msg, "team") {
		return err
	}
	return projectHint(err)
}

// webhookOwner is whose webhooks a command acts on: a team's (--team) or
// a project's (--project, $APOGEE_PROJECT or the linked folder's).
type webhookOwner struct {
	c       *client.Client
	team    string
	project string
}

// webhookOwnerOf reads the flags of a webhooks command.
func (a *app) webhookOwnerOf(cmd *cobra.Command, projectFlag, team string) (*webhookOwner, error) {
	if team != "" {
		if projectFlag != "" {
			return nil, usageError(cmd, errors.New("give --project or --team, not both"))
		}
		c, _, err := a.client()
		if err != nil {
			return nil, err
		}
		return &webhookOwner{c: c, team: team}, nil
	}
	proj, c, err := a.projectClient(projectFlag)
	if err != nil {
		return nil, err
	}
	return &webhookOwner{c: c, project: proj}, nil
}

// String names the owner in messages: "project web", "team acme".
func (w *webhookOwner) String() string {
	if w.team != "" {
		return "team " + w.team
	}
	return "project " + w.project
}

// flag is the flag that names the owner again, for hints.
func (w *webhookOwner) flag() string {
	if w.team != "" {
		return "--team " + w.team
	}
	return "--project " + w.project
}

// json adds the owner's name to a --json answer.
func (w *webhookOwner) json(m map[string]any) map[string]any {
	if w.team != "" {
		m["team"] = w.team
	} else {
		m["project"] = w.project
	}
	return m
}

func (w *webhookOwner) list(ctx context.Context) ([]apogee.WebhookView, error) {
	if w.team != "" {
		return w.c.ListTeamWebhooks(ctx, w.team)
	}
	return w.c.ListWebhooks(ctx, w.project)
}

func (w *webhookOwner) create(ctx context.Context, req apogee.CreateWebhookRequest) (*apogee.WebhookView, error) {
	if w.team != "" {
		return w.c.CreateTeamWebhook(ctx, w.team, req)
	}
	return w.c.CreateWebhook(ctx, w.project, req)
}

func (w *webhookOwner) delete(ctx context.Context, id string) error {
	if w.team != "" {
		return w.c.DeleteTeamWebhook(ctx, w.team, id)
	}
	return w.c.DeleteWebhook(ctx, w.project, id)
}

func (w *webhookOwner) test(ctx context.Context, id string) (*apogee.WebhookDelivery, error) {
	if w.team != "" {
		return w.c.TestTeamWebhook(ctx, w.team, id)
	}
	return w.c.TestWebhook(ctx, w.project, id)
}

// webhookFlags adds --project and --team to cmd.
func webhookFlags(cmd *cobra.Command, projectFlag, team *string) {
	cmd.Flags().StringVarP(projectFlag, "project", "p", "", "project (default: $APOGEE_PROJECT)")
	cmd.Flags().StringVar(team, "team", "", "a team's webhooks instead of a project's: sent every project of the team's notifications")
}

func newWebhooksAddCmd(a *app) *cobra.Command {
	var (
		projectFlag, team, secret string
		events                    []string
	)
	cmd := &cobra.Command{
		Use:   "add URL --project P|--team T [--events TYPE,…] [--secret S]",
		Short: "Add an outgoing webhook (its signing secret is shown once)",
		Long: `Add an outgoing webhook to a project, or with --team to a team (owners;
it gets the notifications of every project of the team). Without --events it gets every
type: ` + strings.Join(apogee.WebhookEvents, ", ") + `.
Without --secret the server makes a signing secret; either way it is
printed once and never shown again.`,
		Example: `  apogee webhooks add https://hooks.slack.com/services/T0/B0/XXXX --project web
  apogee webhooks add https://ci.example.com/hook --events deployment.error --project web
  apogee webhooks add https://ci.example.com/hook --team acme`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ev, err := apogee.ValidateWebhookEvents(events)
			if err != nil {
				return usageError(cmd, err)
			}
			if _, err := apogee.ValidateWebhookURL(argv[0], true); err != nil {
				return err
			}
			owner, err := a.webhookOwnerOf(cmd, projectFlag, team)
			if err != nil {
				return err
			}
			h, err := owner.create(cmd.Context(), apogee.CreateWebhookRequest{URL: argv[0], Events: ev, Secret: secret})
			if err != nil {
				return webhookHint(err)
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(h)
			}
			o.Printf("Added webhook %s to %s: %s\n", h.ID, owner, eventsWord(h.Events))
			if owner.team != "" {
				o.Printf("It gets the notifications of every project of team %s.\n", owner.team)
			}
			o.Printf("Signing secret (shown once; keep it where the receiver can check X-Apogee-Signature):\n%s\n", h.Secret)
			o.Notef("Send a test with `apogee webhooks test %s %s`.\n", h.ID, owner.flag())
			return nil
		},
	}
	webhookFlags(cmd, &projectFlag, &team)
	cmd.Flags().StringSliceVar(&events, "events", nil, "types to send, comma-separated (default: all): "+strings.Join(apogee.WebhookEvents, ", "))
	cmd.Flags().StringVar(&secret, "secret", "", "signing secret to use, 16 to 256 printable characters (default: one made by the server)")
	return cmd
}

func eventsWord(events []string) string {
	if len(events) == 0 {
		return "every deployment event"
	}
	return strings.Join(events, ", ")
}

func newWebhooksListCmd(a *app) *cobra.Command {
	var projectFlag, team string
	cmd := &cobra.Command{
		Use:     "list --project P|--team T",
		Aliases: []string{"ls"},
		Short:   "List the outgoing webhooks of a project or a team with their last delivery",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			owner, err := a.webhookOwnerOf(cmd, projectFlag, team)
			if err != nil {
				return err
			}
			hs, err := owner.list(cmd.Context())
			if err != nil {
				return webhookHint(err)
			}
			o := a.output(cmd)
			if a.json {
				if hs == nil {
					hs = []apogee.WebhookView{}
				}
				return o.JSON(owner.json(map[string]any{"webhooks": hs}))
			}
			if len(hs) == 0 {
				o.Printf("%s has no webhooks.\n", upperFirst(owner.String()))
				o.Notef("Add one with `apogee webhooks add URL %s`.\n", owner.flag())
				return nil
			}
			rows := make([][]string, 0, len(hs))
			for _, h := range hs {
				last := "never"
				if h.LastAt != nil {
					last = h.LastStatus + " " + ago(*h.LastAt)
					if h.LastError != "" {
						last += ": " + h.LastError
					}
				}
				events := "all"
				if len(h.Events) > 0 {
					events = strings.Join(h.Events, ",")
				}
				rows = append(rows, []string{h.ID, h.URL, events, last})
			}
			o.Table([]string{"ID", "URL", "EVENTS", "LAST DELIVERY"}, rows)
			return nil
		},
	}
	webhookFlags(cmd, &projectFlag, &team)
	return cmd
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func newWebhooksTestCmd(a *app) *cobra.Command {
	var projectFlag, team string
	cmd := &cobra.Command{
		Use:   "test ID --project P|--team T",
		Short: "Send a test delivery (a ping) to a webhook now",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			owner, err := a.webhookOwnerOf(cmd, projectFlag, team)
			if err != nil {
				return err
			}
			d, err := owner.test(cmd.Context(), argv[0])
			if err != nil {
				return webhookHint(err)
			}
			o := a.output(cmd)
			if a.json {
				if err := o.JSON(d); err != nil {
					return err
				}
			} else if d.Status == apogee.DeliveryOK {
				o.Printf("Delivered: the receiver answered %d.\n", d.Code)
			}
			if d.Status != apogee.DeliveryOK {
				return apogee.Errorf(apogee.EINVALID, "the test delivery failed: %s", d.Error)
			}
			return nil
		},
	}
	webhookFlags(cmd, &projectFlag, &team)
	return cmd
}

func newWebhooksRemoveCmd(a *app) *cobra.Command {
	var projectFlag, team string
	cmd := &cobra.Command{
		Use:     "remove ID [ID…] --project P|--team T",
		Aliases: []string{"rm"},
		Short:   "Remove outgoing webhooks",
		Args:    args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			owner, err := a.webhookOwnerOf(cmd, projectFlag, team)
			if err != nil {
				return err
			}
			o := a.output(cmd)
			for _, id := range argv {
				if err := owner.delete(cmd.Context(), id); err != nil {
					return webhookHint(err)
				}
				if !a.json {
					o.Printf("Removed webhook %s from %s.\n", id, owner)
				}
			}
			if a.json {
				return o.JSON(owner.json(map[string]any{"removed": argv}))
			}
			return nil
		},
	}
	webhookFlags(cmd, &projectFlag, &team)
	return cmd
}
