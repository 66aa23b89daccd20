package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// loggingApp is the Express app with a line of log per request and a
// route that crashes it.
const loggingApp = `const express = require('express');
const app = express();
app.use((req, res, next) => { console.log(req.method + ' ' + req.url); next(); });
app.get('/', (req, res) => res.send('hello from ' + (process.env.GREETING || 'express')));
app.get('/oops', (req, res) => { console.error('Error: something broke at ' + req.url); res.status(500).send('oops'); });
app.get('/crash', (req, res) => { console.error('crashing on purpose'); process.exit(3); });
app.listen(process.env.PORT, () => console.log('listening on ' + process.env.PORT));
`

// TestAppPageInBrowser drives the app page of a real Express app running
// in bubblewrap with headless chromium: its instance shows ready, the
// runtime log follows requests live, the search narrows it, a crash
// shows as a toast and in the log with its exit code, scale makes two
// instances, a variable makes a new release, and a rollback serves the
// old one again. Screenshots at laptop (1280x800) and phone (390x844)
// widths.
func TestAppPageInBrowser(t *testing.T) {
	_, c, addr, _ := appServer(t)
	ctx := t.Context()
	if _, err := c.CreateProject(ctx, "api"); err != nil {
		t.Fatal(err)
	}
	d, log := zipBuild(t, c, "api", expressApp(t, map[string]string{"server.js": loggingApp}))
	if !d.Production {
		t.Fatalf("the app's build is %s (%s):\n%s", d.Status, d.Error, log)
	}
	serves(t, addr, "api.localhost", "/", "hello from express")

	b := newBrowser(t)
	shots := artifacts(t)
	run, text, shot := steps(t, b, shots)
	run("sign in", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(addr+"/login?next=/projects/api/app"),
		chromedp.SendKeys(byLabel("Email"), "dev@example.com"), chromedp.SendKeys(byLabel("Password"), "password"),
		chromedp.Click(button("Sign in")), chromedp.WaitVisible(`//h2[normalize-space()="App"]`))
	run("the instance is ready", chromedp.WaitVisible(`//tbody[@id="instance-rows"]/tr/td//span[contains(@class,"badge") and normalize-space()="ready"]`),
		chromedp.WaitVisible(`//div[@id="log"]/div[contains(., "listening on")]`))

	// Requests log a line each, live; the page is open before they come.
	request(t, addr, "GET", "api.localhost", "/hello-from-the-test", "")
	request(t, addr, "GET", "api.localhost", "/oops", "")
	run("live lines", chromedp.WaitVisible(`//div[@id="log"]/div[contains(@class,"stdout") and contains(., "GET /hello-from-the-test")]`),
		chromedp.WaitVisible(`//div[@id="log"]/div[contains(@class,"stderr") and contains(., "something broke")]`))
	shot("app")

	run("search", chromedp.SendKeys(byLabel("Search"), "ERROR"), chromedp.Click(button("Show")),
		chromedp.WaitVisible(`//input[@id="log-search" and @value="ERROR"]`), // the page it sent
		chromedp.WaitVisible(`//div[@id="log"]/div[contains(., "something broke")]`))
	if got := text(`#log`); strings.Contains(got, "hello-from-the-test") || strings.Contains(got, "listening on") {
		t.Errorf("the search for ERROR shows %q", got)
	}
	request(t, addr, "GET", "api.localhost", "/oops?again", "")
	run("a live line that matches", chromedp.WaitVisible(`//div[@id="log"]/div[contains(., "/oops?again")]`))
	request(t, addr, "GET", "api.localhost", "/no-match-here", "")
	request(t, addr, "GET", "api.localhost", "/oops?third", "")
	run("the filter holds for live lines", chromedp.WaitVisible(`//div[@id="log"]/div[contains(., "/oops?third")]`))
	if got := text(`#log`); strings.Contains(got, "/no-match-here") {
		t.Errorf("a live line that does not match shows: %q", got)
	}

	// A crash: the notification's toast, the log's line with the exit
	// code, and the instance back.
	run("all lines", chromedp.Navigate(addr+"/projects/api/app"), chromedp.WaitVisible(`//div[@id="log"]/div[contains(., "listening on")]`))
	request(t, addr, "GET", "api.localhost", "/crash", "")
	run("crash", chromedp.WaitVisible(`//div[contains(@class,"toast") and @data-type="app.crashed" and contains(., "exited with code 3")]`),
		chromedp.WaitVisible(`//div[@id="log"]/div[contains(@class,"system") and contains(., "crashed: exited with code 3")]`))
	shot("app-crash")
	// Restarted at once: ready again after its boot (a guard of a minute).
	run("ready again", chromedp.WaitVisible(`//tbody[@id="instance-rows"]/tr/td//span[contains(@class,"badge") and normalize-space()="ready"]/ancestor::tr/td[@data-label="Restarts" and starts-with(normalize-space(), "1")]`))
	serves(t, addr, "api.localhost", "/", "hello from express")

	// Scale to two: the form, the flash, two ready instances.
	run("scale", chromedp.SetValue(`#scale-n`, "2"), chromedp.Click(button("Scale")),
		chromedp.WaitVisible(`//div[contains(@class,"flash") and contains(., "Scaled to 2 instances")]`),
		chromedp.WaitVisible(`//tbody[@id="instance-rows"]/tr[2]//span[contains(@class,"badge") and normalize-space()="ready"]`))

	// A variable: a new release serves with it.
	run("set a variable", chromedp.SendKeys(byLabel("Name"), "GREETING"), chromedp.SendKeys(byLabel("Value"), "the app page"),
		chromedp.Click(button("Save and release")),
		chromedp.WaitVisible(`//div[contains(@class,"flash") and contains(., "GREETING saved")]`))
	// The rollout boots two instances of the new release one after the
	// other: more than a step's 15 s on a loaded machine.
	rctx, cancel := context.WithTimeout(b, time.Minute)
	if err := chromedp.Do(rctx, chromedp.WaitVisible(`//tr[contains(@class,"production")]//b[normalize-space()="v2"]`)); err != nil {
		t.Fatalf("v2 in production: %v", err)
	}
	cancel()
	serves(t, addr, "api.localhost", "/", "hello from the app page")
	shot("app-v2")

	// Roll back to v1 from its row.
	run("roll back to v1", void(chromedp.Evaluate[bool](`window.confirm = () => true; true`)),
		chromedp.Click(`//button[@aria-label="Roll back to v1"]`),
		chromedp.WaitVisible(`//div[contains(@class,"flash") and contains(., "Rolled back")]`),
		chromedp.WaitVisible(`//tr[contains(@class,"production")]//b[normalize-space()="v1"]`))
	serves(t, addr, "api.localhost", "/", "hello from express")

	// A phone.
	run("phone", phone(), chromedp.Navigate(addr+"/projects/api/app"), chromedp.WaitVisible(`//tbody[@id="instance-rows"]/tr`),
		chromedp.WaitVisible(`//div[@id="log"]/div`))
	noSideScroll(t, b, "the app page")
	shot("app-phone")
	run("desktop again", chromedp.EmulateViewport(1280, 800))
}
