#!/usr/bin/env python3
"""Checks deploy/ against the programs it deploys, offline.

For each Kubernetes overlay, renders it with `kubectl kustomize` and checks that every
container has readiness and liveness probes, resources and a non-root security context; that
each covtrack program gets the environment variables for the flags it needs, and only
variables for flags it defines; that ports, probes, Services and peer addresses agree; and the
scaling rules (SQLite: one replica, Recreate; PostgreSQL from a Secret: two or more).
With built programs, also checks that the Dockerfile's runtime stage installs a package for
every shared library they link, and that deploy/README.md documents every flag.

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

PROGRAMS = {
    # program: (port, flags it must be given in Kubernetes)
    "covtrack-ingestion": (50051, {"listen", "store"}),
    "covtrack-aggregation": (50052, {"listen", "ingestion_addr", "redis"}),
    "covtrack-targets": (50053, {"listen", "store", "aggregation_addr"}),
}
OVERLAYS = ("dev", "production")
IMAGE_USER = 10001

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
            current = m.group(1)
            continue
        m = re.match(r"\s+-{1,2}(\w+) \(", line)
        if m and current:
            flags.setdefault(current, set()).add(m.group(1))
    if not flags:
        fail(binary, "--helpfull listed no flags")
    return flags


def own_flags(flags_by_file):
    """Flags defined by covtrack's code, not Abseil's own (--helpfull, --flagfile...)."""
    return {f for path, names in flags_by_file.items() if "absl/" not in path for f in names}


def effective_env(container, objects, where):
    """The container's environment: envFrom ConfigMaps first, then env (which wins)."""
    env = {}
    for source in container.get("envFrom", []):
        name = source.get("configMapRef", {}).get("name")
        cm = objects.get(("ConfigMap", name))
        if cm is None:
            fail(where, f"envFrom ConfigMap {name} is not in the rendered objects")
            continue
        env.update(cm.get("data", {}))
    for var in container.get("env", []):
        env[var["name"]] = var.get("value", var.get("valueFrom"))
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


def service_for(address, objects, where):
    """The Deployment a HOST:PORT address reaches through a Service in the same namespace."""
    m = re.fullmatch(r"([a-z0-9-]+):(\d+)", str(address))
    if not m:
        fail(where, f"address {address!r} is not SERVICE:PORT")
        return None
    service = objects.get(("Service", m.group(1)))
    if service is None:
        fail(where, f"address {address}: no Service named {m.group(1)}")
        return None
    if int(m.group(2)) not in [p["port"] for p in service["spec"]["ports"]]:
        fail(where, f"address {address}: Service {m.group(1)} has no port {m.group(2)}")
    for (kind, name), obj in objects.items():
        if kind == "Deployment" and selects(service["spec"]["selector"], pod_labels(obj)):
            return name
    fail(where, f"Service {m.group(1)} selects no Deployment")
    return None


def check_container(where, pod, container, objects):
    """What every container needs: probes, resources, a locked-down security context."""
    for probe in ("readinessProbe", "livenessProbe"):
        if probe not in container:
            fail(where, f"no {probe}")
    resources = container.get("resources", {})
    for kind, key in (("requests", "cpu"), ("requests", "memory"), ("limits", "memory")):
        if key not in resources.get(kind, {}):
            fail(where, f"no resources.{kind}.{key}")
    security = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    if security.get("runAsNonRoot") is not True or security.get("runAsUser", 0) == 0:
        fail(where, "must run as a non-root user (runAsNonRoot, runAsUser)")
    if security.get("allowPrivilegeEscalation") is not False:
        fail(where, "allowPrivilegeEscalation must be false")
    if security.get("readOnlyRootFilesystem") is not True:
        fail(where, "root filesystem must be read-only")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        volume = volumes.get(mount["name"])
        if volume is None:
            fail(where, f"mounts undefined volume {mount['name']}")
        elif "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]["claimName"]
            if ("PersistentVolumeClaim", claim) not in objects:
                fail(where, f"volume {mount['name']} claims missing PVC {claim}")
    return security


