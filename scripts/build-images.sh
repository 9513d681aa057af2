#!/usr/bin/env bash
# Builds the four covtrack images (covtrack-ingestion, covtrack-aggregation, covtrack-targets,
# covctl) from deploy/docker/Dockerfile without a Docker engine: buildah with the vfs storage
# driver and chroot isolation, on a Debian 12 base that mmdebstrap makes from Debian's own
# packages (no registry is asked for a base image). Where a Docker engine runs, the
# `docker build` lines at the top of the Dockerfile do the same.
#
# usage: scripts/build-images.sh [--root DIR --runroot DIR] [--base-tar FILE] [--tag TAG]
#                               [--context DIR]
#   --root, --runroot  buildah's storage and run-state folders (default: buildah's own,
#                      /var/lib/containers/storage and /run/containers/storage). A test gives
#                      folders of its own and removes them afterwards.
#   --base-tar FILE    where mmdebstrap's Debian 12 root filesystem is written, or reused when it
#                      is already there (default: build-images/debian-12.tar in the repository,
#                      which Dockerfile.dockerignore keeps out of the build context).
#   --tag TAG          tag of the four images (default: latest): localhost/covtrack-ingestion:TAG...
#   --context DIR      the sources to build, e.g. a `git archive` of a release tag unpacked into
#                      DIR (default: a snapshot of this repository's work tree taken at start:
#                      its tracked files and untracked ones git does not ignore, as they are).
#                      A snapshot, because the four builds must see the same context to share
#                      the build stage's cached layers, whatever is edited meanwhile.
# Needs root, buildah and mmdebstrap (Debian: apt-get install buildah mmdebstrap).
# The build stage is shared: the first image compiles the project, the other three reuse its
# cached layers (--layers), so the project compiles once.
set -euo pipefail

root_dir="$(cd "$(dirname "$0")/.." && pwd)"
storage=()
base_tar=$root_dir/build-images/debian-12.tar
tag=latest
context=
while (($#)); do
  case $1 in
    --root | --runroot)
      (($# >= 2)) || { echo "build-images.sh: $1 needs a folder" >&2; exit 2; }
      storage+=("$1" "$2")
      shift 2 ;;
    --base-tar)
      (($# >= 2)) || { echo "build-images.sh: --base-tar needs a file" >&2; exit 2; }
      base_tar=$2
      shift 2 ;;
    --tag)
      (($# >= 2)) || { echo "build-images.sh: --tag needs a value" >&2; exit 2; }
      tag=$2
      shift 2 ;;
    --context)
      (($# >= 2)) || { echo "build-images.sh: --context needs a folder" >&2; exit 2; }
      context=$2
      shift 2 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0 ;;
    *)
      echo "build-images.sh: unknown argument '$1' (see --help)" >&2
      exit 2 ;;
  esac
done

say() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
fail() {
  echo "build-images.sh: $*" >&2
  exit 1
}

# Everything that would stop the build half-way is checked before anything is made.
[ "$(id -u)" -eq 0 ] ||
  fail "run as root (sudo scripts/build-images.sh): buildah's chroot isolation and vfs storage" \
    "are used as root here; rootless buildah needs /etc/subuid and /etc/subgid entries"
command -v buildah >/dev/null || fail "buildah is missing: apt-get install buildah (Debian 12)"
# unshare and chroot: what buildah's chroot isolation does for every RUN step.
if ! err=$(unshare --mount --fork chroot / true 2>&1); then
  fail "cannot create a mount namespace and chroot here ('unshare --mount --fork chroot / true'" \
    "said: $err): run on a machine, or in a container, with CAP_SYS_ADMIN and CAP_SYS_CHROOT"
fi

# vfs: every layer is a full copy, but it needs neither overlayfs nor fuse, which a container
# running this script may not have.
bah() { buildah --storage-driver vfs "${storage[@]}" "$@"; }

started=$SECONDS
if [ -z "$context" ] && ! git -C "$root_dir" rev-parse --git-dir >/dev/null 2>&1; then
  say "context: $root_dir is not a git work tree; building it as it is"
  context=$root_dir
fi
if [ -z "$context" ]; then
  context=$(mktemp -d "${TMPDIR:-/tmp}/covtrack-context.XXXXXX")
  trap 'rm -rf "$context"' EXIT
  say "context: snapshot of $root_dir's files into $context"
  # Outside the repository: nothing the build writes (storage, base tar) can enter it.
  (cd "$root_dir" && git ls-files -z --cached --others --exclude-standard |
    tar --null --files-from=- --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$context" ||
    fail "could not copy the sources into $context"
fi
# FROM debian:12 must resolve to a local image: --pull=never below. An existing debian:12 (for
# example one pulled where a registry is reachable) is used as it is.
if bah inspect --type image docker.io/library/debian:12 >/dev/null 2>&1; then
  say "base: docker.io/library/debian:12 is already in the storage"
else
  if [ -s "$base_tar" ]; then
    say "base: reusing $base_tar"
  else
    command -v mmdebstrap >/dev/null ||
      fail "mmdebstrap is missing: apt-get install mmdebstrap (Debian 12)"
    mkdir -p "$(dirname "$base_tar")"
    say "base: mmdebstrap --variant=minbase bookworm -> $base_tar (about a minute)"
    # Debian 12 with its updates and security suites, like the official image; without
    # manuals, documentation (but its copyright files) and translations, like debian:12-slim.
    # </dev/null: mmdebstrap reads sources from a stdin that is not a terminal.
    mmdebstrap --variant=minbase --mode=root --format=tar --quiet \
      --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/info/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' \
      --dpkgopt='path-exclude=/usr/share/doc/*' \
      --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      bookworm "$base_tar.partial" \
      "deb http://deb.debian.org/debian bookworm main" \
      "deb http://deb.debian.org/debian bookworm-updates main" \
      "deb http://deb.debian.org/debian-security bookworm-security main" </dev/null ||
      fail "mmdebstrap failed (is deb.debian.org reachable? see its messages above)"
    mv "$base_tar.partial" "$base_tar"
  fi
  say "base: importing it as localhost/debian:12 and docker.io/library/debian:12"
  ctr=$(bah from scratch)
  bah add "$ctr" "$base_tar" / >/dev/null
  bah config --cmd bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --label org.opencontainers.image.description="Debian 12 minbase made by mmdebstrap" "$ctr"
  bah commit --quiet --rm "$ctr" localhost/debian:12 >/dev/null
  bah tag localhost/debian:12 docker.io/library/debian:12
fi

# ingestion first: it builds the shared build and runtime stages; the others reuse them.
for target in ingestion aggregation targets covctl; do
  case $target in
    covctl) image=localhost/covctl:$tag ;;
    *) image=localhost/covtrack-$target:$tag ;;
  esac
  say "image: $image (target $target)"
  # --ignorefile: buildah 1.28 does not look for Dockerfile.dockerignore beside the Dockerfile.
  bah bud --layers --isolation chroot --pull=never \
    --ignorefile "$root_dir/deploy/docker/Dockerfile.dockerignore" \
    -f "$root_dir/deploy/docker/Dockerfile" --target "$target" -t "$image" "$context" ||
    fail "building $image failed (see buildah's messages above)"
done
say "done in $((SECONDS - started)) s:"
bah images --filter reference='localhost/cov*' >&2
