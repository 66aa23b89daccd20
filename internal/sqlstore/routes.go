package sqlstore

import (
	"context"
	"database/sql"
	"slices"
	"strings"

	"github.com/apogee-dev/apogee"
)

// routesSQL selects every route: production aliases, ready deployments'
// own hosts, verified custom domains of projects in production. Each
// part ends in a WHERE that projectRoutesSQL extends.
// The last column says whether the deployment is an app's release.
const (
	routesAliases = `SELECT name, production_id, id, EXISTS (SELECT 1 FROM releases r WHERE r.deployment_id = projects.production_id)
		FROM projects WHERE production_id IS NOT NULL`
	routesHosts = `SELECT host, id, project_id, EXISTS (SELECT 1 FROM releases r WHERE r.deployment_id = deployments.id)
		FROM deployments WHERE status = $1`
	routesBranches = `SELECT b.host, b.deployment_id, b.project_id, EXISTS (SELECT 1 FROM releases r WHERE r.deployment_id = b.deployment_id)
		FROM branch_aliases b JOIN deployments bd ON bd.id = b.deployment_id
		WHERE bd.status = $1 AND b.host NOT IN (SELECT name FROM projects)`
	routesDomains = `SELECT d.name, p.production_id, p.id, EXISTS (SELECT 1 FROM releases r WHERE r.deployment_id = p.production_id)
		FROM domains d JOIN projects p ON p.id = d.project_id
		WHERE d.verified_at IS NOT NULL AND p.production_id IS NOT NULL`
)

// routesWildBranches selects, for every verified wildcard domain, the
// branches of its project: the wildcard's name and the branch, of which
// wildBranches makes the host.
const routesWildBranches = `SELECT d.name, b.branch, b.deployment_id, b.project_id, EXISTS (SELECT 1 FROM releases r WHERE r.deployment_id = b.deployment_id)
	FROM domains d JOIN branch_aliases b ON b.project_id = d.project_id JOIN deployments bd ON bd.id = b.deployment_id
	WHERE d.verified_at IS NOT NULL AND d.name LIKE '*.%' AND bd.status = $1`

// Routes returns one route per production alias (Host = project name),
// one per ready deployment (Host = its own host), one per branch host, one per verified
// custom domain of a project with a production deployment (Host = the
// domain, which has a dot; "*.example.com" for a wildcard domain) and,
// under each verified wildcard domain, one per branch of its project
// (Host = the branch's label under the wildcard's name, see
// apogee.BranchLabel), ordered by host. Routes of a wildcard domain are
// marked apogee.Route.Wildcard.
func (s *Store) Routes(ctx context.Context) ([]apogee.Route, error) {
	return s.routes(ctx, "routes", routesAliases+" UNION ALL "+routesHosts+" UNION ALL "+routesBranches+" UNION ALL "+routesDomains+" ORDER BY 1",
		routesWildBranches+" ORDER BY d.name, b.branch", apogee.StatusReady)
}

// ProjectRoutes returns the routes of one project, ordered by host.
func (s *Store) ProjectRoutes(ctx context.Context, projectID string) ([]apogee.Route, error) {
	return s.routes(ctx, "project routes", routesAliases+" AND id = $2 UNION ALL "+routesHosts+" AND project_id = $2 UNION ALL "+
		routesBranches+" AND b.project_id = $2 UNION ALL "+
		routesDomains+" AND p.id = $2 ORDER BY 1", routesWildBranches+" AND b.project_id = $2 ORDER BY d.name, b.branch", apogee.StatusReady, projectID)
}

// routes runs query (the exact routes) and wild (the branches under
// wildcard domains), with the same arguments, and merges them by host.
// Two branches with one label: the first by name is served.
func (s *Store) routes(ctx context.Context, op, query, wild string, args ...any) ([]apogee.Route, error) {
	rows, err := s.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	routes, err := collect(rows, func(row scanner) (r apogee.Route, err error) {
		err = row.Scan(&r.Host, &r.DeploymentID, &r.ProjectID, &r.App)
		_, r.Wildcard = apogee.WildcardBase(r.Host)
		return r, err
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	if rows, err = s.rdb.QueryContext(ctx, wild, args...); err != nil {
		return nil, wrap(op, err)
	}
	branches, err := collect(rows, func(row scanner) (r apogee.Route, err error) {
		var domain, branch string
		err = row.Scan(&domain, &branch, &r.DeploymentID, &r.ProjectID, &r.App)
		if label := apogee.BranchLabel(branch); label != "" {
			r.Host = label + strings.TrimPrefix(domain, "*")
		}
		r.Wildcard = true
		return r, err
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	if len(branches) == 0 {
		return routes, nil
	}
	seen := map[string]bool{}
	for _, r := range branches {
		if r.Host != "" && !seen[r.Host] {
			seen[r.Host] = true
			routes = append(routes, r)
		}
	}
	slices.SortStableFunc(routes, func(a, b apogee.Route) int { return strings.Compare(a.Host, b.Host) })
	return routes, nil
}

// RouteVersion returns the route version.
func (s *Store) RouteVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.rdb.QueryRowContext(ctx, "SELECT version FROM route_version WHERE id = 1").Scan(&v)
	return v, wrap("route version", err)
}

// RouteChanges returns at most limit changes after since, oldest first.
func (s *Store) RouteChanges(ctx context.Context, since int64, limit int) ([]apogee.RouteChange, error) {
	rows, err := s.rdb.QueryContext(ctx,
		"SELECT version, project_id FROM route_changes WHERE version > $1 ORDER BY version LIMIT $2", since, limit)
	if err != nil {
		return nil, wrap("route changes", err)
	}
	changes, err := collect(rows, func(row scanner) (c apogee.RouteChange, err error) {
		err = row.Scan(&c.Version, &c.ProjectID)
		return c, err
	})
	return changes, wrap("route changes", err)
}

// pruneEvery is how often, in versions, a bump drops the changes older
// than the newest apogee.MaxRouteChanges.
const pruneEvery = 1000

// bumpRoutes records, in tx, that the routes of project projectID
// changed: the route version grows by one. The counter is one row, so
// on PostgreSQL a bump waits for the transaction of the previous one to
// end and versions commit in order; every transaction takes this lock
// last, after any project or deployment row, so no two wait on each
// other.
func bumpRoutes(ctx context.Context, tx *sql.Tx, projectID string) error {
	var v int64
	if err := tx.QueryRowContext(ctx, "UPDATE route_version SET version = version + 1 WHERE id = 1 RETURNING version").Scan(&v); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO route_changes (version, project_id) VALUES ($1, $2)", v, projectID); err != nil {
		return err
	}
	if v%pruneEvery == 0 {
		_, err := tx.ExecContext(ctx, "DELETE FROM route_changes WHERE version <= $1", v-apogee.MaxRouteChanges)
		return err
	}
	return nil
}