def check_program(where, program, deployment, container, security, objects, program_flags):
    """What a covtrack program's container needs: its flags, ports, peers and shutdown time."""
    pod = deployment["spec"]["template"]["spec"]
    port, required = PROGRAMS[program]
    if security.get("runAsUser") != IMAGE_USER:
        fail(where, f"runAsUser should be the image's user {IMAGE_USER}")
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

    # The server drains for --shutdown_grace (20 s unless set) after SIGTERM; the kubelet must
    # wait longer than that before SIGKILL.
    drain = seconds(str(env.get("COVTRACK_SHUTDOWN_GRACE", "20s")))
    period = pod.get("terminationGracePeriodSeconds", 30)
    if drain is None or period < drain + 10:
        fail(where, f"terminationGracePeriodSeconds {period} leaves too little time after "
             f"the {env.get('COVTRACK_SHUTDOWN_GRACE', '20s')} drain (want drain + 10 s)")

    listen = str(env.get("COVTRACK_LISTEN", ""))
    if not listen.endswith(f":{port}") or listen.startswith("127.") or "localhost" in listen:
        fail(where, f"COVTRACK_LISTEN={listen} should listen on all interfaces, port {port}")
    if [p.get("containerPort") for p in container.get("ports", [])] != [port]:
        fail(where, f"containerPort should be {port}")
    for probe in ("readinessProbe", "livenessProbe"):
        if container.get(probe, {}).get("grpc", {}).get("port") != port:
            fail(where, f"{probe} should be a grpc health probe on port {port}")
    name = deployment["metadata"]["name"]
    service = objects.get(("Service", name))
    if service is None or [p["port"] for p in service["spec"]["ports"]] != [port]:
        fail(where, f"needs a Service {name} on port {port}")
    for var, target in (("COVTRACK_INGESTION_ADDR", "covtrack-ingestion"),
                        ("COVTRACK_AGGREGATION_ADDR", "covtrack-aggregation"),
                        ("COVTRACK_REDIS", "covtrack-redis")):
        if var in env and service_for(env[var], objects, where) != target:
            fail(where, f"{var}={env[var]} does not reach {target}")
        elif var in env and not network_allows(deployment, objects[("Deployment", target)],
                                               objects):
            fail(where, f"a NetworkPolicy keeps {target} from being reached ({var})")
    labels = pod_labels(deployment)
    if not any(kind == "PodDisruptionBudget" and selects(obj["spec"]["selector"]["matchLabels"],
                                                         labels)
               for (kind, _), obj in objects.items()):
        fail(where, "no PodDisruptionBudget")
    check_store(where, deployment, container, env.get("COVTRACK_STORE"))
    return env.get("COVTRACK_STORE")


def check_store(where, deployment, container, store):
    """SQLite: one writer process, on a volume that outlives the pod. Otherwise a Secret."""
    if isinstance(store, str) and store.startswith("sqlite:"):
        replicas = deployment["spec"].get("replicas", 1)
        if replicas != 1 or deployment["spec"].get("strategy", {}).get("type") != "Recreate":
            fail(where, "an SQLite store needs replicas 1 and strategy Recreate")
        path = store[len("sqlite:"):]
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"].get("volumes", [])}
        mounts = [m for m in container.get("volumeMounts", [])
                  if path.startswith(m["mountPath"].rstrip("/") + "/")]
        if not mounts or "persistentVolumeClaim" not in volumes.get(mounts[0]["name"], {}):
            fail(where, f"SQLite file {path} is not on a PersistentVolumeClaim")
    elif store is not None:
        if not (isinstance(store, dict) and "secretKeyRef" in store):
            fail(where, "a non-SQLite COVTRACK_STORE must come from a Secret (secretKeyRef)")


def network_allows(source, target, objects):
    """Whether the NetworkPolicies that select target's pods let source's pods in."""
    policies = [obj for (kind, _), obj in objects.items() if kind == "NetworkPolicy" and
                selects(obj["spec"]["podSelector"].get("matchLabels", {}), pod_labels(target))]
    return not policies or any(
        selects(peer.get("podSelector", {}).get("matchLabels", {}), pod_labels(source))
        for policy in policies for rule in policy["spec"].get("ingress", [])
        for peer in rule.get("from", []))


