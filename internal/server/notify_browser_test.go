package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/apogee-dev/apogee/internal/client"
)

// notifySteps is TestDashboardInBrowser's notifications part, on the
// signed-in owner's project page: add an outgoing webhook by the form's
// labels and see its secret once, then deploy from outside the browser
// and see the open page say so in a toast.
func notifySteps(t *testing.T, b context.Context, addr string, c *client.Client,
	run func(string, ...chromedp.Action[chromedp.Void]), text func(string) string, shot func(string)) {
	t.Helper()
	run("add a webhook",
		chromedp.Navigate(addr+"/projects/web/settings/notifications"),
		chromedp.WaitVisible(byLabel("Receiver URL")),
		chromedp.SendKeys(byLabel("Receiver URL"), "https://hooks.example.com/services/T0/B0/x"),
		chromedp.Click(byLabel("deployment.building")), // off by default: on
		chromedp.Click(button("Add webhook")),
		chromedp.WaitVisible(`#webhook-secret`),
	)
	secret := text(`#webhook-secret`)
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("the new webhook's secret shows as %q", secret)
	}
	shot("webhook-added")
	run("project page with the webhook",
		chromedp.Navigate(addr+"/projects/web/settings/notifications"),
		chromedp.WaitVisible(`//table[contains(@class,"webhooks")]//span[normalize-space()="hooks.example.com"]`),
	)
	if got := text(`#webhooks`); strings.Contains(got, secret) {
		t.Fatalf("the webhooks section shows the secret again: %q", got)
	}
	// Every box checked is every event, also those added later.
	if got := text(`table.webhooks tbody td:nth-child(2)`); got != "all" {
		t.Fatalf("the webhook's events show as %q, want all", got)
	}

	// The page is open; a deployment becomes ready elsewhere (the CLI's
	// upload): a toast says so, with links, in a polite live region.
	time.Sleep(500 * time.Millisecond) // the page's EventSource connects
	res, err := c.Deploy(context.Background(), site(t, "v3 preview"), client.DeployOptions{Project: "web"})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Deployment.ID
	run("toast", chromedp.WaitVisible(`//div[@id="toasts"]/div[contains(@class,"toast") and contains(@class,"ready")]//a[normalize-space()="`+id+`"]`))
	if got := text(`#toasts .toast`); !strings.Contains(got, "web: deployment "+id+" is ready.") || !strings.Contains(got, "Visit") || !strings.Contains(got, "Ready") {
		t.Fatalf("toast says %q", got)
	}
	if got, _ := chromedp.Run(b, chromedp.Evaluate[string](`(() => { const r = document.getElementById("toasts"); return r.getAttribute("role") + " " + r.getAttribute("aria-live") })()`)); got != "status polite" {
		t.Fatalf("the toasts region is %q, want role=status aria-live=polite", got)
	}
	shot("toast")
	run("dismiss the toast", chromedp.Click(`#toasts .toast button.close`), chromedp.WaitNotPresent(`#toasts .toast`))
}
