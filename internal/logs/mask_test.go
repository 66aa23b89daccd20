package logs

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
)

// TestMaskEncodedForms is issue 10's finding: base64, hex, URL-encoded
// and upper-case forms of a secret all printed (8 of 8). Each form a
// build script might print is masked, in the middle of other text too.
func TestMaskEncodedForms(t *testing.T) {
	const secret = "s3cr3t/Value+x?y=z~Z" // /, +, ?, =, ~ differ across encodings
	forms := map[string]string{
		"plain":             secret,
		"upper case":        strings.ToUpper(secret),
		"lower case":        strings.ToLower(secret),
		"base64":            base64.StdEncoding.EncodeToString([]byte(secret)),
		"base64 unpadded":   base64.RawStdEncoding.EncodeToString([]byte(secret)),
		"base64url":         base64.URLEncoding.EncodeToString([]byte(secret)),
		"base64url raw":     base64.RawURLEncoding.EncodeToString([]byte(secret)),
		"hex":               hex.EncodeToString([]byte(secret)),
		"HEX":               strings.ToUpper(hex.EncodeToString([]byte(secret))),
		"URL-encoded query": url.QueryEscape(secret),
		"URL-encoded path":  url.PathEscape(secret),
	}
	st, id := newLog(t)
	w := NewWriter(id, st, NewHub(0), Options{Secrets: []string{secret}, Log: quiet})
	out := w.Stream(apogee.StreamStdout)
	var names []string
	for name, f := range forms {
		names = append(names, name)
		io.WriteString(out, "before "+f+" after\n")
	}
	out.Close()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines, err := st.Logs(context.Background(), id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != len(forms) {
		t.Fatalf("%d lines, want %d", len(lines), len(forms))
	}
	for i, l := range lines {
		if l.Text != "before "+Mask+" after" {
			t.Errorf("%s form printed as %q, want it masked", names[i], l.Text)
		}
	}
}
