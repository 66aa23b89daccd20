package ociimage

import (
	"github.com/google/go-containerregistry/pkg/authn"
)

// Keychain gives username and password to the registry host (e.g.
// registry.example.com, as --registry names it) and, for every other
// registry, what the Docker config file says (~/.docker/config.json or
// $DOCKER_CONFIG, and its credential helpers). With no username it is
// the Docker config's alone.
func Keychain(host, username, password string) authn.Keychain {
	if username == "" {
		return authn.DefaultKeychain
	}
	return authn.NewMultiKeychain(static{host: host, auth: authn.FromConfig(authn.AuthConfig{Username: username, Password: password})}, authn.DefaultKeychain)
}

type static struct {
	host string
	auth authn.Authenticator
}

func (s static) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if r.RegistryStr() == s.host {
		return s.auth, nil
	}
	return authn.Anonymous, nil
}
