#!/bin/bash
# Builds Weft's container images without a Docker engine or a registry (run by `./mvnw package -Pimages`):
#   1. a base root file system per package list, made from Debian packages with mmdebstrap and imported into podman
#      as localhost/weft/base-NAME:HASH -- HASH covers the package list, the apt sources and this script's recipe, so
#      an unchanged base is reused from the local store (a rebuild takes seconds, a new base ~40 s);
#   2. a JDK 25 runtime made with jlink for the Quarkus services (reused while the JDK and the module list stay);
#   3. one image per service, localhost/weft/NAME:VERSION, built with `podman build` from the Containerfiles in
#      src/main/containers/, saved as OCI archives OUT/NAME.oci.tar and left loaded in the local podman store.
# usage: build-images.sh REPO_ROOT OUT_DIR VERSION
set -euo pipefail
repo=$(cd "$1" && pwd)
out=$2
version=$3
here=$(cd "$(dirname "$0")/.." && pwd) # images/src/main
: "${JAVA_HOME:?JAVA_HOME must name a JDK 25 (jlink)}"
mkdir -p "$out"
out=$(cd "$out" && pwd)

mapfile -t podman_global < <("$here/sh/podman-flags.sh" global)
mapfile -t podman_run < <("$here/sh/podman-flags.sh" run)
podman() { command podman "${podman_global[@]}" "$@"; }

for tool in podman mmdebstrap; do
  command -v "$tool" >/dev/null || { echo "images: $tool is missing (apt-get install -y podman runc mmdebstrap)" >&2; exit 1; }
done
for artifact in ipam-service/target/quarkus-app/quarkus-run.jar policy-service/target/quarkus-app/quarkus-run.jar \
    agent-service/target/quarkus-app/quarkus-run.jar cli/target/quarkus-app/quarkus-run.jar cni-shim/target/weft-cni/weft; do
  [ -e "$repo/$artifact" ] || { echo "images: $repo/$artifact is not built (./mvnw package -Pimages builds it first)" >&2; exit 1; }
done

