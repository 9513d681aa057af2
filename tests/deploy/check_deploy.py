#!/usr/bin/env python3
"""Checks deploy/ against the programs it deploys, offline and without starting anything.

For each Kubernetes overlay (dev, prod), renders it with `kubectl kustomize` and checks that
every container has both probes, requests and limits, and a locked-down security context
(non-root, read-only root filesystem, no privilege escalation, all capabilities dropped,
RuntimeDefault seccomp, no service-account token); that each covtrack program gets the
environment variables for the flags it needs and only variables that name one of its flags;
that its ports (grpc, health, metrics), probes, Service, scrape annotations, TLS and
access-policy files, peers and NetworkPolicies agree; that aggregation's Redis password and
cache key are files of a mounted Secret; and each overlay's rules (dev: in-cluster PostgreSQL
and Redis, one replica; prod: external stores, two or more replicas, a PodDisruptionBudget and
a HorizontalPodAutoscaler per service, NetworkPolicies under which only aggregation may reach
Redis and only ingestion, targets and the migrations PostgreSQL, and a Job per store that runs
its program with --migrate_only on the Deployment's store). With built programs, also checks
that the Dockerfile's runtime stage installs a package for every shared library they link, and
that deploy/README.md documents every flag.

tests/deploy/run_pods.py starts what this reads; check_schema.sh validates it against the
Kubernetes schemas.

usage: check_deploy.py REPO_ROOT [PROGRAM=PATH ...]
"""

import os
import re
import subprocess
import sys

try:
    import yaml
except ImportError:
    sys.exit("check_deploy.py needs PyYAML: apt-get install python3-yaml")

COMMON = {"listen", "health_listen", "metrics_listen", "tls_cert", "tls_key", "tls_client_ca",
          "access_policy"}
PROGRAMS = {
    # program: (Dockerfile target, gRPC port, flags it must be given in Kubernetes)
    "covtrack-ingestion": ("ingestion", 50051, COMMON | {"store"}),
    "covtrack-aggregation": ("aggregation", 50052, COMMON | {"ingestion_addr", "redis",
                                                             "redis_password_file",
                                                             "cache_key_file"}),
    "covtrack-targets": ("targets", 50053, COMMON | {"store", "aggregation_addr",
                                                         "ingestion_addr"}),
}
OVERLAYS = ("dev", "prod")
IMAGE_USER = 65532

failures = []


def fail(where, message):
    failures.append(f"{where}: {message}")


def render(root, overlay):
    path = os.path.join(root, "deploy", "k8s", "overlays", overlay)
    result = subprocess.run(["kubectl", "kustomize", path], capture_output=True, text=True)
    if result.returncode != 0:
        fail(overlay, f"kubectl kustomize failed: {result.stderr.strip()}")
        return []
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def flags_of(binary):
    """Flag names a built program defines, by file, from its --helpfull text."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVTRACK_")}
    result = subprocess.run([binary, "--helpfull"], capture_output=True, text=True, env=env,
                            timeout=30)
    flags = {}
    current = None
    for line in (result.stdout + result.stderr).splitlines():
        m = re.match(r"\s*Flags from (\S+):", line)
        if m:
            # The source path as the compiler saw it ("../../common/server_flags.cc" under
            # ccache's base_dir, "/src/common/..." in an image): from the repository's folders.
            current = re.sub(r"^.*?(?=\b(common|services|tools)/)", "", m.group(1))
            continue
        m = re.match(r"\s+-{1,2}(\w+) \(", line)
        if m and current:
            flags.setdefault(current, set()).add(m.group(1))
    if not flags:
        fail(binary, "--helpfull listed no flags")
    return flags


def check_help(program, binary, flags_by_file):
    """A service's --help exits 0 and lists every flag of its own (a newcomer's first command;
    Abseil's --help would list none of them, from main.cc, and exit 1)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVTRACK_")}
    result = subprocess.run([binary, "--help"], capture_output=True, text=True, env=env,
                            timeout=30)
    if result.returncode != 0:
        fail(program, f"--help exited {result.returncode}")
    if program == "covctl":
        if "usage: covctl" not in result.stdout:
            fail(program, "--help printed no usage")
        return
    listed = set(re.findall(r"^  --(\w+) \(default", result.stdout, re.M))
    missing = sorted(own_flags(flags_by_file) - listed)
    if missing:
        fail(program, f"--help does not list {', '.join('--' + f for f in missing)}")


