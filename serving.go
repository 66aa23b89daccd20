package apogee

import (
	"context"
	"strconv"
)

// Content encodings of precompressed variants.
const (
	EncodingBrotli = "br"
	EncodingGzip   = "gzip"
)

// BlobVariant is a precompressed form of a blob, made once at deploy time
// and kept by the original's content hash, so that a redeploy compresses
// only files it has not seen. VariantSHA256 names the compressed bytes in
// the blob store; "" records that the encoding did not pay off for this
// blob (too little saved), so it is not tried again.
type BlobVariant struct {
	SHA256        string `json:"sha256"`
	Encoding      string `json:"encoding"` // EncodingBrotli or EncodingGzip
	VariantSHA256 string `json:"variant_sha256"`
	Size          int64  `json:"size"`
}

// ServingStore keeps what a deployment is served with besides its
// manifest. Errors follow the Store conventions.
type ServingStore interface {
	// SetDeploymentServe records the serve settings a deployment is served
	// with: a snapshot of its project's ServeSettings, taken before it
	// becomes ready (a project's settings apply from its next deployment
	// on). ECONFLICT unless the deployment is uploading, queued or
	// building: a final deployment never changes.
	SetDeploymentServe(ctx context.Context, id string, s ServeSettings) error
	// DeploymentServe returns the serve settings recorded for a
	// deployment; zero settings if none were.
	DeploymentServe(ctx context.Context, id string) (ServeSettings, error)
	// SetDeploymentWarnings records the rules of its routing files a
	// deployment is made without (Deployment.Warnings), replacing any
	// recorded; nil clears them. ECONFLICT unless the deployment is
	// uploading, queued or building.
	SetDeploymentWarnings(ctx context.Context, id string, w []RuleWarning) error
	// FailDeployment ends an uploading deployment with StatusError and
	// reason as its Error (an invalid config file, say); production stays
	// where it was. ECONFLICT if the deployment is not uploading.
	FailDeployment(ctx context.Context, id, reason string) (*Deployment, error)
}

// VariantStore keeps precompressed variants by the content hash of the
// original blob. Errors follow the Store conventions.
type VariantStore interface {
	// PutVariants records variants, replacing any recorded for the same
	// SHA256 and Encoding.
	PutVariants(ctx context.Context, vs []BlobVariant) error
	// Variants returns what is recorded for hashes, negative records
	// (VariantSHA256 "") included, in no particular order.
	Variants(ctx context.Context, hashes []string) ([]BlobVariant, error)
	// DeploymentVariants returns the variants of the files of a
	// deployment's manifest, without negative records, in no particular
	// order.
	DeploymentVariants(ctx context.Context, id string) ([]BlobVariant, error)
}

// RuleWarning is a rule of a deployment's routing files (vercel.json,
// _redirects, _headers, netlify.toml) that the platform skipped or
// applies differently from what its author may expect, and why: a
// deployment is made with the rules it can honour, as Netlify does,
// and says which it could not.
type RuleWarning struct {
	File string `json:"file"`
	// Line is the rule's line in File (1-based), 0 when not known.
	Line int `json:"line,omitempty"`
	// Rule is the rule as written, shortened, or where it is
	// ("redirects[3]") in formats without lines.
	Rule    string `json:"rule,omitempty"`
	Message string `json:"message"`
}

// String reads "_redirects line 3: message".
func (w RuleWarning) String() string {
	s := w.File
	if w.Line > 0 {
		s += " line " + strconv.Itoa(w.Line)
	} else if w.Rule != "" {
		s += " " + w.Rule
	}
	return s + ": " + w.Message
}
