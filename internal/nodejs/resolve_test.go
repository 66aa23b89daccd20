package nodejs

import (
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// index is a small registry: 18, 20 and 22 are LTS lines, 23 is odd,
// 24 came out 100 days before now (not yet LTS).
func index(now time.Time) Index {
	day := 24 * time.Hour
	at := map[string]time.Time{
		"18.0.0": now.Add(-1000 * day), "18.20.4": now.Add(-300 * day),
		"20.0.0": now.Add(-800 * day), "20.11.1": now.Add(-200 * day), "20.19.0": now.Add(-50 * day),
		"22.0.0": now.Add(-400 * day), "22.12.0": now.Add(-150 * day), "22.23.5": now.Add(-10 * day),
		"23.0.0": now.Add(-300 * day), "23.11.1": now.Add(-120 * day),
		"24.0.0": now.Add(-100 * day), "24.1.0": now.Add(-20 * day),
	}
	vs := []string{"18.0.0", "18.20.4", "20.0.0", "20.11.1", "20.19.0", "22.0.0", "22.12.0", "22.23.5",
		"23.0.0", "23.11.1", "24.0.0", "24.1.0", "25.0.0-rc.1", "4.1.0-pkg1", "junk"}
	return NewIndex(vs, at)
}

func TestResolve(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	ix := index(now)
	for _, tc := range []struct{ want, got string }{
		{"", "22.23.5"}, // the LTS: 24 is not LTS yet
		{"lts/*", "22.23.5"},
		{"node", "24.1.0"},
		{"latest", "24.1.0"},
		{"lts/iron", "20.19.0"},
		{"lts/Hydrogen", "18.20.4"},
		{"20", "20.19.0"},
		{"v20", "20.19.0"},
		{"20.11", "20.11.1"},
		{"20.11.1", "20.11.1"},
		{"v22.12.0", "22.12.0"},
		{">=22", "22.23.5"}, // the LTS fits
		{">=23", "24.1.0"},
		{">=18 <21", "20.19.0"},
		{">= 18 < 21", "20.19.0"},
		{"^18 || ^20", "20.19.0"},
		{"18.x", "18.20.4"},
		{"~20.11.0", "20.11.1"},
		{"18 - 20", "20.19.0"},
		{">=20.0.0, <22", "20.19.0"},
	} {
		v, err := ix.Resolve(tc.want, now)
		if err != nil {
			t.Errorf("Resolve(%q): %v", tc.want, err)
			continue
		}
		if v.String() != tc.got {
			t.Errorf("Resolve(%q) = %s, want %s", tc.want, v, tc.got)
		}
	}
	for _, bad := range []string{">=99", "banana", "lts/nope", "^16"} {
		if v, err := ix.Resolve(bad, now); apogee.ErrorCode(err) != apogee.EINVALID {
			t.Errorf("Resolve(%q) = %v, %v; want an EINVALID error", bad, v, err)
		}
	}
}

func TestLTSWithoutTimes(t *testing.T) {
	ix := NewIndex([]string{"20.1.0", "22.3.0", "23.1.0", "24.0.0"}, nil)
	if v := ix.LTS(time.Now()); v == nil || v.String() != "22.3.0" {
		t.Errorf("LTS = %v, want 22.3.0 (the newest even major with a newer one after it)", v)
	}
	if v := NewIndex(nil, nil).LTS(time.Now()); v != nil {
		t.Errorf("LTS of an empty index = %v", v)
	}
}

func TestParseIndex(t *testing.T) {
	ix, err := parseIndex([]byte(`{"versions":["20.0.0","22.0.0"],"time":{"20.0.0":"2023-04-18T00:00:00+00:00","22.0.0":"2024-04-24T00:00:00Z","created":"x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Releases) != 2 || ix.Releases[0].Version.String() != "22.0.0" || ix.Releases[0].Published.IsZero() {
		t.Fatalf("got %+v", ix.Releases)
	}
	if _, err := parseIndex([]byte(`{"versions":[]}`)); err == nil {
		t.Error("an empty index was accepted")
	}
}
