#!/usr/bin/env bash
# Shows that the deploy checks fail on the mistakes they exist to catch: each case copies deploy/
# to a temporary folder, breaks one thing, and expects the named check to fail saying so.
#   static  tests/deploy/check_deploy.py (manifests, Dockerfile, README)
#   schema  tests/deploy/check_schema.sh (Kubernetes 1.27 schemas, unknown fields)
#   pods    tests/deploy/run_pods.py (the pods started from the rendered manifests), only as root
# usage: check_catches_mistakes.sh REPO_ROOT PYTHON3 SCHEMA_TOOLS_DIR [PROGRAM=PATH ...]
set -euo pipefail
root=$1
python=$2
tools=$3
shift 3
programs=("$@")
here=$root/tests/deploy
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/deploy-mistakes.XXXXXX")
trap 'rm -rf "$work"' EXIT
failed=0
caught=0

# expect CHECK FILE SED_EXPRESSION EXPECTED_MESSAGE
expect() {
  local check=$1 file=$2 expression=$3 message=$4 output before
  rm -rf "$work/case" && mkdir -p "$work/case/scripts"
  cp -r "$root/deploy" "$work/case/"
  cp "$root/scripts/install-deps.sh" "$work/case/scripts/"
  before=$(cat "$work/case/$file")
  sed -i "$expression" "$work/case/$file"
  if [ "$before" = "$(cat "$work/case/$file")" ]; then
    echo "BROKEN CASE: '$expression' changed nothing in $file"
    failed=1
    return
  fi
  local cmd
  case $check in
    static) cmd=("$python" "$here/check_deploy.py" "$work/case" "${programs[@]}") ;;
    schema) cmd=(bash "$here/check_schema.sh" "$root" "$tools" "$work/case") ;;
    pods) cmd=(env COVTRACK_DEPLOY_PROBE_DEADLINE=4 "$python" "$here/run_pods.py" "$work/case"
               "${overlay:-dev}" "${programs[@]}") ;;
  esac
  if output=$("${cmd[@]}" 2>&1); then
    echo "MISSED ($check): $file '$expression' passed"
    failed=1
  elif ! grep -qF -- "$message" <<<"$output"; then
    echo "MISSED ($check): $file '$expression': expected \"$message\" in:"
    echo "$output" | tail -30
    failed=1
  else
    echo "caught ($check): $message"
    caught=$((caught + 1))
  fi
}