def own_flags(flags_by_file):
    """Flags defined by covtrack's code, not Abseil's own (--helpfull, --flagfile...)."""
    return {f for path, names in flags_by_file.items() if "absl/" not in path for f in names}


def effective_env(container, objects, where):
    """The container's environment: envFrom first, then env (which wins). Values from a
    Secret are given as {"secret": NAME}; plain values as strings."""
    env = {}
    for source in container.get("envFrom", []):
        if "secretRef" in source:
            fail(where, "envFrom a whole Secret: name the keys with env/secretKeyRef instead")
            continue
        name = source.get("configMapRef", {}).get("name")
        cm = objects.get(("ConfigMap", name))
        if cm is None:
            fail(where, f"envFrom ConfigMap {name} is not in the rendered objects")
            continue
        env.update(cm.get("data", {}))
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "secretKeyRef" in var.get("valueFrom", {}):
            env[var["name"]] = {"secret": var["valueFrom"]["secretKeyRef"]["name"]}
        else:
            env[var["name"]] = var.get("valueFrom")
    return env


def seconds(duration):
    """Seconds in an Abseil duration such as "20s", "1m30s" or "500ms"; None if unreadable."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        return None
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in parts)


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def pod_labels(workload):
    return workload["spec"]["template"]["metadata"]["labels"]


def workloads(objects):
    return {name: obj for (kind, name), obj in objects.items()
            if kind in ("Deployment", "StatefulSet")}


def jobs(objects):
    return {name: obj for (kind, name), obj in objects.items() if kind == "Job"}


def service_for(address, objects, where):
    """The workload a HOST:PORT address reaches through a Service of the overlay, or None
    when HOST names no Service (an external server)."""
    m = re.fullmatch(r"([a-z0-9.-]+):(\d+)", str(address))
    if not m:
        fail(where, f"address {address!r} is not HOST:PORT")
        return None
    service = objects.get(("Service", m.group(1).split(".")[0]))
    if service is None:
        return None
    ports = {p["port"]: p for p in service["spec"]["ports"]}
    if int(m.group(2)) not in ports:
        fail(where, f"address {address}: Service {m.group(1)} has no port {m.group(2)}")
        return None
    for name, obj in workloads(objects).items():
        if selects(service["spec"]["selector"], pod_labels(obj)):
            return name
    fail(where, f"Service {m.group(1)} selects no workload")
    return None


def policies_for(workload, objects, policy_type):
    """The NetworkPolicies that select the workload's pods for Ingress or Egress."""
    return [obj for (kind, _), obj in objects.items() if kind == "NetworkPolicy" and
            policy_type in obj["spec"].get("policyTypes", ["Ingress"]) and
            selects(obj["spec"]["podSelector"].get("matchLabels", {}), pod_labels(workload))]


def port_matches(rule, port, target):
    """Whether a rule's ports admit PORT (a number), naming ports of TARGET's containers."""
    if not rule.get("ports"):
        return True
    named = {}
    if target is not None:
        for c in target["spec"]["template"]["spec"]["containers"]:
            named.update({p.get("name"): p.get("containerPort") for p in c.get("ports", [])})
    return any(p.get("port") in (port, None) or named.get(p.get("port")) == port
               for p in rule["ports"])


def network_allows(source, target, objects, port=None):
    """Whether the NetworkPolicies let source's pods reach target's (a workload), on PORT when
    given: target's ingress rules must admit source, and source's egress rules target."""
    ingress = policies_for(target, objects, "Ingress")
    admitted = not ingress or any(
        (not rule.get("from") or any(
            "podSelector" in peer and "namespaceSelector" not in peer and
            selects(peer["podSelector"].get("matchLabels", {}), pod_labels(source))
            for peer in rule["from"])) and (port is None or port_matches(rule, port, target))
        for policy in ingress for rule in policy["spec"].get("ingress", []))
    egress = policies_for(source, objects, "Egress")
    sent = not egress or any(
        (not rule.get("to") or any(
            "podSelector" in peer and "namespaceSelector" not in peer and
            selects(peer["podSelector"].get("matchLabels", {}), pod_labels(target))
            for peer in rule["to"])) and (port is None or port_matches(rule, port, target))
        for policy in egress for rule in policy["spec"].get("egress", []))
    return admitted and sent


