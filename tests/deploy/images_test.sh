#!/usr/bin/env bash
# deploy.images: scripts/build-images.sh builds the four images into a buildah storage of this
# test's own; each program then starts INSIDE its image: first with --help (it loads every
# shared library it links and lists its own flags), then the three services together, serving
# plaintext gRPC on loopback (the host's network) with their SQLite stores in a temporary folder,
# until the gRPC health check answers SERVING on the service port and on --health_listen and
# /metrics answers; then they are stopped with SIGTERM and must exit. The storage and the
# containers are removed at the end, pass or fail; only mmdebstrap's Debian 12 root filesystem
# is kept in WORK_DIR, so that a second run skips that minute.
# usage: images_test.sh REPO_ROOT WORK_DIR PYTHON3
# Exit 77 (ctest SKIP_RETURN_CODE) with the reason where buildah cannot run here.
set -euo pipefail
root=$1
work_dir=$2
python=$3

skip() {
  echo "SKIP: $*"
  exit 77
}
[ "$(id -u)" -eq 0 ] ||
  skip "not root (uid $(id -u)): buildah's chroot isolation and vfs storage need root here"
command -v buildah >/dev/null ||
  skip "buildah is not installed (apt-get install buildah mmdebstrap, or scripts/install-deps.sh)"
command -v mmdebstrap >/dev/null ||
  skip "mmdebstrap is not installed (apt-get install mmdebstrap, or scripts/install-deps.sh)"
err=$(unshare --mount --fork chroot / true 2>&1) ||
  skip "this machine refuses a mount namespace plus chroot, which buildah's chroot isolation" \
    "needs (CAP_SYS_ADMIN and CAP_SYS_CHROOT): 'unshare --mount --fork chroot / true' said: $err"
for tool in protoc /usr/bin/grpc_python_plugin; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (scripts/install-deps.sh)"; exit 1; }
done

mkdir -p "$work_dir"
tmp=$(mktemp -d "$work_dir/run.XXXXXX")
# COVTRACK_IMAGES_STORAGE=DIR: build into (and keep) that buildah storage instead, so that a
# rerun reuses its cached layers and takes seconds rather than a full compile.
storage=${COVTRACK_IMAGES_STORAGE:-$tmp/storage}
store=(--root "$storage" --runroot "$tmp/runroot")
bah() { buildah --storage-driver vfs "${store[@]}" "$@"; }
remove_containers() {
  bah rm images-test-ingestion images-test-aggregation images-test-targets images-test-covctl \
    >/dev/null 2>&1 || true
}
groups=()
cleanup() {
  for pgid in "${groups[@]}"; do kill -KILL -- "-$pgid" 2>/dev/null || true; done
  remove_containers
  rm -rf "$tmp"
}
trap cleanup EXIT
say() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

say "building the images (storage: $storage$([ "$storage" = "$tmp/storage" ] && echo ", removed at the end"))"
"$root/scripts/build-images.sh" "${store[@]}" --base-tar "$work_dir/debian-12.tar" --tag test
say "storage used by the build: $(du -sh "$storage" | cut -f1)"

image_of() { case $1 in covctl) echo localhost/covctl:test ;; *) echo "localhost/covtrack-$1:test" ;; esac; }
binary_of() { case $1 in covctl) echo /usr/local/bin/covctl ;; *) echo "/usr/local/bin/covtrack-$1" ;; esac; }
remove_containers  # a kept storage may hold them from a run that was killed
for name in ingestion aggregation targets covctl; do
  bah from --pull=never --quiet --name "images-test-$name" "$(image_of "$name")" >/dev/null
done
# Runs a command in a container, as the image's user (65532), on the host's network.
in_image() {
  local name=$1
  shift
  bah run --isolation chroot --network host -v "$tmp/data:/data" "images-test-$name" -- "$@"
}
mkdir -p "$tmp/data"
chown 65532:65532 "$tmp/data"

# The ENTRYPOINT of each image is its program; --help lists the program's flags (or covctl's
# commands) and exits 0, after the dynamic loader has found every shared library it links.
for name in ingestion aggregation targets covctl; do
  case $name in
    covctl) want="usage: covctl" ;;
    *) want="--listen (default:" ;;
  esac
  # buildah 1.28's templates have no `json`: a list prints as [a b].
  entrypoint=$(bah inspect --format '{{.OCIv1.Config.Entrypoint}}' --type image "$(image_of "$name")")
  [ "$entrypoint" = "[$(binary_of "$name")]" ] ||
    { echo "FAIL: $name: ENTRYPOINT is $entrypoint"; exit 1; }
  set +e
  out=$(in_image "$name" "$(binary_of "$name")" --help 2>&1)
  rc=$?
  set -e
  if [ $rc -ne 0 ] || ! grep -qF -- "$want" <<<"$out"; then
    echo "FAIL: $name --help in its image: exit $rc, no '$want' in:"
    head -20 <<<"$out"
    exit 1
  fi
  say "$name: --help in its image lists its flags"
