package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/miekg/dns"

	"github.com/apogee-dev/apogee/internal/client"
	"github.com/apogee-dev/apogee/internal/resolver/resolvertest"
)

// laptop is the viewport of a small laptop: 1366 by 768.
func laptop() chromedp.Action[chromedp.Void] { return chromedp.EmulateViewport(1366, 768) }

// TestDNSInBrowser drives the DNS page of a real server (with
// --dns-listen) in chromium: add a zone for a project, add an MX and a
// TXT record, edit one inline, see the refusal of a CNAME at the apex
// above the form with what was typed kept, remove a record; the DNS
// server answers the edited record. Screenshots at 1366 and 390 px.
func TestDNSInBrowser(t *testing.T) {
	_, parentAddr := resolvertest.Start(t)
	s, addr := startServer(t, Config{Data: t.TempDir(), Domain: "apogee.test", DNSListen: "127.0.0.1:0",
		DNSEdge: []string{"127.0.0.1"}, DNSResolver: parentAddr})
	c := client.New(addr, userToken(t, s.Store(), "owner@example.com", "a long password", false))
	if _, err := c.CreateProject(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t)
	shots := artifacts(t)
	run, text, shot := steps(t, b, shots)
	run("sign in", laptop(), chromedp.Navigate(addr+"/login"),
		chromedp.SendKeys(byLabel("Email"), "owner@example.com"),
		chromedp.SendKeys(byLabel("Password"), "a long password"),
		chromedp.Click(button("Sign in")),
		chromedp.WaitVisible(`//a[@href="/account"]`))
	run("the DNS page", chromedp.Click(tab("Main", "DNS")), chromedp.WaitVisible(`#add-zone`))
	shot("dns-empty-1366")
	run("add a zone", chromedp.SendKeys(byLabel("Domain"), "example.com"),
		chromedp.SetValue(`#zone-project`, "web"),
		chromedp.Click(button("Add zone")),
		chromedp.WaitVisible(`#add-record`))
	if got := text(`.flash`); !strings.Contains(got, "ns1.apogee.test and ns2.apogee.test") {
		t.Errorf("after adding the zone the page says %q; want the nameservers to set", got)
	}
	if got := text(`#delegation`); !strings.Contains(got, "ns1.apogee.test") {
		t.Errorf("the zone's page lists no nameservers: %q", got)
	}

	add := func(what, name, typ, value string) {
		t.Helper()
		run(what, chromedp.SendKeys(`#record-name`, name), chromedp.SetValue(`#record-type`, typ),
			chromedp.SendKeys(`#record-value`, value), chromedp.Click(button("Add record")),
			chromedp.WaitVisible(`//div[contains(@class,"flash")][contains(., "Added")][contains(., "`+value+`")]`))
	}
	add("add an MX", "@", "MX", "10 mail.example.com")
	add("add a TXT", "@", "TXT", "v=spf1 include:_spf.example.net -all")
	rows := func() []string {
		t.Helper()
		got, err := chromedp.Run(b, chromedp.Evaluate[[]string](`[...document.querySelectorAll("table.dns-records tbody tr:not(.automatic)")].map(tr => [...tr.cells].slice(0, 4).map(c => c.textContent.trim()).join(" "))`))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := strings.Join(rows(), "|"); got != "@ MX 10 mail.example.com 300|@ TXT v=spf1 include:_spf.example.net -all 300" {
		t.Errorf("records %q", got)
	}
	auto, err := chromedp.Run(b, chromedp.Evaluate[string](`document.querySelector("table.dns-records").innerText`))
	if err != nil || !strings.Contains(auto, "Automatic") || !strings.Contains(auto, "Serves project web") {
		t.Errorf("the automatic records are not shown as such: %q (%v)", auto, err)
	}

	// Edit the MX inline.
	run("edit the MX", chromedp.Click(`//tr[td[2][normalize-space()="MX"]]//a[normalize-space()="Edit"]`),
		chromedp.WaitVisible(`#edit-value`),
		chromedp.SetValue(`#edit-value`, "20 mx.example.com"), chromedp.SetValue(`#edit-ttl`, "600"),
		chromedp.Click(button("Save")),
		chromedp.WaitVisible(`//div[contains(@class,"flash")][contains(., "Saved")]`))
	if got := rows(); len(got) != 2 || got[0] != "@ MX 20 mx.example.com 600" {
		t.Errorf("records after the edit %q", got)
	}
	shot("dns-zone-1366")

	// A CNAME at the apex: refused above the form, what was typed kept.
	run("a CNAME at the apex", chromedp.SendKeys(`#record-name`, "@"), chromedp.SetValue(`#record-type`, "CNAME"),
		chromedp.SendKeys(`#record-value`, "web.apogee.test"), chromedp.Click(button("Add record")),
		chromedp.WaitVisible(`#add-record p.error`))
	if got := text(`#add-record p.error`); !strings.Contains(got, "a CNAME cannot be at the apex") {
		t.Errorf("the refusal says %q", got)
	}
	if v, _ := chromedp.Run(b, chromedp.Value(`#record-value`)); v != "web.apogee.test" {
		t.Errorf("the form lost the value typed: %q", v)
	}
	if got := rows(); len(got) != 2 {
		t.Errorf("records after the refusal %q", got)
	}
	shot("dns-error-1366")

	// The DNS server answers the edited record.
	m := new(dns.Msg)
	m.SetQuestion("example.com.", dns.TypeMX)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := dns.Exchange(m, s.DNSAddr())
		if err == nil && len(r.Answer) == 1 && r.Answer[0].(*dns.MX).Mx == "mx.example.com." && r.Answer[0].Header().Ttl == 600 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the DNS server never answered the edited MX: %v %v", r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Remove the TXT record.
	run("remove the TXT", chromedp.Navigate(addr+"/dns/zones/example.com"), chromedp.WaitVisible(`#add-record`),
		void(chromedp.Evaluate[bool](`window.confirm = () => true; true`)),
		chromedp.Click(`//tr[td[2][normalize-space()="TXT"]]//button[normalize-space()="Remove"]`),
		chromedp.WaitVisible(`//div[contains(@class,"flash")][contains(., "Record removed")]`))
	if got := rows(); len(got) != 1 || !strings.HasPrefix(got[0], "@ MX") {
		t.Errorf("records after the remove %q", got)
	}

	// On a phone: the list, the zone, an edit row and the error.
	run("the zone on a phone", phone(), chromedp.Navigate(addr+"/dns/zones/example.com"), chromedp.WaitVisible(`#add-record`))
	noSideScroll(t, b, "the zone's page")
	shot("dns-zone-390")
	run("an edit on a phone", chromedp.Click(`//tr[td[2][normalize-space()="MX"]]//a[normalize-space()="Edit"]`), chromedp.WaitVisible(`#edit-value`))
	noSideScroll(t, b, "the zone's page with a row edited")
	shot("dns-edit-390")
	run("a refusal on a phone", chromedp.Navigate(addr+"/dns/zones/example.com"), chromedp.WaitVisible(`#add-record`),
		chromedp.SendKeys(`#record-name`, "@"), chromedp.SetValue(`#record-type`, "CNAME"),
		chromedp.SendKeys(`#record-value`, "web.apogee.test"), chromedp.Click(button("Add record")),
		chromedp.WaitVisible(`#add-record p.error`))
	noSideScroll(t, b, "the zone's page with an error")
	// The form is far down a phone's page: the answer opens at it, so the
	// refusal is on the screen.
	if in, err := chromedp.Run(b, chromedp.Evaluate[bool](`(() => { const r = document.querySelector("#add-record p.error").getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight })()`)); err != nil || !in {
		t.Errorf("on a phone the refusal is off the screen (%v)", err)
	}
	shot("dns-error-390")
	run("the list on a phone", chromedp.Navigate(addr+"/dns"), chromedp.WaitVisible(`#add-zone`))
	noSideScroll(t, b, "the DNS page")
	shot("dns-list-390")
	run("the list on a laptop", laptop(), chromedp.Navigate(addr+"/dns"), chromedp.WaitVisible(`#add-zone`))
	shot("dns-list-1366")
}