def egress_outside(source, objects, port):
    """Whether source's pods may open connections to PORT outside the cluster (an ipBlock, or
    anywhere when no egress policy selects them)."""
    egress = policies_for(source, objects, "Egress")
    return not egress or any(
        (not rule.get("to") or any("ipBlock" in peer for peer in rule["to"])) and
        port_matches(rule, port, None)
        for policy in egress for rule in policy["spec"].get("egress", []))


def check_container(where, workload, container, objects, probes=True):
    """What every container needs: probes (not a Job's), requests and limits, a locked-down
    context."""
    pod = workload["spec"]["template"]["spec"]
    for probe in ("readinessProbe", "livenessProbe") if probes else ():
        if probe not in container:
            fail(where, f"no {probe}")
    resources = container.get("resources", {})
    for kind in ("requests", "limits"):
        for key in ("cpu", "memory"):
            if key not in resources.get(kind, {}):
                fail(where, f"no resources.{kind}.{key}")
    security = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    if security.get("runAsNonRoot") is not True or security.get("runAsUser", 0) == 0:
        fail(where, "must run as a non-root user (runAsNonRoot, runAsUser)")
    if security.get("allowPrivilegeEscalation") is not False:
        fail(where, "allowPrivilegeEscalation must be false")
    if security.get("readOnlyRootFilesystem") is not True:
        fail(where, "root filesystem must be read-only")
    if "ALL" not in security.get("capabilities", {}).get("drop", []):
        fail(where, "capabilities must drop ALL")
    if security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        fail(where, "seccompProfile must be RuntimeDefault")
    if pod.get("automountServiceAccountToken") is not False:
        fail(where, "automountServiceAccountToken must be false (no pod calls the API server)")
    account = pod.get("serviceAccountName")
    if not account or ("ServiceAccount", account) not in objects:
        fail(where, f"its ServiceAccount {account!r} is not in the overlay")
    volumes = {v["name"] for v in pod.get("volumes", [])}
    volumes |= {t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])}
    for mount in container.get("volumeMounts", []):
        if mount["name"] not in volumes:
            fail(where, f"mounts undefined volume {mount['name']}")
    return security


