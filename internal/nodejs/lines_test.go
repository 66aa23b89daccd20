package nodejs

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// TestLines: a project may choose the newest line, the LTS and the two
// maintained even lines under it; odd lines below the newest are left
// out.
func TestLines(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		ix   Index
		want []Line
	}{
		{"registry", index(now), []Line{
			{Major: 24, Newest: "24.1.0"},
			{Major: 22, Newest: "22.23.5", LTS: true},
			{Major: 20, Newest: "20.19.0"},
			{Major: 18, Newest: "18.20.4"},
		}},
		// Without dates the LTS is the highest even major with a newer
		// one after it (Index.LTS): 20 here.
		{"no dates", NewIndex([]string{"14.21.3", "16.20.2", "18.20.4", "19.9.0", "20.19.0", "21.7.3", "22.23.5"}, nil), []Line{
			{Major: 22, Newest: "22.23.5"},
			{Major: 20, Newest: "20.19.0", LTS: true},
			{Major: 18, Newest: "18.20.4"},
			{Major: 16, Newest: "16.20.2"},
		}},
		{"empty", Index{}, nil},
	} {
		if got := tc.ix.Lines(now); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: Lines = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// TestDistLinesOffline: with the registry out of reach, the lines are
// those of the releases kept on the server, marked kept; with none kept,
// an error.
func TestDistLinesOffline(t *testing.T) {
	dir := t.TempDir()
	d := &Dist{Dir: dir, NPM: "/bin/false"}
	if _, err := d.Lines(context.Background()); err == nil {
		t.Fatal("no registry and nothing kept, yet Lines answered")
	}
	for _, v := range []string{"22.12.0", "20.19.0"} {
		if err := os.MkdirAll(filepath.Join(dir, v, "bin"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, v, "bin", "node"), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got, err := d.Lines(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Line{{Major: 22, Newest: "22.12.0", Kept: true}, {Major: 20, Newest: "20.19.0", LTS: true, Kept: true}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Lines = %+v, want %+v", got, want)
	}
}