base=deploy/k8s/base
dev=deploy/k8s/overlays/dev
prod=deploy/k8s/overlays/prod
# Static checks of the rendered manifests.
expect static $base/targets.yaml '0,/readinessProbe:/s//startupProbe:/' "covtrack-targets/targets: no readinessProbe"
expect static $base/ingestion.yaml 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/' "dev/covtrack-ingestion/ingestion: root filesystem must be read-only"
expect static $base/aggregation.yaml '/limits:/,+2d' "covtrack-aggregation/aggregation: no resources.limits.cpu"
expect static $base/ingestion.yaml 's/drop: \["ALL"\]/drop: ["NET_RAW"]/' "capabilities must drop ALL"
expect static $base/targets.yaml 's/type: RuntimeDefault/type: Unconfined/' "seccompProfile must be RuntimeDefault"
expect static $base/ingestion.yaml '0,/automountServiceAccountToken: false/!s/automountServiceAccountToken: false/automountServiceAccountToken: true/' "automountServiceAccountToken must be false"
expect static $dev/redis.yaml 's/runAsNonRoot: true/runAsNonRoot: false/' "covtrack-redis/redis: must run as a non-root user"
expect static $base/ingestion.yaml 's/terminationGracePeriodSeconds: 30/terminationGracePeriodSeconds: 10/' "terminationGracePeriodSeconds 10 leaves too little time"
expect static $base/targets.yaml '0,/port: 8081/s//port: 50053/' "readinessProbe asks port 50053, not the plaintext health port 8081"
expect static $base/aggregation.yaml 's/containerPort: 9090/containerPort: 9091/' "no container port named metrics = 9090"
expect static $base/ingestion.yaml 's/prometheus.io\/port: "9090"/prometheus.io\/port: "9091"/' "prometheus.io/port"
expect static $base/ingestion.yaml 's/^    - name: grpc$/    - name: rpc/' "needs a Service covtrack-ingestion with a port named grpc"
expect static $base/kustomization.yaml 's/COVTRACK_TLS_KEY=\/etc\/covtrack\/tls\/tls.key/COVTRACK_TLS_KEY=\/etc\/covtrack\/tls.key/' "/etc/covtrack/tls.key is under no volumeMount"
expect static $base/kustomization.yaml 's/access\/access-policy.yaml/access\/policy.yaml/' "ConfigMap covtrack-access-policy"
expect static $base/access-policy.yaml '/- name: targets/,+1d' "the access policy does not let targets"
expect static $base/kustomization.yaml 's/covtrack-ingestion:50051/covtrack-ingestion:50052/' "Service covtrack-ingestion has no port 50052"
expect static $base/kustomization.yaml 's/0.0.0.0:50053/127.0.0.1:50053/' "should listen on all interfaces"
expect static $dev/redis.yaml '/^kind: NetworkPolicy/,$s/covtrack-aggregation$/covtrack-targets/' "a NetworkPolicy keeps covtrack-redis from being reached"
expect static $dev/kustomization.yaml '0,/covtrack@covtrack-postgres/s//covtrack:covtrack-dev-only@covtrack-postgres/' "the store URL holds a password"
expect static $dev/stores.yaml '0,/name: PGPASSWORD/s//name: PGPASSWORD_UNUSED/' "PGPASSWORD must come from a Secret"
expect static $dev/kustomization.yaml 's/COVTRACK_REDIS=covtrack-redis:6379/COVTRACK_REDIS=redis.example.org:6379/' "dev's Redis is the in-cluster covtrack-redis"
expect static $prod/kustomization.yaml 's/sslmode=verify-full/sslmode=prefer/' "a prod store URL should say sslmode=verify-full"
expect static $prod/replicas.yaml '0,/replicas: 2/s//replicas: 1/' "prod/covtrack-ingestion: prod runs 2+ replicas"
expect static $prod/disruption-budgets.yaml 's/app.kubernetes.io\/name: covtrack-ingestion$/app.kubernetes.io\/name: covtrack-nothing/' "prod/covtrack-ingestion: prod needs one PodDisruptionBudget"
expect static $prod/autoscaling.yaml '0,/minReplicas: 2/s//minReplicas: 1/' "the HorizontalPodAutoscaler should keep 2+ replicas"
expect static deploy/docker/Dockerfile 's/^USER .*/USER root/' "the runtime stage should end as USER 65532:65532"
expect static deploy/docker/Dockerfile 's/ make pkg-config/ make pkg-config bison/' "build package bison is not in scripts/install-deps.sh"
expect static deploy/docker/Dockerfile 's/^ENTRYPOINT \["\/usr\/local\/bin\/covtrack-targets"\]/ENTRYPOINT ["covtrack-targets"]/' "target targets: ENTRYPOINT should be /usr/local/bin/covtrack-targets"
# The Kubernetes schemas.
expect schema $base/ingestion.yaml '0,/          grpc:/s//          grcp:/' "/readinessProbe/grcp: unknown field"
expect schema $base/targets.yaml '0,/port: 8081/s//port: health/' "/readinessProbe/grpc/port must be integer"
expect schema $base/aggregation.yaml 's/readOnlyRootFilesystem: true/readOnlyRootfilesystem: true/' "/securityContext/readOnlyRootfilesystem: unknown field"
expect schema $prod/autoscaling.yaml '0,/averageUtilization: 70/s//averageUtilization: "70%"/' "averageUtilization must be integer"
for arg in "${programs[@]}"; do
  case $arg in
    covtrack-ingestion=*)
      expect static deploy/docker/Dockerfile 's/ libpq5//' "needs libpq.so.5: add libpq5 to the runtime stage"
      expect static deploy/README.md 's/--store/--st0re/g' "does not document --store / COVTRACK_STORE"
      expect static deploy/README.md '/^| `--shutdown_grace`/d' "the table \"every covtrack service\" does not document --shutdown_grace"
      expect static $base/kustomization.yaml 's/COVTRACK_LISTEN=0.0.0.0:50051/COVTRACK_LISTEN=0.0.0.0:50051\n      - COVTRACK_LISTEN_ADDR=0.0.0.0:50051/' "COVTRACK_LISTEN_ADDR matches no flag of covtrack-ingestion"
      if [ "$(id -u)" -eq 0 ]; then
        # The pods themselves: a probe on a port nothing serves, a flag the program lacks,
        # a password that PostgreSQL does not accept, a TLS key the program cannot read.
        overlay=dev expect pods $base/ingestion.yaml '0,/port: 8081/s//port: 8082/' "dev/covtrack-ingestion/ingestion: readinessProbe failed"
        overlay=dev expect pods $base/kustomization.yaml 's/COVTRACK_LOG_LEVEL=info/COVTRACK_LOG_LEVEL=info\n      - COVTRACK_LOG_FORMAT=json/' "COVTRACK_LOG_FORMAT names no flag of covtrack-ingestion"
        overlay=dev expect pods $dev/stores.yaml '0,/name: covtrack-postgres/s//name: covtrack-postgres-wrong/' "Secret covtrack-postgres-wrong is used but neither generated by the overlay"
        overlay=dev expect pods $base/targets.yaml 's/defaultMode: 0440/defaultMode: 0400/' "dev/covtrack-targets/targets: readinessProbe failed"
      fi
      ;;
  esac
done
echo "$caught mistake(s) caught"
exit $failed