def mounted_file(where, path, pod, container, objects, kind):
    """Checks that PATH is a key of a Secret/ConfigMap volume (kind) the container mounts;
    returns the key's content when the object is rendered, else None."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        prefix = mount["mountPath"].rstrip("/") + "/"
        if not path.startswith(prefix):
            continue
        volume = volumes.get(mount["name"], {})
        key = path[len(prefix):]
        if kind == "Secret" and "secret" in volume:
            secret = objects.get(("Secret", volume["secret"]["secretName"]))
            if secret is not None and key not in secret.get("data", {}):
                fail(where, f"{path}: Secret {volume['secret']['secretName']} has no key {key}")
            return None
        if kind == "ConfigMap" and "configMap" in volume:
            cm = objects.get(("ConfigMap", volume["configMap"]["name"]))
            if cm is None:
                fail(where, f"{path}: ConfigMap {volume['configMap']['name']} is not rendered")
                return None
            if key not in cm.get("data", {}):
                fail(where, f"{path}: ConfigMap {volume['configMap']['name']} has no key {key}")
            return cm.get("data", {}).get(key)
        fail(where, f"{path} is on volume {mount['name']}, which is not a {kind}")
        return None
    fail(where, f"{path} is under no volumeMount (the image does not have it)")
    return None


def check_program(where, program, overlay, name, deployment, container, objects, program_flags,
                  dockerfile_targets):
    """What a covtrack program's container needs: flags, ports, probes, files and peers."""
    pod = deployment["spec"]["template"]["spec"]
    target, port, required = PROGRAMS[program]
    security = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    if security.get("runAsUser") != IMAGE_USER:
        fail(where, f"runAsUser should be the image's user {IMAGE_USER}")
    if pod.get("securityContext", {}).get("fsGroup") != IMAGE_USER:
        fail(where, f"fsGroup should be {IMAGE_USER} (it may then read its mode-0440 Secrets)")
    if target not in dockerfile_targets:
        fail(where, f"image {container['image']}: the Dockerfile has no target {target}")
    env = effective_env(container, objects, where)
    for flag in sorted(required):
        if f"COVTRACK_{flag.upper()}" not in env:
            fail(where, f"COVTRACK_{flag.upper()} (--{flag}) is not set")
    if program in program_flags:
        defined = own_flags(program_flags[program])
        for var in sorted(env):
            if var.startswith("COVTRACK_") and var[len("COVTRACK_"):].lower() not in defined:
                fail(where, f"{var} matches no flag of {program} (it would be ignored)")
        for flag in sorted(required - defined):
            fail(where, f"{program} defines no --{flag}")
    for var, value in env.items():
        if var.startswith("COVTRACK_") and isinstance(value, dict):
            fail(where, f"{var}: only PGPASSWORD comes from a Secret; {var} is configuration")

    # After SIGTERM the server drains for --shutdown_grace; the kubelet must wait longer.
    drain = seconds(str(env.get("COVTRACK_SHUTDOWN_GRACE", "20s")))
    period = pod.get("terminationGracePeriodSeconds", 30)
    if drain is None or period < drain + 5:
        fail(where, f"terminationGracePeriodSeconds {period} leaves too little time after "
             f"the {env.get('COVTRACK_SHUTDOWN_GRACE', '20s')} drain (want drain + 5 s)")

    ports = {p.get("name"): p.get("containerPort") for p in container.get("ports", [])}
    listens = {}
    for port_name, var, want in (("grpc", "COVTRACK_LISTEN", port),
                                 ("health", "COVTRACK_HEALTH_LISTEN", None),
                                 ("metrics", "COVTRACK_METRICS_LISTEN", None)):
        value = str(env.get(var, ""))
        m = re.fullmatch(r"(.*):(\d+)", value)
        if not m or m.group(1) not in ("0.0.0.0", "[::]", ""):
            fail(where, f"{var}={value} should listen on all interfaces (0.0.0.0:PORT)")
            continue
        listens[port_name] = int(m.group(2))
        if want is not None and listens[port_name] != want:
            fail(where, f"{var}={value}: the gRPC port of {program} is {want}")
        if ports.get(port_name) != listens[port_name]:
            fail(where, f"no container port named {port_name} = {listens[port_name]} ({var})")
    for probe in ("readinessProbe", "livenessProbe"):
        grpc = container.get(probe, {}).get("grpc")
        if grpc is None:
            fail(where, f"{probe} should be a native grpc probe")
        elif grpc.get("port") != listens.get("health"):
            fail(where, f"{probe} asks port {grpc.get('port')}, not the plaintext health port "
                 f"{listens.get('health')} (COVTRACK_HEALTH_LISTEN)")
        elif grpc.get("service", "") != "":
            fail(where, f"{probe} should ask for service \"\" (the whole server)")
    annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
    if annotations.get("prometheus.io/scrape") != "true" or \
            annotations.get("prometheus.io/port") != str(listens.get("metrics")):
        fail(where, "pod annotations prometheus.io/scrape \"true\" and prometheus.io/port "
             f"\"{listens.get('metrics')}\" are missing")
    service = objects.get(("Service", name))
    if service is None or not any(p.get("name") == "grpc" and p["port"] == port and
                                  p.get("targetPort") in ("grpc", port)
                                  for p in service["spec"]["ports"]):
        fail(where, f"needs a Service {name} with a port named grpc, {port} -> grpc")

    # TLS files from a Secret; the access policy from a ConfigMap, and it names the callers.
    for flag in ("tls_cert", "tls_key", "tls_client_ca", "tls_server_ca", "redis_password_file",
                 "cache_key_file"):
        value = env.get(f"COVTRACK_{flag.upper()}")
        if isinstance(value, str):
            mounted_file(where, value, pod, container, objects, "Secret")
    policy_path = env.get("COVTRACK_ACCESS_POLICY")
    if isinstance(policy_path, str):
        text = mounted_file(where, policy_path, pod, container, objects, "ConfigMap")
        if text is not None:
            check_policy(where, text)

    for var, upstream in (("COVTRACK_INGESTION_ADDR", "covtrack-ingestion"),
                          ("COVTRACK_AGGREGATION_ADDR", "covtrack-aggregation")):
        if var in env:
            reached = service_for(env[var], objects, where)
            if reached != upstream:
                fail(where, f"{var}={env[var]} does not reach {upstream}")
            elif not network_allows(deployment, objects[("Deployment", upstream)], objects,
                                    int(str(env[var]).rsplit(":", 1)[1])):
                fail(where, f"a NetworkPolicy keeps {upstream} from being reached ({var})")
    check_stores(where, overlay, program, deployment, env, objects)
    return env