done

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ports=()
while ((${#ports[@]} < 9)); do
  p=$((20000 + RANDOM % 20000))
  if port_free "$p" && [[ " ${ports[*]} " != *" $p "* ]]; then ports+=("$p"); fi
done
declare -A grpc=([ingestion]=${ports[0]} [aggregation]=${ports[1]} [targets]=${ports[2]})
declare -A health=([ingestion]=${ports[3]} [aggregation]=${ports[4]} [targets]=${ports[5]})
declare -A metrics=([ingestion]=${ports[6]} [aggregation]=${ports[7]} [targets]=${ports[8]})
flags_for() {
  local common="--listen=127.0.0.1:${grpc[$1]} --health_listen=127.0.0.1:${health[$1]}"
  common+=" --metrics_listen=127.0.0.1:${metrics[$1]} --shutdown_grace=2s"
  case $1 in
    ingestion) echo "$common --store=sqlite:/data/ingestion.db" ;;
    aggregation) echo "$common --ingestion_addr=127.0.0.1:${grpc[ingestion]}" ;;
    targets)
      echo "$common --store=sqlite:/data/targets.db" \
        "--ingestion_addr=127.0.0.1:${grpc[ingestion]}" \
        "--aggregation_addr=127.0.0.1:${grpc[aggregation]}" ;;
  esac
}

stubs=$tmp/stubs
mkdir -p "$stubs"
cp /usr/share/grpc-proto/grpc/health/v1/health.proto "$stubs/"
protoc -I"$stubs" --python_out="$stubs" --grpc_out="$stubs" \
  --plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin "$stubs/health.proto"

declare -A pid
for name in ingestion aggregation targets; do
  # setsid: buildah and the program in their own process group, which the test stops whole.
  # shellcheck disable=SC2046 # flags_for prints separate words without spaces inside them
  setsid bash -c 'exec "$@"' _ buildah --storage-driver vfs "${store[@]}" run --isolation chroot \
    --network host -v "$tmp/data:/data" "images-test-$name" -- \
    "$(binary_of "$name")" $(flags_for "$name") >"$tmp/$name.log" 2>&1 &
  pid[$name]=$!
  groups+=("${pid[$name]}")
done
failed=0
for name in ingestion aggregation targets; do
  for port in "${grpc[$name]}" "${health[$name]}"; do
    if answer=$("$python" "$root/tests/deploy/health_probe.py" "$stubs" grpc 127.0.0.1 "$port" "" \
      2 60 "${pid[$name]}"); then
      say "$name in its image: health on port $port: $answer"
    else
      echo "FAIL: $name in its image: health on port $port: $answer"
      failed=1
    fi
  done
  if answer=$("$python" "$root/tests/deploy/health_probe.py" "$stubs" http 127.0.0.1 \
    "${metrics[$name]}" /metrics 5); then
    say "$name in its image: /metrics: $answer"
  else
    echo "FAIL: $name in its image: /metrics: $answer"
    failed=1
  fi
done
# covctl, in its image, imports the unit catalogue the image carries into ingestion in its image.
catalogue=/usr/share/covtrack/data/vn-admin-units/units_2025-07-01.csv
if out=$(in_image covctl /usr/local/bin/covctl --server="127.0.0.1:${grpc[ingestion]}" \
  units import "$catalogue" --valid_from=2025-07-01 2>&1) &&
  out=$(in_image covctl /usr/local/bin/covctl --server="127.0.0.1:${grpc[ingestion]}" \
    units list --code=01 --format=csv 2>&1) &&
  grep -q "^01,Thành phố Hà Nội,province," <<<"$out"; then
  say "covctl in its image imported its catalogue into ingestion in its image"
else
  echo "FAIL: covctl in its image against ingestion: $out"
  failed=1
fi
[ -s "$tmp/data/ingestion.db" ] || { echo "FAIL: ingestion wrote no SQLite file in /data"; failed=1; }

# SIGTERM to each program (inside buildah's chroot, a child of buildah run) by its process id.
for name in targets aggregation ingestion; do
  # By its command line (a name of 16 characters or more is cut in the kernel's comm, which
  # pgrep -x reads), its own port making it unique; buildah's command line starts otherwise.
  program=$(pgrep -f -- "^$(binary_of "$name") --listen=127.0.0.1:${grpc[$name]} " || true)
  if [ -z "$program" ]; then
    echo "FAIL: $name is not running in its image"
    failed=1
    continue
  fi
  kill -TERM "$program"
  for _ in $(seq 100); do
    kill -0 "${pid[$name]}" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "${pid[$name]}" 2>/dev/null; then
    echo "FAIL: $name still running 10 s after SIGTERM"
    failed=1
  else
    set +e
    wait "${pid[$name]}"
    rc=$?
    set -e
    say "$name stopped after SIGTERM (buildah run exit $rc)"
    [ $rc -eq 0 ] || { echo "FAIL: $name exited $rc after SIGTERM"; failed=1; }
  fi
done
if ((failed)); then
  for name in ingestion aggregation targets; do
    echo "--- $name's log (last lines)"
    tail -20 "$tmp/$name.log"
  done
  exit 1
fi
say "the four images built; each program started in its image; the services served and stopped"
