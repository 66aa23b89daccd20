package apogee

// Sealer encrypts the platform's small secrets for storage at rest
// (internal/secretbox implements it with AES-256-GCM). purpose is bound
// to the sealed text as associated data: a value opens only with the
// purpose it was sealed for, so a sealed value copied to another row
// does not open there. Open fails with an *Error (EINTERNAL) that never
// quotes the value when the key is not the one that sealed it or the
// text was altered. Safe for concurrent use.
type Sealer interface {
	Seal(plaintext, purpose string) string
	Open(sealed, purpose string) (string, error)
}

// EnvPurpose is what a project's environment variable key is sealed for.
func EnvPurpose(projectID, key string) string { return "env/" + projectID + "/" + key }

// webhookPurpose is what a project's webhook secret is sealed for.
func webhookPurpose(projectID string) string { return "webhook/" + projectID }

// SealWebhookSecret stores secret in p.WebhookSecret, sealed by s for p
// (p.ID must be set). The caller then creates or updates p.
func (p *Project) SealWebhookSecret(s Sealer, secret string) {
	p.WebhookSecret = s.Seal(secret, webhookPurpose(p.ID))
}

// OpenWebhookSecret returns p's webhook secret in plain text, or "" if p
// has none.
func (p *Project) OpenWebhookSecret(s Sealer) (string, error) {
	if p.WebhookSecret == "" {
		return "", nil
	}
	return s.Open(p.WebhookSecret, webhookPurpose(p.ID))
}