def check_policy(where, text):
    try:
        policy = yaml.safe_load(text)
    except yaml.YAMLError as e:
        fail(where, f"the access policy is not YAML: {e}")
        return
    principals = {p.get("name"): p for p in (policy or {}).get("principals", [])}
    for caller in ("aggregation", "targets"):
        if "reader" not in principals.get(caller, {}).get("roles", []):
            fail(where, f"the access policy does not let {caller} (its certificate's CN) read")


def check_stores(where, overlay, program, deployment, env, objects):
    """PostgreSQL URLs without a password, the password from a Secret; Redis; per overlay."""
    store = env.get("COVTRACK_STORE")
    if store is not None:
        if not isinstance(store, str) or not store.startswith("postgresql://"):
            fail(where, f"COVTRACK_STORE should be a postgresql:// URL, not {store!r}")
        else:
            if re.match(r"postgresql://[^/@]*:[^/@]*@", store):
                fail(where, "the store URL holds a password: use PGPASSWORD from a Secret")
            if not isinstance(env.get("PGPASSWORD"), dict):
                fail(where, "PGPASSWORD must come from a Secret (secretKeyRef)")
            host = re.match(r"postgresql://[^@]*@([^:/]+)", store)
            reached = service_for(f"{host.group(1) if host else ''}:5432", objects, where)
            if overlay == "dev" and reached != "covtrack-postgres":
                fail(where, f"dev stores are the in-cluster covtrack-postgres, not {store}")
            if overlay == "prod":
                if reached is not None:
                    fail(where, f"prod stores are external, not the in-cluster {reached}")
                if "sslmode=verify-full" not in store:
                    fail(where, "a prod store URL should say sslmode=verify-full")
            if reached is not None and not network_allows(
                    deployment, workloads(objects)[reached], objects):
                fail(where, f"a NetworkPolicy keeps {reached} from being reached")
    redis = env.get("COVTRACK_REDIS")
    if redis is not None:
        reached = service_for(redis, objects, where)
        if overlay == "dev" and reached != "covtrack-redis":
            fail(where, f"dev's Redis is the in-cluster covtrack-redis, not {redis}")
        if overlay == "prod" and reached is not None:
            fail(where, f"prod's Redis is external, not the in-cluster {reached}")
        if reached is not None and not network_allows(
                deployment, workloads(objects)[reached], objects):
            fail(where, f"a NetworkPolicy keeps {reached} from being reached (COVTRACK_REDIS)")


