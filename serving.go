package apogee

import "context"

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
