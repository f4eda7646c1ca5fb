#!/usr/bin/env bash
# The release build (make release [DIST=dist]). Into $DIST it writes:
#   rensei-linux-amd64, rensei-linux-arm64   static binaries (CGO_ENABLED=0, -trimpath)
#   rensei_<debversion>_<arch>.deb           Debian packages (nfpm): /usr/bin/rensei,
#                                            rensei-daemon.service, /etc/default/rensei
#                                            (a conffile), man pages, shell completions
#   rensei-image-<version>.tar               docker save of rensei/rensei:<version>,
#                                            FROM scratch around the amd64 binary
#   SHA256SUMS                               of every artifact above
#   man/, completion/                        what the packages install
# The version is `git describe --tags --always --dirty` (RENSEI_VERSION
# overrides it) and is linked into the binaries as main.version.
#
# Environment: GO (go), DIST (dist), NFPM (the nfpm command as a pinned
# module path, github.com/goreleaser/nfpm/v2/cmd/nfpm@vX: the Makefile sets
# it), IMAGE (rensei/rensei), RELEASE_ARCHES ("amd64 arm64").
#
# Every step reuses Go's build cache: a second run rebuilds only what
# changed, and links.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
DIST=${DIST:-dist}
NFPM=${NFPM:?set NFPM to the pinned nfpm command, e.g. github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2}
IMAGE=${IMAGE:-rensei/rensei}
read -r -a ARCHES <<<"${RELEASE_ARCHES:-amd64 arm64}"

# debian_version turns a version into a Debian one (which must start with
# a digit and sort correctly):
#   v1.2.3 → 1.2.3    v1.2.3-rc.1 → 1.2.3~rc.1    v1.2.3-4-gabc1234-dirty → 1.2.3+4.gabc1234.dirty
#   abc1234-dirty (no tag yet) → 0.0.0+gabc1234.dirty
debian_version() {
	local v=${1#v}
	local tagged='^([0-9]+(\.[0-9]+)*)(-(rc|alpha|beta|pre)[.0-9A-Za-z]*)?(-([0-9]+)-g([0-9a-f]+))?(-dirty)?$'
	local untagged='^([0-9a-f]+)(-dirty)?$'
	if [[ $v == *.* && $v =~ $tagged ]]; then
		local out=${BASH_REMATCH[1]} pre=${BASH_REMATCH[3]} n=${BASH_REMATCH[6]} sha=${BASH_REMATCH[7]} dirty=${BASH_REMATCH[8]}
		[[ -n $pre ]] && out+="~${pre#-}"
		local meta=()
		[[ -n $n ]] && meta+=("$n" "g$sha")
		[[ -n $dirty ]] && meta+=(dirty)
		if ((${#meta[@]})); then
			out+="+$(IFS=.; echo "${meta[*]}")"
		fi
		echo "$out"
	elif [[ $v =~ $untagged ]]; then
		echo "0.0.0+g${BASH_REMATCH[1]}${BASH_REMATCH[2]:+.dirty}"
	else
		# Anything else: keep the characters Debian allows.
		echo "0.0.0+$(echo "$v" | tr -c 'A-Za-z0-9.+~\n' '.')"
	fi
}

VERSION=${RENSEI_VERSION:-$(git describe --tags --always --dirty)}
DEB_VERSION=$(debian_version "$VERSION")
TAG=$(echo "$VERSION" | tr -c 'A-Za-z0-9_.\n-' '-')
# Dates inside the packages and man pages come from the commit, so a
# rebuild of the same commit gives the same bytes.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

mkdir -p "$DIST"
DIST=$(cd "$DIST" && pwd)
export DIST DEB_VERSION # read by packaging/nfpm.yaml
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
step() { printf '%-30s %s\n' "$1" "$2"; }

ldflags="-s -w -X main.version=$VERSION"
for arch in "${ARCHES[@]}"; do
	CGO_ENABLED=0 GOOS=linux GOARCH=$arch "$GO" build -trimpath -ldflags "$ldflags" -o "$DIST/rensei-linux-$arch" ./cmd/rensei
	step "rensei-linux-$arch" "$VERSION"
done

# Man pages and completions come from the command tree (cobra/doc, in the
# hidden __man command) of a build for this machine.
CGO_ENABLED=0 "$GO" build -trimpath -ldflags "$ldflags" -o "$work/rensei" ./cmd/rensei
rm -rf "$DIST/man" "$DIST/completion"
"$work/rensei" __man "$DIST/man" >/dev/null
gzip -9n "$DIST"/man/*.1
pages=("$DIST"/man/*.1.gz)
step "man/" "${#pages[@]} pages"
mkdir -p "$DIST/completion"
"$work/rensei" completion bash >"$DIST/completion/rensei.bash"
"$work/rensei" completion zsh >"$DIST/completion/_rensei"
"$work/rensei" completion fish >"$DIST/completion/rensei.fish"
step "completion/" "bash zsh fish"

debs=()
for arch in "${ARCHES[@]}"; do
	deb="rensei_${DEB_VERSION}_${arch}.deb"
	ARCH=$arch "$GO" run "$NFPM" package --config packaging/nfpm.yaml --packager deb --target "$DIST/$deb" >/dev/null
	debs+=("$deb")
	step "$deb" "nfpm ${NFPM##*@}"
done

# The image: FROM scratch, the amd64 binary, the build host's CA
# certificates, an empty /tmp. The classic builder and BuildKit both build
# it without a registry.
ctx="$work/image"
mkdir -p "$ctx/rootfs/usr/bin" "$ctx/rootfs/etc/ssl/certs" "$ctx/rootfs/tmp"
chmod 1777 "$ctx/rootfs/tmp"
cp "$DIST/rensei-linux-amd64" "$ctx/rootfs/usr/bin/rensei" 2>/dev/null ||
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 "$GO" build -trimpath -ldflags "$ldflags" -o "$ctx/rootfs/usr/bin/rensei" ./cmd/rensei
cp /etc/ssl/certs/ca-certificates.crt "$ctx/rootfs/etc/ssl/certs/ca-certificates.crt"
cp packaging/container/Dockerfile "$ctx/Dockerfile"
if ! docker build -q --build-arg "VERSION=$VERSION" -t "$IMAGE:$TAG" "$ctx" >"$work/docker-build.log" 2>&1; then
	cat "$work/docker-build.log" >&2
	exit 1
fi
image="rensei-image-$VERSION.tar"
docker save -o "$DIST/$image" "$IMAGE:$TAG"
chmod 0644 "$DIST/$image"
step "$image" "$IMAGE:$TAG"

(
	cd "$DIST"
	bins=()
	for arch in "${ARCHES[@]}"; do bins+=("rensei-linux-$arch"); done
	sha256sum "${bins[@]}" "${debs[@]}" "$image" >SHA256SUMS
)
step "SHA256SUMS" "$DIST/SHA256SUMS"
