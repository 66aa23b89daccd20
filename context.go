package apogee

import "context"

type userKey struct{}

// NewContextWithUser returns a copy of ctx that carries u as the acting
// user: the person the services act for. Only the layers that
// authenticate people set it (the API by token, the dashboard by session,
// git push by token); a request from the network never carries it.
func NewContextWithUser(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFromContext returns the acting user of ctx, or nil when there is
// none (the platform's own roles: the builder, a signed webhook).
func UserFromContext(ctx context.Context) *User {
	u, _ := ctx.Value(userKey{}).(*User)
	return u
}

type clientKey struct{}

// NewContextWithClient returns a copy of ctx that carries the address of
// the client a call comes from (its IP address from the connection, as
// SignInRequest.Address), for the audit log.
func NewContextWithClient(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientKey{}, addr)
}

// ClientFromContext returns the client's address of ctx, or "".
func ClientFromContext(ctx context.Context) string {
	a, _ := ctx.Value(clientKey{}).(string)
	return a
}
