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
