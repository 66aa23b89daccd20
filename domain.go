package apogee

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"strings"
	"time"
)

// Domain is a custom domain of a project: a full host name, such as
// www.example.com, that serves the project's production deployment once
// its owner has proved control of it with a DNS TXT record holding Token
// at VerificationName(Name). Until then it is a claim of its project
// only: other projects may claim the name too, and the first to verify
// it gets it.
type Domain struct {
	Name      string `json:"name"` // lower-case, no trailing dot
	ProjectID string `json:"project_id"`
	// Token is the random value the TXT record must hold. It is shown to
	// the project's owner only, in DomainView.Verification.
	Token      string     `json:"-"`
	VerifiedAt *time.Time `json:"verified_at,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
}

// Verified reports whether the domain's ownership was proved.
func (d *Domain) Verified() bool { return d.VerifiedAt != nil }

// WildcardBase returns the name a wildcard domain covers the hosts of:
// "example.com" for "*.example.com". ok is false for any other name.
func WildcardBase(name string) (base string, ok bool) {
	return strings.CutPrefix(name, "*.")
}

// VerificationName is the name of the TXT record that proves control of
// domain: "_apogee.<domain>".
func VerificationName(domain string) string { return "_apogee." + domain }

// NewVerificationToken returns a random TXT record value: "apogee-" and
// 128 random bits in hex.
func NewVerificationToken() string { return "apogee-" + NewSecret(16) }

// DomainStore keeps custom domains. A project's domain is a claim until
// it is verified: several projects may claim one name, each with its own
// token, and at most one claim of a name is verified (the first to prove
// control of its DNS). The general contract of the store interfaces
// applies (see store.go).
type DomainStore interface {
	// CreateDomain inserts d, unverified; ECONFLICT if d's project claims
	// the name already or another project has verified it (the message
	// does not say which project); ErrNotFound if the project does not
	// exist.
	CreateDomain(ctx context.Context, d *Domain) error
	// DomainByName returns the verified claim of name if there is one,
	// else its oldest claim.
	DomainByName(ctx context.Context, name string) (*Domain, error)
	// DomainClaims returns every claim of name: the verified one first,
	// then by age. None is not an error.
	DomainClaims(ctx context.Context, name string) ([]*Domain, error)
	// ListDomains returns a project's domains ordered by name.
	ListDomains(ctx context.Context, projectID string) ([]*Domain, error)
	// VerifyDomain records that project's claim of name was proved at at
	// and returns it; ECONFLICT if another project's claim of name is
	// verified (of two racing, one wins). Verifying a verified domain
	// keeps the first time. The route version moves in the same
	// transaction (RouteStore).
	VerifyDomain(ctx context.Context, projectID, name string, at time.Time) (*Domain, error)
	// DeleteDomain removes project's claim of name; the route version
	// moves in the same transaction.
	DeleteDomain(ctx context.Context, projectID, name string) error
}

// Limits on domain names (RFC 1035: 253 characters in text form, labels
// of 1 to 63).
const MaxDomainLen = 253

// ValidateDomainName checks that name can be a custom domain and returns
// its canonical form: lower-case, without a trailing dot. It refuses IP
// addresses, single labels, names of the platform's own domain
// (platform and anything under it: those are Apogee's hosts to give out)
// and .localhost names, which no CA will certify. Internationalized names
// must be sent in their ASCII (xn--) form.
func ValidateDomainName(name, platform string) (string, error) {
	orig := name
	name = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
	if name == "" {
		return "", Errorf(EINVALID, "domain name is empty; send a host name such as www.example.com")
	}
	if net.ParseIP(strings.Trim(name, "[]")) != nil {
		return "", Errorf(EINVALID, "%q is an IP address; a custom domain is a host name such as www.example.com", orig)
	}
	if len(name) > MaxDomainLen {
		return "", Errorf(EINVALID, "domain name is %d characters long; the limit is %d", len(name), MaxDomainLen)
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return "", Errorf(EINVALID, "domain %q has a single label; use a full name such as www.example.com", orig)
	}
	for _, l := range labels {
		if l == "" {
			return "", Errorf(EINVALID, "domain %q has an empty label", orig)
		}
		if len(l) > 63 {
			return "", Errorf(EINVALID, "domain %q has a label longer than 63 characters", orig)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", Errorf(EINVALID, "domain %q has %q; use letters, digits and hyphens (write internationalized names in their xn-- form)", orig, string(rune(c)))
			}
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "", Errorf(EINVALID, "domain %q has a label that starts or ends with a hyphen", orig)
		}
	}
	if tld := labels[len(labels)-1]; strings.Trim(tld, "0123456789") == "" {
		return "", Errorf(EINVALID, "domain %q ends in an all-numeric label; that is not a top-level domain", orig)
	}
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return "", Errorf(EINVALID, "domain %q is under localhost; a custom domain must be a public name", orig)
	}
	if platform = strings.ToLower(strings.TrimSuffix(platform, ".")); platform != "" &&
		(name == platform || strings.HasSuffix(name, "."+platform)) {
		return "", Errorf(EINVALID, "domain %q is the platform's own domain %s; its hosts are given out by Apogee, not added as custom domains", orig, platform)
	}
	return name, nil
}

// CreateDomainRequest adds a custom domain to a project.
type CreateDomainRequest struct {
	Name string `json:"name"`
}

// DNSRecord is a DNS record a user has to create.
type DNSRecord struct {
	Type  string `json:"type"`  // "TXT", "CNAME" or "A"
	Name  string `json:"name"`  // the record's full name
	Value string `json:"value"` // its value
	// Note says more where the record needs it (apex domains).
	Note string `json:"note,omitempty"`
}

// DomainView is a custom domain as the API shows it to the project's
// owner: the TXT record that proves ownership and the record that points
// the domain's traffic at the platform.
type DomainView struct {
	*Domain
	Project      string    `json:"project"`
	Verified     bool      `json:"verified"`
	URL          string    `json:"url"`
	Verification DNSRecord `json:"verification"`
	DNS          DNSRecord `json:"dns"`
}

// BranchAlias is a branch's stable host: Host (a label under the
// platform's domain, see BranchHost) serves DeploymentID, the newest
// ready deployment built from Branch of ProjectID.
type BranchAlias struct {
	ProjectID    string `json:"-"`
	Branch       string `json:"branch"`
	Host         string `json:"host"`
	DeploymentID string `json:"deployment_id"`
}

// BranchHost returns the stable host label of a project's branch in
// Vercel's form, "<project>-git-<branch>": the branch lower-cased, every
// run of other characters than letters and digits one "-". A label
// longer than 63 characters, or hashed (a second branch whose label
// would be taken), is cut and ends in "-" and six hex digits of the
// SHA-256 of project and branch. It never holds "--", which only
// deployment hosts do.
func BranchHost(project, branch string, hashed bool) string {
	label := strings.TrimRight(project+"-git-"+branchSlug(branch), "-")
	if len(label) <= 63 && !hashed {
		return label
	}
	sum := sha256.Sum256([]byte(project + "\x00" + branch))
	return strings.TrimRight(label[:min(len(label), 63-7)], "-") + "-" + hex.EncodeToString(sum[:3])
}

// BranchLabel returns the label a branch is served at under a project's
// wildcard domain: feature/Login-Page is feature-login-page, so
// feature-login-page.example.com serves it when *.example.com is the
// project's (Vercel's preview domains on a custom domain). The branch
// is lower-cased and every run of other characters than letters and
// digits is one "-"; a label longer than 63 characters is cut and ends
// in "-" and six hex digits of the branch's SHA-256. "" for a branch
// with no letter or digit.
func BranchLabel(branch string) string {
	label := branchSlug(branch)
	if len(label) <= 63 {
		return label
	}
	sum := sha256.Sum256([]byte(branch))
	return strings.TrimRight(label[:63-7], "-") + "-" + hex.EncodeToString(sum[:3])
}

// branchSlug lower-cases branch and makes every run of other characters
// than letters and digits one "-", with none at either end.
func branchSlug(branch string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(branch) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimRight(b.String(), "-")
}