def check_overlay(root, overlay, program_flags, dockerfile_targets):
    objects = {}
    for obj in render(root, overlay):
        objects[(obj["kind"], obj["metadata"]["name"])] = obj
    if not objects:
        return
    seen = {}
    for name, workload in sorted(workloads(objects).items()):
        pod = workload["spec"]["template"]["spec"]
        for container in pod["containers"]:
            where = f"{overlay}/{name}/{container['name']}"
            check_container(where, workload, container, objects)
            image = container["image"].rsplit("/", 1)[-1].split(":")[0]
            program = next((p for p, (t, _, _) in PROGRAMS.items() if image == f"covtrack-{t}"),
                           None)
            if program:
                check_program(where, program, overlay, name, workload, container, objects,
                              program_flags, dockerfile_targets)
                seen[program] = workload
    for program in PROGRAMS:
        if program not in seen:
            fail(overlay, f"no Deployment runs {program}")
    for program, workload in seen.items():
        where = f"{overlay}/{program}"
        name = workload["metadata"]["name"]
        replicas = workload["spec"].get("replicas", 1)
        pdb = [o for (k, _), o in objects.items() if k == "PodDisruptionBudget" and
               selects(o["spec"]["selector"]["matchLabels"], pod_labels(workload))]
        hpa = [o for (k, _), o in objects.items() if k == "HorizontalPodAutoscaler" and
               o["spec"]["scaleTargetRef"].get("kind") == "Deployment" and
               o["spec"]["scaleTargetRef"].get("name") == name]
        if overlay == "dev" and replicas != 1:
            fail(where, f"dev runs one replica, not {replicas}")
        if overlay == "prod":
            if replicas < 2:
                fail(where, f"prod runs 2+ replicas, not {replicas}")
            if len(pdb) != 1:
                fail(where, f"prod needs one PodDisruptionBudget, found {len(pdb)}")
            elif pdb[0]["spec"].get("minAvailable", 0) < 1 and \
                    "maxUnavailable" not in pdb[0]["spec"]:
                fail(where, "the PodDisruptionBudget keeps no pod available")
            if len(hpa) != 1:
                fail(where, f"prod needs one HorizontalPodAutoscaler, found {len(hpa)}")
            elif hpa[0]["spec"].get("minReplicas", 1) < 2 or \
                    hpa[0]["spec"]["maxReplicas"] < hpa[0]["spec"].get("minReplicas", 1):
                fail(where, "the HorizontalPodAutoscaler should keep 2+ replicas")
    if overlay == "dev":
        for backing in ("covtrack-postgres", "covtrack-redis"):
            if ("Service", backing) not in objects:
                fail(overlay, f"dev needs the in-cluster {backing} Service")
    if overlay == "prod":
        check_prod_network(objects, seen)
        check_migrate_jobs(objects, seen, program_flags)


def check_prod_network(objects, seen):
    """External PostgreSQL and Redis: only the pods that use them may open connections to
    them (egress NetworkPolicies), Redis from aggregation alone."""
    if not any(k == "NetworkPolicy" for k, _ in objects):
        fail("prod", "no NetworkPolicy: every pod could reach Redis and PostgreSQL")
        return
    users = {5432: {"covtrack-ingestion", "covtrack-targets"}, 6379: {"covtrack-aggregation"}}
    every = dict(seen)
    every.update({name: job for name, job in jobs(objects).items()})
    for name, obj in sorted(every.items()):
        for port, allowed in users.items():
            migrate = pod_labels(obj).get("app.kubernetes.io/component") == "migrate"
            may = name in allowed or (migrate and port == 5432)
            if may and not egress_outside(obj, objects, port):
                fail(f"prod/{name}", f"NetworkPolicies keep it from its server on port {port}")
            if not may and egress_outside(obj, objects, port):
                fail(f"prod/{name}", f"NetworkPolicies let it reach port {port} outside the "
                     "cluster (only " + ", ".join(sorted(allowed)) + " may)")