# ---- 1. Debian bases ------------------------------------------------------------------------------------------
# The machine's own apt sources (its mirror and suites), pasted into the chroot as they are.
apt_sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && grep -qvE '^[[:space:]]*(#|$)' "$f" && apt_sources+=("$f")
done
[ ${#apt_sources[@]} -gt 0 ] || { echo "images: no apt sources in /etc/apt" >&2; exit 1; }
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:?/etc/os-release has no VERSION_CODENAME}")
# Man pages, info, locales and docs are never read in a container; copyright files stay.
dpkg_excludes=(--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright')

# Merged /usr by the hook (symlinks + usr-is-merged), not the usrmerge package that would pull in all of perl.
mmdebstrap_opts=(--variant=essential --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr "${dpkg_excludes[@]}")

# base_image NAME: prints the tag of the base made from src/main/containers/base-NAME.packages, building it if absent.
base_image() {
  local name=$1 list="$here/containers/base-$1.packages" pkgs key tag tmp
  pkgs=$(grep -vE '^[[:space:]]*(#|$)' "$list" | tr -s ' \n' ',' | sed 's/^,//; s/,$//')
  key=$( { echo "recipe 2: --variant=essential ${mmdebstrap_opts[*]}"; echo "suite $suite"; echo "packages $pkgs";
           cat "${apt_sources[@]}"; mmdebstrap --version; } | sha256sum | cut -c1-12)
  tag=localhost/weft/base-$name:$key
  if podman image exists "$tag"; then
    echo "images: base $tag is up to date" >&2
  else
    tmp=$(mktemp -d "$out/base-$name.XXXXXX")
    echo "images: building base $tag (mmdebstrap $suite${pkgs:+ + $pkgs})" >&2
    # essential: dpkg, a shell and coreutils; no apt in the image. apt and its keyrings of the host fetch the packages.
    mmdebstrap --quiet "${mmdebstrap_opts[@]}" ${pkgs:+--include="$pkgs"} \
      "$suite" "$tmp/rootfs.tar" "${apt_sources[@]}" >&2
    podman import --quiet --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change "LABEL dev.weft.image=base-$name" \
      "$tmp/rootfs.tar" "$tag" >/dev/null
    rm -rf "$tmp"
  fi
  # Bases of earlier package lists are not used any more.
  podman image ls --format '{{.Repository}}:{{.Tag}}' "localhost/weft/base-$name" | grep -vxF "$tag" \
    | xargs -r podman rmi --force >/dev/null 2>&1 || true
  echo "$tag"
}

# ---- 2. JDK 25 runtime for the Quarkus services -----------------------------------------------------------------
# The modules Quarkus needs (jdk.zipfs: ClassPathUtils.processAsJarPath fails at start without it).
jre_modules=java.base,java.logging,java.management,java.naming,java.net.http,java.security.jgss,java.sql,java.xml,jdk.unsupported,jdk.crypto.ec,jdk.management,jdk.net,jdk.zipfs,java.instrument
jre="$out/jre"
jre_stamp="$("$JAVA_HOME/bin/java" -XshowSettings:properties -version 2>&1 | grep -E 'java\.(vm\.)?version =' | tr -d ' ' | sort | tr '\n' ' ')modules=$jre_modules"
if [ ! -x "$jre/bin/java" ] || [ "$(cat "$jre/.weft-stamp" 2>/dev/null)" != "$jre_stamp" ]; then
  rm -rf "$jre"
  echo "images: jlink $jre_modules" >&2
  "$JAVA_HOME/bin/jlink" --add-modules "$jre_modules" --strip-debug --no-header-files --no-man-pages --output "$jre"
  echo "$jre_stamp" > "$jre/.weft-stamp"
fi

# ---- 3. Images ----------------------------------------------------------------------------------------------------
# context NAME: a fresh build context with the image's Containerfile and its own files.
context() {
  local dir="$out/context/$1"
  rm -rf "$dir"
  mkdir -p "$dir"
  cp -a "$here/containers/$1/." "$dir/"
  echo "$dir"
}

build() { # build NAME BASE CONTEXT
  local image=localhost/weft/$1:$version
  echo "images: building $image" >&2
  podman build --quiet "${podman_run[@]}" --build-arg BASE="$2" --build-arg VERSION="$version" \
    --label org.opencontainers.image.version="$version" --label org.opencontainers.image.title="weft/$1" \
    --label dev.weft.image="$1" \
    -t "$image" "$3" >/dev/null
  rm -f "$out/$1.oci.tar"
  podman save --quiet --format oci-archive -o "$out/$1.oci.tar" "$image"
}

java_base=$(base_image java)
agent_base=$(base_image agent)

for service in ipam-service policy-service; do
  ctx=$(context "$service")
  cp -a "$jre" "$ctx/jre"
  cp -a "$repo/$service/target/quarkus-app" "$ctx/app"
  build "$service" "$java_base" "$ctx"
done

ctx=$(context agent)
cp -a "$jre" "$ctx/jre"
cp -a "$repo/agent-service/target/quarkus-app" "$ctx/app"
cp -a "$repo/cli/target/quarkus-app" "$ctx/weftctl"
# The CNI plugin exactly as the init container installs it: launcher `weft` + weft.d/ (own runtime and AOT cache).
mkdir -p "$ctx/cni"
cp -a "$repo/cni-shim/target/weft-cni/weft" "$repo/cni-shim/target/weft-cni/weft.d" "$ctx/cni/"
build agent "$agent_base" "$ctx"

rm -rf "$out/context"
# The images these replaced (untagged now); only ours, by label.
podman image prune --force --filter label=dev.weft.image >/dev/null
{
  echo "# image	size (podman image ls)	OCI archive"
  for name in ipam-service policy-service agent; do
    printf '%s\t%s\t%s\n' "localhost/weft/$name:$version" \
      "$(podman image ls --format '{{.Size}}' "localhost/weft/$name:$version")" "$(du -h "$out/$name.oci.tar" | cut -f1)"
  done
} | tee "$out/images.tsv" >&2
