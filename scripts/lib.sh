# Shared by scripts/run.sh and scripts/test.sh; source it from the repo root.

say() { printf '==> %s\n' "$*" >&2; }

# apt_install PKG…: installs the Debian packages that are missing.
apt_install() {
	local missing=()
	for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" != 0 ]; then
		say "missing Debian packages: ${missing[*]}; install them (as root: apt-get install ${missing[*]})"
		exit 1
	fi
	say "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# ensure_go: puts the Go toolchain go.mod names on PATH, fetching it from
# the Go module proxy (which serves every release) when the machine has an
# older one or none.
ensure_go() {
	local want have dir v tmp
	want=$(awk '/^go /{print $2}' go.mod)
	if command -v go >/dev/null 2>&1; then
		have=$(go env GOVERSION 2>/dev/null | sed 's/^go//')
		[ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -1)" = "$want" ] && return 0
	fi
	dir=/usr/local/go-$want
	if [ ! -x "$dir/bin/go" ]; then
		apt_install ca-certificates curl unzip
		say "installing Go $want from the Go module proxy"
		v=$want; [[ $v == *.*.* ]] || v=$v.0
		tmp=$(mktemp -d)
		curl -fsSL -o "$tmp/go.zip" "https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-go$v.linux-amd64.zip"
		unzip -q "$tmp/go.zip" -d "$tmp"
		mv "$tmp"/golang.org/toolchain@*/ "$dir"
		chmod +x "$dir"/bin/* "$dir"/pkg/tool/*/* 2>/dev/null || true
		rm -rf "$tmp"
	fi
	export PATH=$dir/bin:$PATH
}

# ensure_node: builds run npm inside the sandbox. Debian's nodejs and npm
# when the machine has no Node.js of its own; then, when that Node.js is
# older than 20.19 (Debian 12 ships 18, and Vite 8 needs 20.19), Node 20
# from the npm registry's node-linux-<arch> package, linked into
# /usr/local/bin, which comes first on PATH here and in the sandbox.
ensure_node() {
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		apt_install nodejs npm
	fi
	if node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
		return 0
	fi
	local arch
	case $(uname -m) in
	x86_64) arch=x64 ;;
	aarch64 | arm64) arch=arm64 ;;
	*) say "Node.js $(node --version) is older than 20.19 and there is no Node 20 package for $(uname -m); install Node.js 20.19 or later"; return 1 ;;
	esac
	say "Node.js $(node --version) is older than 20.19: installing Node 20 from the npm registry (node-linux-$arch)"
	npm install -g --no-audit --no-fund "node-linux-$arch@20" >/dev/null
	ln -sf "$(npm root -g)/node-linux-$arch/bin/node" /usr/local/bin/node
	hash -r
	say "Node.js $(node --version)"
}

# build_apogee OUT: builds cmd/apogee into OUT, stamped with the checkout's
# commit and the build's date (`apogee version` prints them).
build_apogee() {
	local pkg=github.com/apogee-dev/apogee/internal/cli commit
	commit=$(git rev-parse HEAD 2>/dev/null || true)
	go build -o "$1" -ldflags "-X $pkg.Commit=$commit -X $pkg.Date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" ./cmd/apogee
}
