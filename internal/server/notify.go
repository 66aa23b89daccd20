package server

import (
	"context"
	"github.com/apogee-dev/apogee/internal/github"
	"sync"

	"fmt"

	"github.com/apogee-dev/apogee/internal/notify"
)

// setupNotify makes the webhook sender (also the API's, for test pings)
// and the notifier that turns deployment events into live dashboard
// notifications and webhook deliveries.
func (s *Server) setupNotify(context.Context) error {
	s.webhooks = notify.NewSender(notify.SenderConfig{
		Store:        s.store,
		Box:          s.box,
		AllowPrivate: s.cfg.WebhooksAllowPrivate,
		Log:          s.log.With("component", "webhooks"),
		Registerer:   s.reg,
	})
	if s.cfg.WebhooksAllowPrivate {
		s.log.Warn("webhooks may reach private and loopback addresses (--webhooks-allow-private): any user can make this server send requests into its own network")
	}
	gh, err := s.githubClient()
	if err != nil {
		return err
	}
	app, err := s.githubApp()
	if err != nil {
		return err
	}
	var reporters []notify.Reporter
	var statuses *github.Statuses
	if gh != nil { // builds of GitHub repositories set their commit's status
		statuses = gh.Statuses(s.store)
	}
	if app != nil { // as the installation, for projects built through the app
		statuses = github.WithApp(statuses, app, s.store, s.store)
	}
	if statuses != nil {
		reporters = append(reporters, statuses)
	}
	s.notifier, err = notify.New(notify.Config{
		Store:     s.store,
		Bus:       s.bus,
		Webhooks:  s.webhooks,
		Reporters: reporters,
		SiteURL:   s.SiteURL,
		BaseURL:   s.URL,
		Log:       s.log.With("component", "notify"),
	})
	if err != nil {
		return fmt.Errorf("notifications: %w", err)
	}
	return nil
}

// runNotify runs the notifier and the webhook workers until ctx ends.
func (s *Server) runNotify(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.webhooks.Run(ctx) }()
	go func() {
		defer wg.Done()
		if err := s.notifier.Run(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("notifications stopped", "err", err)
		}
	}()
	wg.Wait()
}
