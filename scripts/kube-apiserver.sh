#!/usr/bin/env bash
# Builds a kube-apiserver from the k8s.io/kubernetes Go module and caches it,
# for the Kubernetes runtime's tests (internal/kuberuntime), which run a real
# API server and etcd (Debian's etcd-server) with controller-runtime's envtest.
#
#   bash scripts/kube-apiserver.sh     # prints the directory holding the binaries
#
# The directory (${XDG_CACHE_HOME:-$HOME/.cache}/apogee/kube-<version>) holds
# kube-apiserver and a link to etcd: it is what KUBEBUILDER_ASSETS names, and
# where the tests look by default. The first build takes ten minutes or more
# on two cores; later runs find the binary and return at once.
#
# Why a wrapper module: k8s.io/kubernetes's go.mod replaces its staging
# modules (k8s.io/api, k8s.io/client-go, ...) with ./staging paths that are
# not in the module's zip, so `go install k8s.io/kubernetes/cmd/...@v` fails.
# The wrapper requires k8s.io/kubernetes and replaces every staging module it
# names with the published v0.<minor>.<patch> of the same release.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh

version=${APOGEE_KUBE_VERSION:-v1.37.2}
staging=v0.${version#v1.}
dir=${XDG_CACHE_HOME:-$HOME/.cache}/apogee/kube-$version

if [ ! -x "$dir/kube-apiserver" ]; then
	ensure_go
	say "building kube-apiserver $version (first time: ten minutes or more)"
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	gomod=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$version" |
		sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
	[ -n "$gomod" ] || { say "could not download k8s.io/kubernetes@$version"; exit 1; }
	{
		echo "module apogee.dev/kube-apiserver-build"
		echo
		awk '/^go /{print; exit}' "$gomod"
		awk '/^godebug /{print; exit}' "$gomod"
		echo
		echo "require k8s.io/kubernetes $version"
		echo
		echo "tool k8s.io/kubernetes/cmd/kube-apiserver"
		echo
		echo "replace ("
		awk '$2 == "=>" && $3 ~ /^\.\/staging\// {printf "\t%s => %s '"$staging"'\n", $1, $1}' "$gomod"
		echo ")"
	} >"$work/go.mod"
	(
		cd "$work"
		GOFLAGS=-mod=mod go mod tidy
		pkg=k8s.io/component-base/version
		minor=${version#v1.}
		minor=${minor%%.*}
		mkdir -p "$work/out"
		CGO_ENABLED=0 nice go build -trimpath -o "$work/out/kube-apiserver" \
			-ldflags "-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean" \
			k8s.io/kubernetes/cmd/kube-apiserver
	)
	mkdir -p "$dir"
	mv "$work/out/kube-apiserver" "$dir/kube-apiserver"
fi

# etcd: Debian's etcd-server, linked beside kube-apiserver for envtest.
etcd=$(command -v etcd || true)
[ -n "$etcd" ] || etcd=/usr/bin/etcd
if [ -x "$etcd" ]; then
	ln -sf "$etcd" "$dir/etcd"
else
	say "no etcd: install Debian's etcd-server (apt-get install etcd-server)"
fi
echo "$dir"
