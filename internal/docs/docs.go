// Package docs holds Apogee's user documentation: Markdown files embedded
// in the binary (content/*.md), rendered once to HTML with goldmark
// (CommonMark with GitHub's tables, an id and a "#" anchor on every
// heading) for the dashboard to serve under /docs.
//
// content/cli.md is generated from the cobra command tree by `go generate`
// (gencli, CLIReference); a test fails when the committed file differs
// from what the commands say.
package docs

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"sync"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

//go:generate go run ./gencli -o content/cli.md

//go:embed content/*.md
var content embed.FS

// Page is one rendered page of the documentation.
type Page struct {
	// Slug is the page's path under /docs ("" for the index).
	Slug  string
	Title string
	// Summary is one line for the index.
	Summary string
	// HTML is the rendered body (trusted: it comes from the binary).
	HTML template.HTML
	// Headings are the page's h2 headings, for its table of contents.
	Headings []Heading
}

// Heading is a heading of a page and its anchor.
type Heading struct {
	ID, Text string
}

// toc is the documentation's order: the side navigation and the index.
var toc = []struct{ slug, file, title, summary string }{
	{"", "index.md", "Overview", "What Apogee is and where to read on."},
	{"quick-start", "quick-start.md", "Quick start", "Run a server, sign in, deploy a folder, a Git repository or a ZIP."},
	{"cli", "cli.md", "CLI reference", "Every command and flag of the apogee binary."},
	{"configuration", "configuration.md", "Configuration files", "vercel.json, _redirects, _headers, netlify.toml and the project's own settings."},
	{"compatibility", "compatibility.md", "Routing compatibility", "Every feature of _redirects, _headers, netlify.toml and vercel.json: supported, supported differently or not, and why."},
	{"frameworks", "frameworks.md", "Builds and frameworks", "How a build is planned, the framework presets and what you can override."},
	{"apps", "apps.md", "Deploy a Node.js app", "Releases and instances: the Procfile, health checks, variables, scaling, rollbacks and limits."},
	{"autoscaling", "autoscaling.md", "Autoscaling and scale to zero", "Instances that follow traffic between a min and a max, paused and stopped when idle, and why each decision was made."},
	{"analytics", "analytics.md", "Traffic analytics and request logs", "Requests, visitors, bandwidth, errors and latency of a project, and its request log, from the edge, privately."},
	{"kubernetes", "kubernetes.md", "Run apps on Kubernetes", "Run apps' instances as Deployments on your cluster, from images Apogee pushes to your registry."},
	{"runtime-logs", "runtime-logs.md", "Runtime logs and app limits", "Read and follow what an app's instances write, crash notifications, and the app limits of a plan."},
	{"github", "github.md", "GitHub integration", "Import a repository in one click, the Apogee GitHub App, previews of pull requests with one comment, checks or commit statuses, Deployments on GitHub, and monorepos that build only what changed."},
	{"domains", "domains.md", "Custom domains and HTTPS", "Add a domain, prove it is yours with DNS, get certificates automatically."},
	{"teams", "teams.md", "Teams, roles and the audit log", "Deploy together: teams own projects, members have roles, every change is in the audit log."},
	{"dns", "dns.md", "DNS hosting", "Point a domain's nameservers at Apogee: the apex serves a project, and you manage the other records."},
	{"scale-out", "scale-out.md", "Scale out", "Many servers as one platform: roles, what PostgreSQL, the blob store and NATS or Kafka hold, apps whose instances run on any node and move when one dies, a three-node example and a capacity plan."},
	{"api", "api.md", "REST API", "Authentication, errors, the deploy protocol and the OpenAPI document."},
}

var (
	once  sync.Once
	pages []*Page
	err   error
)

// Pages returns every page in navigation order, rendered once.
func Pages() ([]*Page, error) {
	once.Do(func() { pages, err = render() })
	return pages, err
}

func render() ([]*Page, error) {
	md := goldmark.New(
		goldmark.WithExtensions(extension.Table, extension.Strikethrough),
		goldmark.WithParserOptions(
			parser.WithAutoHeadingID(),
			parser.WithAttribute(), // "## vercel.json {#vercel-json}" sets an id
			parser.WithASTTransformers(util.Prioritized(anchors{}, 100)),
		),
		goldmark.WithRendererOptions(html.WithUnsafe()), // our own files only
	)
	out := make([]*Page, 0, len(toc))
	for _, t := range toc {
		src, err := content.ReadFile("content/" + t.file)
		if err != nil {
			return nil, fmt.Errorf("docs: %w", err)
		}
		doc := md.Parser().Parse(text.NewReader(src))
		p := &Page{Slug: t.slug, Title: t.title, Summary: t.summary}
		ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
			if h, ok := n.(*ast.Heading); ok && entering && h.Level == 2 {
				id, _ := h.AttributeString("id")
				p.Headings = append(p.Headings, Heading{ID: fmt.Sprint(string(id.([]byte))), Text: headingText(h, src)})
			}
			return ast.WalkContinue, nil
		})
		var buf bytes.Buffer
		if err := md.Renderer().Render(&buf, src, doc); err != nil {
			return nil, fmt.Errorf("docs: render %s: %w", t.file, err)
		}
		p.HTML = template.HTML(buf.String())
		out = append(out, p)
	}
	return out, nil
}

// headingText is a heading's text without the anchor link added to it.
func headingText(h *ast.Heading, src []byte) string {
	var b bytes.Buffer
	for c := h.FirstChild(); c != nil; c = c.NextSibling() {
		if l, ok := c.(*ast.Link); ok && isAnchor(l) {
			continue
		}
		ast.Walk(c, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
			if t, ok := n.(*ast.Text); ok && entering {
				b.Write(t.Segment.Value(src))
			}
			if s, ok := n.(*ast.String); ok && entering {
				b.Write(s.Value)
			}
			return ast.WalkContinue, nil
		})
	}
	return b.String()
}

func isAnchor(l *ast.Link) bool {
	c, ok := l.AttributeString("class")
	return ok && string(c.([]byte)) == "anchor"
}

// anchors adds a "#" link to its own id at the end of every h2 and h3,
// so a reader can copy a link to the section.
type anchors struct{}

func (anchors) Transform(doc *ast.Document, _ text.Reader, _ parser.Context) {
	ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		h, ok := n.(*ast.Heading)
		if !ok || !entering || h.Level < 2 || h.Level > 3 {
			return ast.WalkContinue, nil
		}
		id, ok := h.AttributeString("id")
		if !ok {
			return ast.WalkContinue, nil
		}
		l := ast.NewLink()
		l.Destination = append([]byte("#"), id.([]byte)...)
		l.SetAttributeString("class", []byte("anchor"))
		l.SetAttributeString("aria-label", []byte("Link to this section"))
		l.AppendChild(l, ast.NewString([]byte("#")))
		h.AppendChild(h, l)
		return ast.WalkSkipChildren, nil
	})
}
