package rules_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/rules"
)

// Fuzz targets of the configuration files a deployment carries, which
// its author controls entirely: _redirects, _headers, netlify.toml and
// vercel.json. They call only the package's public Compile, so that they
// hold whatever the rules engine becomes inside. Seeds: every file of
// that name under testdata/, and testdata/fuzz/FuzzParse*;
// scripts/fuzz.sh runs them longer.

func FuzzParseRedirects(f *testing.F)   { fuzzParse(f, rules.NetlifyRedirects) }
func FuzzParseHeaders(f *testing.F)     { fuzzParse(f, rules.NetlifyHeaders) }
func FuzzParseNetlifyTOML(f *testing.F) { fuzzParse(f, rules.NetlifyTOML) }
func FuzzParseVercelJSON(f *testing.F)  { fuzzParse(f, rules.VercelJSON) }

// fuzzParse checks Compile's contract on any content of one file: it
// does not panic, it refuses only with an EINVALID *apogee.Error whose
// message names the file, and it answers the same twice (no answer
// depends on map order).
func fuzzParse(f *testing.F, name string) {
	matches, _ := filepath.Glob(filepath.Join("testdata", "*", name))
	for _, m := range matches {
		if b, err := os.ReadFile(m); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, s := range []rules.Settings{{}, {SPA: true, CleanURLs: true}} {
			set, _, err := rules.Compile(map[string][]byte{name: data}, s)
			if err != nil {
				var e *apogee.Error
				if !errors.As(err, &e) || e.Code != apogee.EINVALID {
					t.Fatalf("%s: error %v is not an EINVALID *apogee.Error", name, err)
				}
				if !strings.HasPrefix(e.Message, name) {
					t.Fatalf("%s: message %q does not name the file", name, e.Message)
				}
			}
			set2, _, err2 := rules.Compile(map[string][]byte{name: data}, s)
			if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() || (set == nil) != (set2 == nil) {
				t.Fatalf("%s: two compilations differ: %v / %v", name, err, err2)
			}
		}
	})
}