def pod_labels(deployment):
    return deployment["spec"]["template"]["metadata"]["labels"]


def check_overlay(root, overlay, program_flags):
    objects = {}
    for obj in render(root, overlay):
        objects[(obj["kind"], obj["metadata"]["name"])] = obj
    if not objects:
        return
    seen = {}  # program: (replicas, store)
    for (kind, name), deployment in sorted(objects.items()):
        if kind != "Deployment":
            continue
        pod = deployment["spec"]["template"]["spec"]
        for container in pod["containers"]:
            where = f"{overlay}/{name}/{container['name']}"
            security = check_container(where, pod, container, objects)
            program = (container.get("command") or [""])[0]
            if program in PROGRAMS:
                store = check_program(where, program, deployment, container, security, objects,
                                      program_flags)
                seen[program] = (deployment["spec"].get("replicas", 1), store)
    for program in PROGRAMS:
        if program not in seen:
            fail(overlay, f"no Deployment runs {program}")
    for program, (replicas, store) in seen.items():
        where = f"{overlay}/{program}"
        sqlite = isinstance(store, str) and store.startswith("sqlite:")
        if overlay == "dev" and replicas != 1:
            fail(where, f"dev runs one replica, not {replicas}")
        if overlay == "dev" and store is not None and not sqlite:
            fail(where, "dev stores are SQLite files")
        if overlay == "production":
            if replicas < 2:
                fail(where, f"production runs 2+ replicas, not {replicas}")
            if sqlite:
                fail(where, "production stores are PostgreSQL (from a Secret), not SQLite")


def dockerfile_stages(root):
    text = open(os.path.join(root, "deploy", "docker", "Dockerfile")).read()
    text = text.replace("\\\n", " ")
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    packages = []
    for stage in stages:
        found = set()
        for m in re.finditer(r"apt-get install ([^&\n]*)", stage):
            found |= {w for w in m.group(1).split() if not w.startswith("-")}
        packages.append((stage, found))
    return packages


def check_dockerfile(root, binaries):
    stages = dockerfile_stages(root)
    if len(stages) != 2:
        fail("Dockerfile", f"expected a build stage and a runtime stage, found {len(stages)}")
        return
    (build, build_packages), (runtime, runtime_packages) = stages
    deps = open(os.path.join(root, "scripts", "install-deps.sh")).read()
    for package in sorted(build_packages):
        if not re.search(rf"(^|\s){re.escape(package)}(\s|$)", deps, flags=re.M):
            fail("Dockerfile", f"build package {package} is not in scripts/install-deps.sh")
    for program in list(PROGRAMS) + ["covctl"]:
        if program not in build:
            fail("Dockerfile", f"the build stage does not install {program}")
    if not re.search(rf"^USER {IMAGE_USER}:{IMAGE_USER}$", runtime, flags=re.M):
        fail("Dockerfile", f"the runtime stage should end as USER {IMAGE_USER}:{IMAGE_USER}")
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
    """Each flag is in the table of its program, or of every service when common/ defines it."""
    text = open(os.path.join(root, "deploy", "README.md")).read()
    sections = dict(re.findall(r"^\*\*([^*\n]+)\*\*[^\n]*\n(.*?)(?=^\*\*|^## |\Z)", text,
                               flags=re.M | re.S))
    for program, flags_by_file in sorted(program_flags.items()):
        for path, names in sorted(flags_by_file.items()):
            if "absl/" in path:
                continue
            heading = "every covtrack service" if "common/" in path else program
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
    for program in PROGRAMS:
        if program not in binaries:
            print(f"note: {program} is not built; its flags are not checked against manifests")
    for overlay in OVERLAYS:
        check_overlay(root, overlay, program_flags)
    check_dockerfile(root, binaries)
    check_readme(root, program_flags)
    for message in failures:
        print("FAIL", message)
    checked = ", ".join(sorted(binaries)) or "none"
    print(f"{len(failures)} problem(s); overlays {', '.join(OVERLAYS)}; programs checked: {checked}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