def check_migrate_jobs(objects, seen, program_flags):
    """One Job per store-owning program, running it with --migrate_only on the Deployment's
    store with the Deployment's credentials, locked down like every container."""
    by_program = {}
    for name, job in sorted(jobs(objects).items()):
        pod = job["spec"]["template"]["spec"]
        where = f"prod/{name}"
        if pod.get("restartPolicy") not in ("Never", "OnFailure"):
            fail(where, "a Job's restartPolicy must be Never or OnFailure")
        if "backoffLimit" not in job["spec"]:
            fail(where, "set backoffLimit: a migration that keeps failing must stop")
        for container in pod["containers"]:
            cwhere = f"{where}/{container['name']}"
            check_container(cwhere, job, container, objects, probes=False)
            image = container["image"].rsplit("/", 1)[-1].split(":")[0]
            program = next((p for p, (t, _, _) in PROGRAMS.items() if image == f"covtrack-{t}"),
                           None)
            if program is None:
                fail(cwhere, f"image {container['image']} runs no covtrack program")
                continue
            if "--migrate_only" not in container.get("args", []) + container.get("command", []):
                fail(cwhere, f"should run {program} --migrate_only")
                continue
            if program in program_flags and "migrate_only" not in own_flags(
                    program_flags[program]):
                fail(cwhere, f"{program} defines no --migrate_only")
            by_program[program] = (cwhere, container, job)
    for program in ("covtrack-ingestion", "covtrack-targets"):
        if program not in by_program:
            fail("prod", f"no Job runs {program} --migrate_only before the Deployments roll")
            continue
        cwhere, container, job = by_program[program]
        env = effective_env(container, objects, cwhere)
        deployment = seen.get(program)
        if deployment is None:
            continue
        served = effective_env(deployment["spec"]["template"]["spec"]["containers"][0], objects,
                               f"prod/{program}")
        store = env.get("COVTRACK_STORE")
        if isinstance(store, dict) and "configMapKeyRef" in store:
            ref = store["configMapKeyRef"]
            store = objects.get(("ConfigMap", ref["name"]), {}).get("data", {}).get(ref["key"])
        if store != served.get("COVTRACK_STORE"):
            fail(cwhere, f"migrates {store!r}, not the Deployment's {served.get('COVTRACK_STORE')!r}")
        for var in ("PGPASSWORD", "PGSSLROOTCERT"):
            if env.get(var) != served.get(var):
                fail(cwhere, f"{var} differs from the Deployment's")
        pod = job["spec"]["template"]["spec"]
        if isinstance(env.get("PGSSLROOTCERT"), str):
            mounted_file(cwhere, env["PGSSLROOTCERT"], pod, container, objects, "Secret")


def dockerfile_stages(root):
    """[(name, from, text, packages)] of deploy/docker/Dockerfile."""
    text = open(os.path.join(root, "deploy", "docker", "Dockerfile")).read()
    text = text.replace("\\\n", " ")
    stages = []
    for stage in re.split(r"^FROM ", text, flags=re.M)[1:]:
        m = re.match(r"(\S+)(?: AS (\S+))?", stage)
        found = set()
        for p in re.finditer(r"apt-get install ([^&\n]*)", stage):
            found |= {w for w in p.group(1).split() if not w.startswith("-")}
        stages.append((m.group(2), m.group(1), stage, found))
    return stages


def check_dockerfile(root, binaries):
    """Returns the Dockerfile's program targets."""
    stages = {name: (base, text, packages) for name, base, text, packages in
              dockerfile_stages(root)}
    if "build" not in stages or "runtime" not in stages:
        fail("Dockerfile", "expected stages named build and runtime")
        return set()
    _, build, build_packages = stages["build"]
    _, runtime, runtime_packages = stages["runtime"]
    if not stages["runtime"][0].startswith("debian:12") or \
            not stages["build"][0].startswith("debian:12"):
        fail("Dockerfile", "build and runtime stages should be FROM debian:12")
    deps = open(os.path.join(root, "scripts", "install-deps.sh")).read()
    for package in sorted(build_packages):
        if not re.search(rf"(^|\s){re.escape(package)}(\s|$)", deps, flags=re.M):
            fail("Dockerfile", f"build package {package} is not in scripts/install-deps.sh")
    if not re.search(rf"^USER {IMAGE_USER}:{IMAGE_USER}$", runtime, flags=re.M):
        fail("Dockerfile", f"the runtime stage should end as USER {IMAGE_USER}:{IMAGE_USER}")
    if any(lib.endswith("-dev") for lib in runtime_packages):
        fail("Dockerfile", "the runtime stage installs -dev packages")
    targets = set()
    for program, (target, _, _) in PROGRAMS.items():
        if target not in stages:
            fail("Dockerfile", f"no target {target} for {program}")
            continue
        base, text, _ = stages[target]
        targets.add(target)
        if base != "runtime":
            fail("Dockerfile", f"target {target} should be FROM runtime")
        if f"/out/{program} /usr/local/bin/{program}" not in text:
            fail("Dockerfile", f"target {target} does not copy {program} from the build stage")
        if f'ENTRYPOINT ["/usr/local/bin/{program}"]' not in text:
            fail("Dockerfile", f"target {target}: ENTRYPOINT should be /usr/local/bin/{program}")
        if re.search(r"^USER ", text, flags=re.M):
            fail("Dockerfile", f"target {target} changes USER")
        if program not in build:
            fail("Dockerfile", f"the build stage does not install {program}")
    # Packages in every debian:12 image (libc, the C++ runtime, zlib).
    base = {"libc6", "libstdc++6", "libgcc-s1", "zlib1g"}
    needs = []  # (program, library, path)
    for program, binary in sorted(binaries.items()):
        dynamic = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True)
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dynamic.stdout)
        ldd = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
        paths = dict(re.findall(r"^\s*(\S+) => (/\S+)", ldd, flags=re.M))
        needs += [(program, library, paths.get(library, library)) for library in needed]
    packages = packages_of({path for _, _, path in needs})
    for program, library, path in needs:
        package = packages.get(path)
        if package is None:
            fail("Dockerfile", f"{program} needs {library}, which no package provides")
        elif package not in runtime_packages | base:
            fail("Dockerfile", f"{program} needs {library}: add {package} to the runtime stage")
    return targets


