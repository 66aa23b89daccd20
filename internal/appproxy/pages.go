package appproxy

import (
	"net/http"
	"strconv"
)

// page is a small prebuilt error response.
type page struct {
	code int
	body []byte
	clen []string
}

var ctypeHTML = []string{"text/html; charset=utf-8"}

func newPage(code int, title, msg string) *page {
	body := "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">" +
		"<meta name=\"viewport\" content=\"width=device-width\"><title>" + title + "</title>" +
		"<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:15vh auto;padding:0 1em;color:#222}" +
		"h1{font-size:1.4em}p{color:#555}</style></head>\n<body><h1>" + title + "</h1><p>" + msg + "</p></body></html>\n"
	return &page{code: code, body: []byte(body), clen: []string{strconv.Itoa(len(body))}}
}

var (
	pageUnavailable = newPage(503, "503: no instance ready",
		"No instance of this app is ready to take requests: it is starting, restarting or failing its health check. The app's runtime log says which.")
	pageBadGateway = newPage(502, "502: bad gateway",
		"The app's instance closed the connection or sent a malformed response before answering this request.")
	pageTimeout = newPage(504, "504: gateway timeout",
		"The app's instance did not answer this request in time.")
	pageStarting = newPage(503, "503: the app is starting",
		"This app was asleep and no instance of it became ready in time to answer this request. Try again in a few seconds.")
	pageWakeFailed = newPage(503, "503: the app could not start",
		"This app was asleep and could not be started to answer this request. The app's runtime log says why.")
	pageQueueFull = newPage(503, "503: too many requests waiting",
		"This app is starting and too many requests are already waiting for it. Try again in a few seconds.")
	pageTooLarge = newPage(413, "413: request too large",
		"The body of this request is larger than this app accepts.")
)

var noStore = []string{"no-store"}

func writePage(w http.ResponseWriter, p *page) { writePageRetry(w, p, retryAfter) }

// writePageRetry is writePage with the Retry-After of a 503.
func writePageRetry(w http.ResponseWriter, p *page, retry []string) {
	h := w.Header()
	h["Content-Type"] = ctypeHTML
	h["Content-Length"] = p.clen
	h["Cache-Control"] = noStore
	if p.code == http.StatusServiceUnavailable {
		h["Retry-After"] = retry
	}
	w.WriteHeader(p.code)
	w.Write(p.body)
}

var retryAfter = []string{"5"}
