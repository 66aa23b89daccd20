package server

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/apogee-dev/apogee/internal/client"
)

// Real browsers' User-Agents, as the edge's access log classes them.
const (
	uaChromeMac    = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	uaSafariIPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
	uaGooglebot    = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)

// visit sends one request to host through the server's edge as a browser
// with userAgent coming from referer ("" none) and returns its status.
func visit(t *testing.T, addr, host, path, userAgent, referer string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", addr+path, nil)
	req.Host = host
	req.Header.Set("User-Agent", userAgent)
	if referer != "" {
		req.Header.Set("Referer", referer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// waitRouted waits until the server's edge routes host.
func waitRouted(t *testing.T, s *Server, host string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for { // the route reaches the edge by an event
		if _, ok := s.edge.Lookup(host); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the edge never routed %s", host)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitTraffic waits until the access writer has stored n requests of
// project, in its rollups and its top tables (it writes rollups about
// every second, top tables a second after traffic pauses).
func waitTraffic(t *testing.T, c *client.Client, project string, n int64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		tr, err := c.Traffic(context.Background(), project, "1h")
		if err != nil {
			t.Fatal(err)
		}
		var paths int64
		for _, p := range tr.Paths {
			paths += p.Count
		}
		if tr.Requests == n && paths == n {
			return
		}
		if tr.Requests > n || time.Now().After(deadline) {
			t.Fatalf("the analytics of %s count %d requests, want %d", project, tr.Requests, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAnalyticsInBrowser sends requests as three browsers through the
// real edge, then reads the project's Analytics tab in chromium and
// checks its figures and tables against what was sent; the Requests tab
// searches them and shows a new request live. Screenshots of both tabs
// at 1280 and 390 px.
func TestAnalyticsInBrowser(t *testing.T) {
	s, addr := startServer(t, Config{Data: t.TempDir()})
	ctx := context.Background()
	c := client.New(addr, userToken(t, s.Store(), "owner@example.com", "a long password", false))
	if _, err := c.CreateProject(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, body := range map[string]string{"index.html": "<h1>home</h1>", "about.html": "<h1>about us</h1>"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Deploy(ctx, dir, client.DeployOptions{Project: "web", Production: true}); err != nil {
		t.Fatal(err)
	}
	waitRouted(t, s, "web.localhost")
	hn, google := "https://news.ycombinator.com/item?id=42", "https://www.google.com/"
	for _, v := range []struct {
		path, ua, ref string
		code          int
	}{
		{"/", uaChromeMac, hn, 200},
		{"/", uaChromeMac, hn, 200},
		{"/about.html", uaChromeMac, hn, 200},
		{"/about.html?utm_source=hn&token=secret", uaChromeMac, hn, 200},
		{"/", uaSafariIPhone, google, 200},
		{"/wp-login.php", uaGooglebot, "", 404},
	} {
		if got := visit(t, addr, "web.localhost", v.path, v.ua, v.ref); got != v.code {
			t.Fatalf("GET %s answered %d, want %d", v.path, got, v.code)
		}
	}
	waitTraffic(t, c, "web", 6)

	b := newBrowser(t)
	shots := artifacts(t)
	run, text, shot := steps(t, b, shots)
	run("sign in", desktop(), chromedp.Navigate(addr+"/login"),
		chromedp.SendKeys(byLabel("Email"), "owner@example.com"),
		chromedp.SendKeys(byLabel("Password"), "a long password"),
		chromedp.Click(button("Sign in")),
		chromedp.WaitVisible(`//a[@href="/account"]`))
	run("the Analytics tab", chromedp.Navigate(addr+"/projects/web"), chromedp.Click(tab("Project", "Analytics")),
		chromedp.WaitVisible(`#figures`))

	cards, err := chromedp.Run(b, chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll("#figures .figure")].map(li => [li.querySelector(".label").textContent.trim(), li.querySelector(".value").textContent.trim()]))`))
	if err != nil {
		t.Fatal(err)
	}
	for label, want := range map[string]string{"Requests": "6", "Visitors": "3", "Error rate": "0%"} {
		if cards[label] != want {
			t.Errorf("card %s shows %q, want %q (all: %v)", label, cards[label], want, cards)
		}
	}
	for id, want := range map[string][]string{
		"top-pages":     {"/ 3", "/about.html 2", "/wp-login.php 1"},
		"top-referrers": {"news.ycombinator.com 4", "www.google.com 1"},
		"top-not-found": {"/wp-login.php 1"},
		"top-devices":   {"Desktop 4", "Bot 1", "Mobile 1"},
	} {
		got, err := chromedp.Run(b, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#`+id+` tbody tr")].map(tr => tr.cells[0].textContent.trim() + " " + tr.cells[1].textContent.trim())`))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("table %s shows %q, want %q", id, got, want)
		}
	}
	if got := text(`#top-countries`); !strings.Contains(got, "--geoip-db") {
		t.Errorf("countries without a GeoIP database say %q", got)
	}
	shot("analytics-1280")
	for _, r := range []string{"1h", "7d", "30d"} {
		// Chosen and sent in one step in the page: as separate actions, chromedp
		// could act on the node of the page the previous range had replaced.
		if _, err := chromedp.Run(b, chromedp.Evaluate[bool](`{const s = document.querySelector("#an-range"); s.value = `+strconv.Quote(r)+`; s.form.requestSubmit(); true}`)); err != nil {
			t.Fatalf("the range %s: %v", r, err)
		}
		run("the range "+r, chromedp.WaitReady(`//select[@id="an-range"]/option[@value="`+r+`" and @selected]`), chromedp.WaitVisible(`#figures`))
		if got := text(`#chart-requests figcaption`); !strings.Contains(got, "the most, 6,") {
			t.Errorf("the %s chart says %q", r, got)
		}
		shot("analytics-" + r + "-1280")
	}
	run("analytics on a phone", phone(), chromedp.Navigate(addr+"/projects/web/analytics"), chromedp.WaitVisible(`#figures`))
	noSideScroll(t, b, "the Analytics tab")
	shot("analytics-390")

	// The request log: searched, then live.
	run("404s in the request log", desktop(), chromedp.Navigate(addr+"/projects/web/requests?status=4xx"), chromedp.WaitVisible(`#request-table`))
	got, err := chromedp.Run(b, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#request-rows tr")].map(tr => tr.cells[1].textContent.trim() + " " + tr.querySelector(".path").textContent)`))
	if err != nil || !slices.Equal(got, []string{"404 /wp-login.php"}) {
		t.Errorf("the 4xx search shows %q (%v), want the one 404", got, err)
	}
	run("the Requests tab follows live", chromedp.Navigate(addr+"/projects/web/requests"), chromedp.WaitVisible(`#live`))
	if n, _ := chromedp.Run(b, chromedp.Evaluate[int](`document.querySelectorAll("#request-rows tr").length`)); n != 6 {
		t.Errorf("the request log shows %d requests, want 6", n)
	}
	if got := visit(t, addr, "web.localhost", "/about.html", uaSafariIPhone, ""); got != 200 {
		t.Fatalf("the live request answered %d", got)
	}
	run("the new request arrives", chromedp.WaitVisible(`//tbody[@id="request-rows"]/tr[1][contains(., "/about.html") and contains(., "Mobile")]`))
	shot("requests-1280")
	run("requests on a phone", phone(), chromedp.Navigate(addr+"/projects/web/requests"), chromedp.WaitVisible(`#live`))
	noSideScroll(t, b, "the Requests tab")
	shot("requests-390")
}
