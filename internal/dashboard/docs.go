package dashboard

import (
	"net/http"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/docs"
)

// docsPage serves the documentation (internal/docs) at /docs and
// /docs/{page}, to everyone, signed in or not.
func (d *Dashboard) docsPage(w http.ResponseWriter, r *http.Request) error {
	pages, err := docs.Pages()
	if err != nil {
		return errorf("docs: %w", err)
	}
	slug := r.PathValue("page")
	for _, p := range pages {
		if p.Slug == slug {
			s, _ := d.session(r) // the header shows who is signed in, if anyone
			title := p.Title + " · Apogee docs"
			d.render(w, r, http.StatusOK, "docs", s, title, map[string]any{"Page": p, "Pages": pages})
			return nil
		}
	}
	return apogee.Errorf(apogee.ENOTFOUND, "there is no documentation page %q; see the index at /docs", slug)
}