def packages_of(paths):
    """The Debian package of each file, by one `dpkg -S` (slow to start, so called once).
    A file may be known under /lib or /usr/lib (merged /usr), or under its real name."""
    aliases = {}
    for path in paths:
        for p in {path, os.path.realpath(path)}:
            aliases[p] = path
            if p.startswith("/usr/lib/"):
                aliases[p[len("/usr"):]] = path
            elif p.startswith("/lib/"):
                aliases["/usr" + p] = path
    result = subprocess.run(["dpkg", "-S"] + sorted(aliases), capture_output=True, text=True)
    packages = {}
    for line in result.stdout.splitlines():
        package, _, file = line.partition(": ")
        if file in aliases:
            packages[aliases[file]] = package.split(":")[0]
    return packages


def check_readme(root, program_flags):
    """Each flag is in the table of its program, or of every service when every service has it
    (common/server_flags.cc); flags common/ defines for some programs only (the store's, in
    common/sql/store_flags.cc) are in each of those programs' tables."""
    text = open(os.path.join(root, "deploy", "README.md")).read()
    sections = dict(re.findall(r"^\*\*([^*\n]+)\*\*[^\n]*\n(.*?)(?=^\*\*|^## |^### |\Z)", text,
                               flags=re.M | re.S))
    services = [flags for program, flags in program_flags.items() if program != "covctl"]
    shared = set.intersection(*(set(flags) for flags in services)) if services else set()
    for program, flags_by_file in sorted(program_flags.items()):
        for path, names in sorted(flags_by_file.items()):
            if "absl/" in path:
                continue
            heading = "every covtrack service" if "common/" in path and path in shared else program
            table = "\n".join(line for line in sections.get(heading, "").splitlines()
                              if line.startswith("|"))
            for flag in sorted(names):
                if f"`--{flag}`" not in table or f"`COVTRACK_{flag.upper()}`" not in table:
                    fail("deploy/README.md", f"the table \"{heading}\" does not document "
                         f"--{flag} / COVTRACK_{flag.upper()} of {program}")


def main():
    root = sys.argv[1]
    binaries = dict(arg.split("=", 1) for arg in sys.argv[2:])
    program_flags = {p: flags_of(b) for p, b in binaries.items() if p in PROGRAMS}
    for program, flags_by_file in program_flags.items():
        check_help(program, binaries[program], flags_by_file)
    for program in PROGRAMS:
        if program not in binaries:
            print(f"note: {program} is not built; its flags are not checked against manifests")
    targets = check_dockerfile(root, binaries)
    for overlay in OVERLAYS:
        check_overlay(root, overlay, program_flags, targets)
    check_readme(root, program_flags)
    for message in failures:
        print("FAIL", message)
    checked = ", ".join(sorted(binaries)) or "none"
    print(f"{len(failures)} problem(s); overlays {', '.join(OVERLAYS)}; programs checked: {checked}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
