// Package rules compiles the routing rules users already have — vercel.json
// and Netlify's _redirects, _headers and netlify.toml — once per
// deployment, and answers per request what to serve: a file, a redirect, or
// a status with a file.
//
// It is pure: no I/O, no logging. The caller reads the config files of a
// deployment, calls Compile at deploy time (an error fails the deployment
// with a message naming the file and rule; a warning names a rule the
// deployment is made without), keeps the *Set with the
// deployment's manifest, and calls Set.Match for each request with a
// function that looks a path up in the manifest. A deployment without
// rules gets a nil *Set, whose Match answers like a plain static server.
//
// # Formats
//
// vercel.json, following @vercel/routing-utils:
//   - redirects: source, destination, permanent (true → 308, the default;
//     false → 307) or statusCode (301, 302, 303, 307, 308, not both).
//     Destinations may be absolute http(s) URLs (external redirects).
//   - rewrites: source, destination, optional statusCode. A rewrite to an
//     external URL is a proxy (Result.Proxy).
//   - headers: source and headers [{key, value}]; a value may use the
//     source's ":param".
//   - cleanUrls, trailingSlash (see Settings for what they do).
//   - Sources use path-to-regexp 6 syntax as Vercel does (strict,
//     case-sensitive): ":param", ":param?", ":param*", ":param+",
//     ":param(\\d+)", groups "(.*)", "{…}" and "\\" escapes; destinations
//     use ":param", "{:param}" and "$1". Regular expressions run on Go's
//     RE2, or on regexp2 with MatchTimeout when they need lookaround or
//     backreferences (Vercel's docs use "/((?!general).*)").
//   - "has" and "missing" conditions (header, cookie, query, host) with
//     their named captures. The legacy "routes" is skipped with a
//     warning; unknown properties make the file invalid, as on Vercel.
//
// Netlify, following @netlify/redirect-parser and @netlify/headers-parser:
//   - _redirects lines "from to [status][!]", "#" comments, status 301 by
//     default; 301, 302, 303, 307, 308 redirect, 200 rewrites, 404 and
//     other 4xx/5xx serve the target with that status. "*" as the last
//     segment is a splat, available as ":splat"; ":name" segments are
//     placeholders. A rule matches with or without a trailing slash.
//   - "!" (force = true in netlify.toml) applies the rule even when a file
//     exists at the path; without it a file shadows the rule.
//   - Query parameter matching, conditions (Language, Cookie; Country with
//     Settings.Countries), domain-level "from" URLs and proxies (200 to an
//     http(s) URL). A rule that cannot be processed (Role, signed rules, a
//     bad status…) is skipped with a warning, as Netlify deploys without
//     it. A target resolves like a pretty URL (/x serves x.html).
//   - _headers: a path line, then "Name: value" lines; "*" and ":name" in
//     paths; matching is case-insensitive with an optional trailing slash,
//     as Netlify's. netlify.toml [[redirects]] (from, to, status, force)
//     and [[headers]] (for, values) are the same rules; they come after
//     those of _redirects and _headers.
//
// vercel.json (with any routing key) and Netlify rule files in one
// deployment are refused: the two formats order rules differently, and
// guessing which one the author meant would serve something they did not
// write. Other keys of both files (build settings) are ignored here.
//
// # Precedence
//
// For each request, in this order:
//  1. cleanUrls and trailingSlash redirects (308), before any rule, as on
//     Vercel. The file's value wins over the project's Settings.
//  2. Redirects and rewrites in file order (_redirects before
//     netlify.toml; in vercel.json every redirect before every rewrite);
//     the first that matches and applies wins. Vercel redirects and forced
//     Netlify rules always apply; vercel.json rewrites and unforced Netlify
//     rules do not apply when the path resolves to a file (step 3). A
//     redirect to the request path itself is skipped (Netlify ignores
//     such looping rules). A rewrite whose target is no file gives step 5.
//  3. The file at the path; with clean URLs, path + ".html"; a directory's
//     index.html ("/docs/"; "/docs" redirects 301 to "/docs/" unless a
//     trailingSlash setting or vercel.json says otherwise).
//  4. The SPA fallback, when Settings.SPA is on: index.html for GET and
//     HEAD of paths that look like pages (no extension, or .html/.htm), so
//     /assets/missing.js stays a 404.
//  5. 404.html with status 404 if the deployment has one, else status 404
//     and the edge's own page.
//
// Header rules are matched against the request path; every matching rule
// applies, a later rule's header replacing an earlier one's of the same
// name (Vercel's and Netlify's behaviour). They apply to everything but
// redirects.
//
// # Query strings and encoding
//
// Match takes the decoded path; literal parts of sources are
// percent-decoded at compile time to compare with it. Redirect Locations
// are percent-encoded: destination text as written, captured values
// escaped. Netlify carries the request's query string over to every
// redirect (joined with "&" if the destination has one); Vercel appends it
// only when the destination has no query of its own. cleanUrls and
// trailingSlash redirects keep the query.
package rules
