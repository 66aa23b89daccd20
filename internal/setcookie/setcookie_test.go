package setcookie

import (
	"slices"
	"testing"
)

func TestAllowed(t *testing.T) {
	const host = "blog.apogee-sites.test"
	for _, tc := range []struct {
		name, value string
		want        bool
	}{
		{"no domain", "sid=1; Path=/; HttpOnly", true},
		{"no attributes", "sid=1", true},
		{"domain equal to host", "sid=1; Domain=blog.apogee-sites.test; Path=/", true},
		{"domain equal to host with a leading dot", "sid=1; Domain=.blog.apogee-sites.test", true},
		{"domain equal to host in upper case", "sid=1; DOMAIN=BLOG.Apogee-Sites.TEST", true},
		{"empty domain is ignored by browsers", "sid=1; Domain=; Path=/", true},
		{"domain in the value is no attribute", "note=domain=apogee-sites.test", true},
		{"parent domain", "apogee_session=x; Domain=apogee-sites.test; Path=/", false},
		{"parent domain with a leading dot", "apogee_session=x; domain=.apogee-sites.test", false},
		{"parent domain in mixed case", "apogee_session=x; dOmAiN = APOGEE-SITES.test ", false},
		{"sibling site", "sid=1; Domain=shop.apogee-sites.test", false},
		{"unrelated domain", "sid=1; Domain=example.com", false},
		{"top-level domain", "sid=1; Domain=test", false},
		{"subdomain of the host", "sid=1; Domain=x.blog.apogee-sites.test", false},
		{"host as a suffix of another name", "sid=1; Domain=evilblog.apogee-sites.test", false},
		{"second domain attribute reaches out", "sid=1; Domain=blog.apogee-sites.test; Domain=apogee-sites.test", false},
		{"two cookies joined by a comma, one with a domain", "a=1; Path=/, b=2; Domain=apogee-sites.test", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Allowed(host, tc.value); got != tc.want {
				t.Errorf("Allowed(%q, %q) = %v, want %v", host, tc.value, got, tc.want)
			}
		})
	}
}

func TestFilter(t *testing.T) {
	const host = "blog.apogee-sites.test"
	for _, tc := range []struct {
		name        string
		values      []string
		want        []string
		wantDropped int
	}{
		{"none", nil, nil, 0},
		{"all kept", []string{"a=1", "b=2; Domain=blog.apogee-sites.test"}, []string{"a=1", "b=2; Domain=blog.apogee-sites.test"}, 0},
		{"first dropped", []string{"a=1; Domain=apogee-sites.test", "b=2", "c=3"}, []string{"b=2", "c=3"}, 1},
		{"middle dropped", []string{"a=1", "b=2; Domain=.apogee-sites.test", "c=3"}, []string{"a=1", "c=3"}, 1},
		{"last dropped", []string{"a=1", "b=2", "c=3; Domain=shop.apogee-sites.test"}, []string{"a=1", "b=2"}, 1},
		{"all dropped", []string{"a=1; Domain=apogee-sites.test", "b=2; Domain=example.com"}, []string{}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.values)
			got, dropped := Filter(host, in)
			if !slices.Equal(got, tc.want) || dropped != tc.wantDropped {
				t.Errorf("Filter = %q, %d dropped; want %q, %d", got, dropped, tc.want, tc.wantDropped)
			}
			if !slices.Equal(in, tc.values) {
				t.Errorf("Filter changed its input: %q", in)
			}
		})
	}
}

func TestFilterKeepsSliceWhenNothingDropped(t *testing.T) {
	in := []string{"a=1", "b=2"}
	if got, _ := Filter("x.test", in); &got[0] != &in[0] {
		t.Error("Filter copied values it did not change")
	}
	if n := testing.AllocsPerRun(100, func() { Filter("x.test", in) }); n != 0 {
		t.Errorf("Filter allocates %v times when nothing is dropped", n)
	}
}

func TestDomains(t *testing.T) {
	got := Domains("a=1; Domain=x.test; Path=/; domain= .y.test ")
	if want := []string{"x.test", ".y.test"}; !slices.Equal(got, want) {
		t.Errorf("Domains = %q, want %q", got, want)
	}
}
