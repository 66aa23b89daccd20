package api

// Patterns returns the routes a registered (for api_test).
func Patterns(a *API) []string { return a.patterns }
