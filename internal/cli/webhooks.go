package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/apogee-dev/apogee"
)

func newWebhooksCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhooks",
		Short: "Add, list, test and remove a project's outgoing webhooks",
		Long: `Outgoing webhooks POST a JSON notification to a URL of yours when a
deployment of the project starts building, is ready, fails or is canceled.
The body's "text" makes it a valid Slack (or Mattermost) incoming-webhook
message; X-Apogee-Signature: sha256=<hex HMAC-SHA256 of the body> proves
it came from this server. The signing secret is shown once, when the
webhook is added.

  apogee webhooks add https://hooks.slack.com/services/T…/B…/… --project web
  apogee webhooks add https://ci.example.com/apogee --events deployment.ready,deployment.error --project web
  apogee webhooks list --project web
  apogee webhooks test ID --project web
  apogee webhooks remove ID --project web`,
		Args: args(cobra.NoArgs),
	}
	cmd.AddCommand(newWebhooksAddCmd(a), newWebhooksListCmd(a), newWebhooksTestCmd(a), newWebhooksRemoveCmd(a))
	return cmd
}

// webhookHint suggests how to find a project that was not found; the
// server's message for a missing webhook says what to do already.
func webhookHint(err error) error {
	if strings.Contains(apogee.ErrorMessage(err), "webhook") {
		return err
	}
	return projectHint(err)
}

func newWebhooksAddCmd(a *app) *cobra.Command {
	var (
		projectFlag, secret string
		events              []string
	)
	cmd := &cobra.Command{
		Use:   "add URL --project P [--events TYPE,…] [--secret S]",
		Short: "Add an outgoing webhook (its signing secret is shown once)",
		Long: `Add an outgoing webhook to a project. Without --events it gets every
type: ` + strings.Join(apogee.WebhookEvents, ", ") + `.
Without --secret the server makes a signing secret; either way it is
printed once and never shown again.`,
		Example: `  apogee webhooks add https://hooks.slack.com/services/T0/B0/XXXX --project web
  apogee webhooks add https://ci.example.com/hook --events deployment.error --project web`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ev, err := apogee.ValidateWebhookEvents(events)
			if err != nil {
				return usageError(cmd, err)
			}
			if _, err := apogee.ValidateWebhookURL(argv[0], true); err != nil {
				return err
			}
			proj, c, err := a.projectClient(projectFlag)
			if err != nil {
				return err
			}
			h, err := c.CreateWebhook(cmd.Context(), proj, apogee.CreateWebhookRequest{URL: argv[0], Events: ev, Secret: secret})
			if err != nil {
				return webhookHint(err)
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(h)
			}
			o.Printf("Added webhook %s to project %s: %s\n", h.ID, proj, eventsWord(h.Events))
			o.Printf("Signing secret (shown once; keep it where the receiver can check X-Apogee-Signature):\n%s\n", h.Secret)
			o.Notef("Send a test with `apogee webhooks test %s --project %s`.\n", h.ID, proj)
			return nil
		},
	}
	cmd.Flags().StringVarP(&projectFlag, "project", "p", "", "project (default: $APOGEE_PROJECT)")
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
	var projectFlag string
	cmd := &cobra.Command{
		Use:     "list --project P",
		Aliases: []string{"ls"},
		Short:   "List a project's outgoing webhooks with their last delivery",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			proj, c, err := a.projectClient(projectFlag)
			if err != nil {
				return err
			}
			hs, err := c.ListWebhooks(cmd.Context(), proj)
			if err != nil {
				return projectHint(err)
			}
			o := a.output(cmd)
			if a.json {
				if hs == nil {
					hs = []apogee.WebhookView{}
				}
				return o.JSON(map[string]any{"project": proj, "webhooks": hs})
			}
			if len(hs) == 0 {
				o.Printf("Project %s has no webhooks.\n", proj)
				o.Notef("Add one with `apogee webhooks add URL --project %s`.\n", proj)
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
	cmd.Flags().StringVarP(&projectFlag, "project", "p", "", "project (default: $APOGEE_PROJECT)")
	return cmd
}

func newWebhooksTestCmd(a *app) *cobra.Command {
	var projectFlag string
	cmd := &cobra.Command{
		Use:   "test ID --project P",
		Short: "Send a test delivery (a ping) to a webhook now",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			proj, c, err := a.projectClient(projectFlag)
			if err != nil {
				return err
			}
			d, err := c.TestWebhook(cmd.Context(), proj, argv[0])
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
	cmd.Flags().StringVarP(&projectFlag, "project", "p", "", "project (default: $APOGEE_PROJECT)")
	return cmd
}

func newWebhooksRemoveCmd(a *app) *cobra.Command {
	var projectFlag string
	cmd := &cobra.Command{
		Use:     "remove ID [ID…] --project P",
		Aliases: []string{"rm"},
		Short:   "Remove outgoing webhooks",
		Args:    args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			proj, c, err := a.projectClient(projectFlag)
			if err != nil {
				return err
			}
			o := a.output(cmd)
			for _, id := range argv {
				if err := c.DeleteWebhook(cmd.Context(), proj, id); err != nil {
					return webhookHint(err)
				}
				if !a.json {
					o.Printf("Removed webhook %s from project %s.\n", id, proj)
				}
			}
			if a.json {
				return o.JSON(map[string]any{"project": proj, "removed": argv})
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&projectFlag, "project", "p", "", "project (default: $APOGEE_PROJECT)")
	return cmd
}
