#!/usr/bin/python3
"""Runs an overlay's pods on this machine, exactly as rendered, and probes them as the kubelet.

For one overlay (dev or prod): renders it with `kubectl kustomize`, adds the objects the
administrator creates by hand (deploy/README.md: the TLS Secrets from deploy/tls/make-certs.sh,
in prod the store passwords and the PostgreSQL CA), and for every covtrack Deployment starts
the real built program with exactly the container's configuration:

- the program: the container's command, else the ENTRYPOINT of the deploy/docker/Dockerfile
  target its image is built from (image covtrack-X: target X), mapped to the built binary;
  args as given; `$(VAR)` references expanded as Kubernetes does;
- the environment: envFrom and env, ConfigMap and Secret references resolved from the rendered
  and administrator objects, nothing else (env -i);
- the filesystem: a root of its own (chroot) with Debian's /usr, a copy of /etc whose hosts file
  maps the cluster's Service names, each volume at its mountPath (Secret and ConfigMap
  volumes as files with their defaultMode, emptyDirs writable) and, with
  readOnlyRootFilesystem, everything else read-only;
- the user: runAsUser, runAsGroup and fsGroup, no new privileges, no capabilities (setpriv);
- the network: a network namespace per pod with its own address, joined to the others by a
  bridge in a "node" namespace from which the probes run, as the kubelet probes a pod's IP.

The pods they call (dev: the in-cluster PostgreSQL and Redis of the overlay, run from
Debian's postgresql-15 and redis-server with the rendered arguments and credentials; prod: an
"external" PostgreSQL with TLS and a Redis at the host names the overlay's ConfigMaps name) run
in namespaces of their own too. One pod is run per Deployment whatever its replicas.

A Job (prod: the schema migrations, run with --migrate_only) runs first, as the administrator
runs it before the Deployments roll (deploy/README.md), and must exit 0 within its
activeDeadlineSeconds.

Then each container must pass its readinessProbe and livenessProbe (grpc: Health/Check with
the probe's service, plaintext, on the probe's port) within a deadline, its metrics port must
answer GET /metrics with 200, and on SIGTERM it must exit 0 within
terminationGracePeriodSeconds.

usage (as root): run_pods.py REPO_ROOT OVERLAY PROGRAM=PATH ...
"""

import base64
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

import yaml

# Seconds for a pod to become ready (its probes would allow about this); shorter in
# check_catches_mistakes.sh, where a pod is expected never to be ready.
PROBE_DEADLINE = float(os.environ.get("COVTRACK_DEPLOY_PROBE_DEADLINE", "30"))
failures = []


def fail(where, message):
    failures.append(f"{where}: {message}")
    print(f"FAIL {where}: {message}", flush=True)


def run(*cmd, check=True, **kw):
    result = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {result.stderr.strip() or result.stdout.strip()}")
    return result


class Cluster:
    """Network namespaces: one "node" with a bridge, one per pod; and their /etc/hosts."""

    def __init__(self, work):
        self.work = work
        self.tag = f"cv{os.getpid() % 100000}"
        self.node = f"{self.tag}-node"
        self.pods = []  # namespace names
        run("ip", "netns", "add", self.node)
        run("ip", "-n", self.node, "link", "set", "lo", "up")
        run("ip", "-n", self.node, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", self.node, "addr", "add", "10.251.0.1/24", "dev", "br0")
        run("ip", "-n", self.node, "link", "set", "br0", "up")

    def add_pod(self, name):
        """A namespace for one pod; returns (namespace, IP). Traffic stays in these namespaces."""
        i = len(self.pods) + 2
        ns = f"{self.tag}-p{i}"
        ip = f"10.251.0.{i}"
        run("ip", "netns", "add", ns)
        self.pods.append(ns)
        veth = f"{self.tag}v{i}"
        run("ip", "link", "add", veth, "netns", self.node, "type", "veth", "peer", "name", "eth0",
            "netns", ns)
        run("ip", "-n", self.node, "link", "set", veth, "master", "br0", "up")
        run("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
        run("ip", "-n", ns, "link", "set", "eth0", "up")
        run("ip", "-n", ns, "link", "set", "lo", "up")
        print(f"pod {name}: network namespace {ns}, {ip}", flush=True)
        return ns, ip

    def close(self):
        for ns in self.pods + [self.node]:
            run("ip", "netns", "del", ns, check=False)


def render(root, overlay):
    result = run("kubectl", "kustomize", os.path.join(root, "deploy", "k8s", "overlays", overlay))
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def secret_yaml(namespace, name, files=None, literals=None, kind="generic", type_=None):
    """A Secret as `kubectl create secret` makes it (the commands of deploy/README.md)."""
    cmd = ["kubectl", "-n", namespace, "create", "secret", kind, name, "--dry-run=client",
           "-o", "yaml"]
    if type_:
        cmd.append(f"--type={type_}")
    cmd += [f"--from-file={k}={v}" for k, v in (files or {}).items()]
    cmd += [f"--from-literal={k}={v}" for k, v in (literals or {}).items()]
    return yaml.safe_load(run(*cmd).stdout)


def referenced_secrets(objects):
    names = set()
    for obj in objects.values():
        pod = pod_spec(obj)
        if not pod:
            continue
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                names.add(volume["secret"]["secretName"])
        for c in pod.get("containers", []):
            for source in c.get("envFrom", []):
                if "secretRef" in source:
                    names.add(source["secretRef"]["name"])
            for var in c.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    names.add(ref["name"])
    return names


def admin_secrets(objects, namespace, work, root):
    """The Secrets deploy/README.md has the administrator create, for those the overlay uses
    and does not generate. Returns {name: Secret}, and the store password chosen."""
    certs = os.path.join(work, "certs")
    run(os.path.join(root, "deploy", "tls", "make-certs.sh"), certs, namespace)
    password = "s3cret-" + base64.b32encode(os.urandom(5)).decode().lower()
    made = {}
    for name in sorted(referenced_secrets(objects)):
        if ("Secret", name) in objects:
            continue
        m = re.fullmatch(r"covtrack-(ingestion|aggregation|targets)-tls", name)
        if m:
            service = m.group(1)
            made[name] = secret_yaml(namespace, name, type_="kubernetes.io/tls", files={
                "tls.crt": f"{certs}/{service}.crt", "tls.key": f"{certs}/{service}.key",
                "ca.crt": f"{certs}/ca.crt"})
        elif re.fullmatch(r"covtrack-(ingestion|targets)-store", name):
            made[name] = secret_yaml(namespace, name, literals={"password": password})
        elif name == "covtrack-postgres-ca":
            made[name] = secret_yaml(namespace, name, files={"ca.crt": f"{certs}/ca.crt"})
        elif name == "covtrack-aggregation-cache":
            made[name] = secret_yaml(namespace, name, literals={
                "redis-password": "redis-" + password,
                "cache-key": base64.b64encode(os.urandom(48)).decode()})
        else:
            fail("manifests", f"Secret {name} is used but neither generated by the overlay nor "
                 "one that deploy/README.md has the administrator create")
    return made, password, certs


def pod_spec(obj):
    if obj.get("kind") in ("Deployment", "StatefulSet", "Job"):
        return obj["spec"]["template"]["spec"]
    return None


def pod_labels(obj):
    return obj["spec"]["template"]["metadata"].get("labels", {})


def data_of(obj):
    """Key -> bytes of a ConfigMap or Secret."""
    out = {k: v.encode() for k, v in (obj.get("data") or {}).items()} if obj["kind"] == "ConfigMap" \
        else {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    out.update({k: v.encode() for k, v in (obj.get("stringData") or {}).items()})
    return out


def expand(value, env):
    """Kubernetes' $(VAR) expansion: defined variables are replaced, $$ is a literal $."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)),
                  value)


def container_env(where, container, objects):
    env = {}

    def lookup(kind, ref, key=None):
        obj = objects.get((kind, ref["name"]))
        if obj is None:
            if not ref.get("optional"):
                fail(where, f"{kind} {ref['name']} does not exist (the pod would not start)")
            return None
        data = data_of(obj)
        if key is None:
            return data
        if key not in data and not ref.get("optional"):
            fail(where, f"{kind} {ref['name']} has no key {key}")
        return data.get(key)

    for source in container.get("envFrom", []):
        for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if field in source:
                data = lookup(kind, source[field]) or {}
                for k, v in data.items():
                    env[source.get("prefix", "") + k] = v.decode()
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = expand(str(var["value"]), env)
            continue
        source = var.get("valueFrom", {})
        for kind, field in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
            if field in source:
                value = lookup(kind, source[field], source[field]["key"])
                if value is not None:
                    env[var["name"]] = value.decode()
        if "fieldRef" in source:
            fail(where, f"env {var['name']}: fieldRef is not emulated by this test")
    return env


def dockerfile_entrypoints(root):
    """Dockerfile target -> ENTRYPOINT list."""
    text = open(os.path.join(root, "deploy", "docker", "Dockerfile")).read()
    entrypoints = {}
    for stage in re.split(r"^FROM ", text, flags=re.M)[1:]:
        m = re.match(r"\S+ AS (\S+)", stage)
        e = re.search(r"^ENTRYPOINT (\[.*\])$", stage, flags=re.M)
        if m and e:
            entrypoints[m.group(1)] = yaml.safe_load(e.group(1))
    return entrypoints


def image_target(image):
    """covtrack-ingestion[:tag], REGISTRY/.../covtrack-ingestion:tag -> "ingestion"."""
    name = image.rsplit("/", 1)[-1].split("@")[0].split(":")[0]
    return name[len("covtrack-"):] if name.startswith("covtrack-") else None


def flags_of(binary):
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVTRACK_")}
    out = run(binary, "--helpfull", check=False, env=env, timeout=30)
    return set(re.findall(r"^\s+-{1,2}(\w+) \(", out.stdout + out.stderr, flags=re.M))


def write_volume(path, data, mode, gid):
    """A Secret or ConfigMap volume: one file per key, root-owned, group fsGroup."""
    os.makedirs(path, exist_ok=True)
    for key, value in data.items():
        file = os.path.join(path, key)
        with open(file, "wb") as f:
            f.write(value)
        os.chown(file, 0, gid if gid is not None else 0)
        os.chmod(file, mode)


class Pods:
    def __init__(self, work, cluster, hosts):
        self.work = work
        self.cluster = cluster
        self.hosts = hosts  # name -> IP
        self.processes = []  # (where, Popen, log path)
        self.stop_actions = []

    def hosts_file(self):
        lines = ["127.0.0.1 localhost"]
        lines += [f"{ip} {name}" for name, ip in sorted(self.hosts.items())]
        return "\n".join(lines) + "\n"

    def start_container(self, where, ns, pod, container, objects, argv, env):
        """Starts argv in a root of its own, as the container's user, in namespace ns."""
        base = os.path.join(self.work, "pods", where.replace("/", "_"))
        root = os.path.join(base, "root")
        os.makedirs(root)
        security = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
        uid = security.get("runAsUser", 0)
        gid = security.get("runAsGroup", uid)
        fs_group = pod.get("securityContext", {}).get("fsGroup")
        groups = sorted({g for g in (gid, fs_group) if g is not None})
        for d in ("usr", "proc", "dev", "tmp"):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        for link, target in (("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64"),
                             ("sbin", "usr/sbin")):
            os.symlink(target, os.path.join(root, link))
        shutil.copytree("/etc", os.path.join(root, "etc"), symlinks=True,
                        ignore_dangling_symlinks=True)
        with open(os.path.join(root, "etc", "hosts"), "w") as f:
            f.write(self.hosts_file())

        script = ["set -e", "mount --make-rprivate /", f"mount --bind {root} {root}",
                  f"mount --rbind /usr {root}/usr", f"mount -o remount,bind,ro {root}/usr",
                  f"mount --rbind /dev {root}/dev", f"mount --rbind /proc {root}/proc",
                  # The image's /usr/local/bin holds only the program.
                  f"mount -t tmpfs -o size=1m,mode=755 tmpfs {root}/usr/local/bin"]
        program = argv[0]
        if program.startswith("/usr/local/bin/"):
            script.append(f"touch {root}{program}")
            script.append(f"mount --bind -o ro {shlex.quote(self.binary_for[program])} "
                          f"{root}{program}")
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for mount in container.get("volumeMounts", []):
            volume = volumes.get(mount["name"])
            if volume is None:
                fail(where, f"volumeMount {mount['name']}: no such volume")
                continue
            source = os.path.join(base, "volumes", mount["name"])
            read_only = mount.get("readOnly", False)
            if "secret" in volume or "configMap" in volume:
                kind, field, key = (("Secret", "secret", "secretName") if "secret" in volume
                                    else ("ConfigMap", "configMap", "name"))
                spec = volume[field]
                obj = objects.get((kind, spec[key]))
                if obj is None:
                    fail(where, f"volume {mount['name']}: {kind} {spec[key]} does not exist")
                    continue
                data = data_of(obj)
                if "items" in spec:
                    data = {i["path"]: data[i["key"]] for i in spec["items"]}
                write_volume(source, data, spec.get("defaultMode", 0o644), fs_group)
                read_only = True  # the kubelet always mounts these read-only
            elif "emptyDir" in volume:
                os.makedirs(source, exist_ok=True)
                os.chown(source, 0, fs_group if fs_group is not None else 0)
                os.chmod(source, 0o2777 if fs_group is None else 0o2775)
            else:
                fail(where, f"volume {mount['name']}: only secret, configMap and emptyDir are "
                     "emulated")
                continue
            target = root + mount["mountPath"]
            script.append(f"mkdir -p {shlex.quote(target)}")
            script.append(f"mount --bind {shlex.quote(source)} {shlex.quote(target)}")
            if read_only:
                script.append(f"mount -o remount,bind,ro {shlex.quote(target)}")
        if security.get("readOnlyRootFilesystem"):
            script.append(f"mount -o remount,bind,ro {root}")
        setpriv = ["setpriv", f"--reuid={uid}", f"--regid={gid}",
                   "--groups=" + ",".join(map(str, groups)) if groups else "--clear-groups"]
        if security.get("allowPrivilegeEscalation") is False:
            setpriv.append("--no-new-privs")
        if "ALL" in security.get("capabilities", {}).get("drop", []):
            setpriv += ["--inh-caps=-all", "--bounding-set=-all"]
        workdir = container.get("workingDir", "/")
        command = (["chroot", root] + setpriv +
                   ["--", "env", "-i", "-C", workdir] + [f"{k}={v}" for k, v in env.items()] +
                   argv)
        script.append("exec " + " ".join(shlex.quote(a) for a in command))
        script_path = os.path.join(base, "start.sh")
        with open(script_path, "w") as f:
            f.write("\n".join(script) + "\n")
        log = os.path.join(base, "log")
        # ip netns exec, unshare and sh all exec: the Popen pid is the program's.
        process = subprocess.Popen(
            ["ip", "netns", "exec", ns, "unshare", "--mount", "--propagation", "private", "sh",
             script_path], stdout=open(log, "wb"), stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        self.processes.append((where, process, log))
        return process, log

    def stop_all(self):
        for _, process, _ in self.processes:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            process.wait()
        for action in reversed(self.stop_actions):
            action()


def tail(log, lines=15):
    try:
        return "\n".join(open(log, errors="replace").read().splitlines()[-lines:])
    except OSError:
        return ""


def probe(cluster, stubs, where, ip, pid, spec, log):
    """One probe of a container, from the node namespace; True when it passes."""
    timeout = spec.get("timeoutSeconds", 1)
    if "grpc" in spec:
        port = spec["grpc"]["port"]
        service = spec["grpc"].get("service", "")
        result = run("ip", "netns", "exec", cluster.node, "/usr/bin/python3",
                     os.path.join(os.path.dirname(__file__), "health_probe.py"), stubs, "grpc",
                     ip, str(port), service, str(timeout), str(PROBE_DEADLINE), str(pid),
                     check=False, timeout=PROBE_DEADLINE + 30)
        answer = (result.stdout.strip() or result.stderr.strip()).splitlines()
        answer = answer[-1] if answer else "(nothing)"
        if result.returncode != 0:
            return False, f"grpc Health/Check(service={service!r}) on {ip}:{port}: {answer}"
        return True, f"grpc Health/Check(service={service!r}) on port {port}: {answer}"
    return False, f"probe {sorted(spec)} is not a grpc probe"


def wait_exec(ns, command, deadline, env=None):
    """Runs command in namespace ns until it succeeds; with env, in that environment only (as
    the kubelet runs an exec probe in the container's)."""
    end = time.monotonic() + deadline
    prefix = ["env", "-i"] + [f"{k}={v}" for k, v in env.items()] if env is not None else []
    while True:
        result = run("ip", "netns", "exec", ns, *prefix, *command, check=False)
        if result.returncode == 0:
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.2)


def start_postgres(work, ns, ip, port, users, ssl_cert=None):
    """A throw-away PostgreSQL 15 listening on ip:port inside ns, with password logins only.
    users: [(user, password, database)]; the first user is the superuser initdb makes."""
    pg_bin = sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1]
    pg_bin = f"/usr/lib/postgresql/{pg_bin}/bin"
    base = os.path.join(work, f"pg-{ns}")
    os.makedirs(base)
    shutil.chown(base, "postgres", "postgres")
    os.chmod(base, 0o700)
    first_user, first_password, _ = users[0]
    pwfile = os.path.join(base, "pw")
    with open(pwfile, "w") as f:
        f.write(first_password + "\n")
    shutil.chown(pwfile, "postgres", "postgres")
    as_pg = ["runuser", "-u", "postgres", "--"]
    run(*as_pg, f"{pg_bin}/initdb", "-D", f"{base}/data", "-U", first_user,
        f"--pwfile={pwfile}", "-A", "scram-sha-256", "--no-sync", "-E", "UTF8",
        "--locale=C.UTF-8")
    hba = "local all all scram-sha-256\n"
    hba += ("hostssl" if ssl_cert else "host") + " all all 0.0.0.0/0 scram-sha-256\n"
    with open(f"{base}/data/pg_hba.conf", "w") as f:
        f.write(hba)
    options = (f"-p {port} -c listen_addresses={ip},127.0.0.1 -c unix_socket_directories={base} "
               "-c fsync=off")
    if ssl_cert:
        cert, key = ssl_cert
        for src, name in ((cert, "server.crt"), (key, "server.key")):
            shutil.copy(src, f"{base}/{name}")
            shutil.chown(f"{base}/{name}", "postgres", "postgres")
            os.chmod(f"{base}/{name}", 0o600)
        options += f" -c ssl=on -c ssl_cert_file={base}/server.crt -c ssl_key_file={base}/server.key"
    run("ip", "netns", "exec", ns, *as_pg, f"{pg_bin}/pg_ctl", "-D", f"{base}/data", "-l",
        f"{base}/log", "-o", options, "-w", "-t", "30", "start")
    env = {**os.environ, "PGPASSWORD": first_password}
    for user, password, database in users:
        psql = ["ip", "netns", "exec", ns, "psql", "-v", "ON_ERROR_STOP=1", "-q", "-h", base,
                "-p", str(port), "-U", first_user, "-d", "postgres", "-c"]
        if user != first_user:
            quoted = password.replace("'", "''")
            run(*psql, f"CREATE ROLE \"{user}\" LOGIN PASSWORD '{quoted}'", env=env)
        run(*psql, f"CREATE DATABASE \"{database}\" OWNER \"{user}\"", env=env)

    def stop():
        run("ip", "netns", "exec", ns, *as_pg, f"{pg_bin}/pg_ctl", "-D", f"{base}/data", "-m",
            "immediate", "-w", "stop", check=False)
    return stop


def start_redis(work, ns, args, port, pods, where):
    data = os.path.join(work, f"redis-{ns}")
    os.makedirs(data)
    # The official image's entrypoint runs redis-server with the container's args, adding
    # --protected-mode no when no configuration file is given.
    log = os.path.join(data, "log")
    process = subprocess.Popen(
        ["ip", "netns", "exec", ns, "redis-server", "--port", str(port), "--bind", "0.0.0.0",
         "--protected-mode", "no", "--dir", data] + args,
        stdout=open(log, "wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True)
    pods.processes.append((where, process, log))
    return process


def main():
    root, overlay = sys.argv[1], sys.argv[2]
    binaries = dict(a.split("=", 1) for a in sys.argv[3:])
    if os.geteuid() != 0:
        print("FAIL: run_pods.py needs root (network namespaces, mounts, chroot)")
        return 1
    for tool in ("ip", "unshare", "setpriv", "chroot", "kubectl", "openssl", "redis-server",
                 "psql", "protoc", "grpc_python_plugin", "runuser"):
        if shutil.which(tool) is None:
            print(f"FAIL: {tool} is missing (scripts/install-deps.sh installs it)")
            return 1
    work = tempfile.mkdtemp(prefix=f"deploy-pods-{overlay}.", dir=os.environ.get("TEST_TMPDIR"))
    os.chmod(work, 0o755)  # the postgres user works inside
    cluster = None
    pods = None
    started = time.monotonic()
    try:
        # The gRPC health client's stubs, from Debian's grpc-proto.
        stubs = os.path.join(work, "stubs")
        os.makedirs(stubs)
        shutil.copy("/usr/share/grpc-proto/grpc/health/v1/health.proto", stubs)
        run("protoc", f"-I{stubs}", f"--python_out={stubs}", f"--grpc_out={stubs}",
            "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin", f"{stubs}/health.proto")

        rendered = render(root, overlay)
        namespace = next((o["metadata"]["name"] for o in rendered if o["kind"] == "Namespace"),
                         "default")
        objects = {(o["kind"], o["metadata"]["name"]): o for o in rendered}
        made, password, certs = admin_secrets(objects, namespace, work, root)
        objects.update({("Secret", name): obj for name, obj in made.items()})
        if failures:
            return 1

        entrypoints = dockerfile_entrypoints(root)
        workloads = sorted((name, obj) for (kind, name), obj in objects.items() if pod_spec(obj))
        cluster = Cluster(work)
        ips = {}
        for name, _ in workloads:
            ips[name] = cluster.add_pod(name)
        # Service DNS names -> the IP of the (one) pod each selects.
        hosts = {}
        for (kind, name), service in objects.items():
            if kind != "Service":
                continue
            selector = service["spec"].get("selector", {})
            chosen = [w for w, obj in workloads
                      if all(pod_labels(obj).get(k) == v for k, v in selector.items())]
            if len(chosen) != 1:
                fail(f"Service {name}", f"selects {len(chosen)} workloads: {chosen}")
                continue
            for alias in (name, f"{name}.{namespace}", f"{name}.{namespace}.svc",
                          f"{name}.{namespace}.svc.cluster.local"):
                hosts[alias] = ips[chosen[0]][1]
        pods = Pods(work, cluster, hosts)
        pods.binary_for = {}

        # Plan the covtrack containers first: their configuration names the external hosts.
        plans = []
        job_plans = []
        for name, obj in workloads:
            pod = pod_spec(obj)
            for container in pod["containers"]:
                where = f"{overlay}/{name}/{container['name']}"
                target = image_target(container["image"])
                if target not in entrypoints:
                    continue
                env = container_env(where, container, objects)
                entry = container.get("command") or entrypoints[target]
                argv = [expand(a, env) for a in entry + container.get("args", [])]
                program = os.path.basename(argv[0])
                if program not in binaries:
                    fail(where, f"{program} (from the image's ENTRYPOINT or command) is not built")
                    continue
                pods.binary_for[argv[0]] = binaries[program]
                (job_plans if obj["kind"] == "Job" else plans).append(
                    (where, name, pod, container, env, argv, program))
        external = {}  # host -> (kind, port, details)
        for where, _, _, _, env, _, _ in plans + job_plans:
            store = env.get("COVTRACK_STORE", "")
            if store.startswith("postgres"):
                url = urllib.parse.urlsplit(store)
                external.setdefault((url.hostname, url.port or 5432, "postgresql"), []).append(
                    (url.username, env.get("PGPASSWORD", ""), url.path.lstrip("/"),
                     urllib.parse.parse_qs(url.query).get("sslmode", [""])[0]))
            if env.get("COVTRACK_REDIS"):
                host, port = env["COVTRACK_REDIS"].rsplit(":", 1)
                external.setdefault((host, int(port), "redis"), [])
        outside = {k: v for k, v in external.items() if k[0] not in hosts}
        if overlay == "dev" and outside:
            fail("dev", f"names servers outside the cluster: {sorted(k[0] for k in outside)}")
        if outside:
            # The administrator's external PostgreSQL and Redis, in a namespace of their own.
            ext_ns, ext_ip = cluster.add_pod("external servers")
            for host, port, kind in outside:
                hosts[host] = ext_ip
            pg_users = []
            for (host, port, kind), logins in sorted(outside.items()):
                if kind == "postgresql":
                    ssl = None
                    if any(mode in ("require", "verify-ca", "verify-full") for *_, mode in logins):
                        ssl = server_cert(certs, host)
                    users = [("postgres", "superuser-" + password, "postgres-admin")] + \
                        sorted({(u, p, d) for u, p, d, _ in logins})
                    pods.stop_actions.append(start_postgres(work, ext_ns, ext_ip, port, users, ssl))
                    print(f"external PostgreSQL at {host}:{port} (TLS: {bool(ssl)}), databases "
                          f"{[d for _, _, d in users[1:]]}", flush=True)
                else:
                    # With the password of the administrator's Secret (requirepass).
                    cache = objects.get(("Secret", "covtrack-aggregation-cache"))
                    redis_password = data_of(cache).get("redis-password", b"").decode() \
                        if cache else ""
                    args = ["--requirepass", redis_password] if redis_password else []
                    start_redis(work, ext_ns, args, port, pods, f"external redis {host}")
                    if not wait_exec(ext_ns, ["redis-cli", "-h", ext_ip, "-p", str(port), "ping"],
                                     PROBE_DEADLINE, {"REDISCLI_AUTH": redis_password}):
                        fail("external redis", "did not start")
                    print(f"external Redis at {host}:{port}", flush=True)

        # The overlay's own non-covtrack pods (dev: PostgreSQL, Redis), from their images' ways.
        for name, obj in workloads:
            pod = pod_spec(obj)
            for container in pod["containers"]:
                if image_target(container["image"]) in entrypoints:
                    continue
                where = f"{overlay}/{name}/{container['name']}"
                ns, ip = ips[name]
                env = container_env(where, container, objects)
                port = container["ports"][0]["containerPort"]
                image = container["image"].split(":")[0]
                if image == "postgres":
                    user = env.get("POSTGRES_USER", "postgres")
                    pods.stop_actions.append(start_postgres(
                        work, ns, ip, port,
                        [(user, env["POSTGRES_PASSWORD"], env.get("POSTGRES_DB", user))]))
                elif image == "redis":
                    start_redis(work, ns, [expand(a, env) for a in container.get("args", [])],
                                port, pods, where)
                else:
                    fail(where, f"image {container['image']} is not emulated by this test")
                    continue
                probe_spec = container.get("readinessProbe", {})
                if "exec" in probe_spec:
                    # Run in the pod's network namespace, as the kubelet runs it in the container.
                    command = probe_spec["exec"]["command"]
                    if not wait_exec(ns, command, PROBE_DEADLINE, env):
                        fail(where, f"readinessProbe {command} did not pass")
                    else:
                        print(f"{where}: ready ({' '.join(probe_spec['exec']['command'])})",
                              flush=True)

        # The Jobs (schema migrations) first, each to completion, as deploy/README.md says.
        for where, name, pod, container, env, argv, program in job_plans:
            ns, ip = ips[name]
            print(f"{where}: {' '.join(argv)} (Job)", flush=True)
            process, log = pods.start_container(where, ns, pod, container, objects, argv, env)
            deadline = objects[("Job", name)]["spec"].get("activeDeadlineSeconds", 120)
            try:
                code = process.wait(timeout=min(deadline, 120))
            except subprocess.TimeoutExpired:
                fail(where, f"the Job did not complete within {min(deadline, 120)} s\n{tail(log)}")
                continue
            if code != 0:
                fail(where, f"the Job exited {code}\n{tail(log)}")
            else:
                print(f"{where}: completed (exit 0): {tail(log, 3).strip()}", flush=True)

        # The covtrack pods, exactly as configured.
        for where, name, pod, container, env, argv, program in plans:
            ns, ip = ips[name]
            shown = {k: ("***" if k == "PGPASSWORD" else v) for k, v in sorted(env.items())}
            print(f"{where}: {' '.join(argv)} with {shown}", flush=True)
            known = flags_of(binaries[program])
            for var in sorted(env):
                if var.startswith("COVTRACK_") and var[9:].lower() not in known:
                    fail(where, f"{var} names no flag of {program}; the program would ignore it")
            pods.start_container(where, ns, pod, container, objects, argv, env)

        metrics_flag = {p: "metrics_listen" in flags_of(b) for p, b in binaries.items()}
        for where, name, pod, container, env, argv, program in plans:
            ns, ip = ips[name]
            process = next(p for w, p, _ in pods.processes if w == where)
            log = next(l for w, _, l in pods.processes if w == where)
            for kind in ("readinessProbe", "livenessProbe"):
                spec = container.get(kind)
                if spec is None:
                    fail(where, f"no {kind}")
                    continue
                ok, message = probe(cluster, stubs, where, ip, process.pid, spec, log)
                if ok:
                    print(f"{where}: {kind} passed: {message}", flush=True)
                else:
                    fail(where, f"{kind} failed: {message}\n--- its log:\n{tail(log)}")
                    break
            ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
            if "metrics" not in ports:
                fail(where, "no container port named metrics")
            elif not metrics_flag.get(program):
                print(f"SKIP {where}: {program} has no --metrics_listen yet; GET /metrics not "
                      "checked", flush=True)
            else:
                result = run("ip", "netns", "exec", cluster.node, "/usr/bin/python3",
                             os.path.join(os.path.dirname(__file__), "health_probe.py"), stubs,
                             "http", ip, str(ports["metrics"]), "/metrics", "5", check=False)
                if result.returncode != 0:
                    fail(where, f"GET /metrics on port {ports['metrics']}: {result.stdout.strip()}")
                else:
                    print(f"{where}: GET /metrics: {result.stdout.strip()}", flush=True)

        # SIGTERM: each must drain and exit 0 within terminationGracePeriodSeconds.
        for where, name, pod, container, env, argv, program in reversed(plans):
            process = next(p for w, p, _ in pods.processes if w == where)
            log = next(l for w, _, l in pods.processes if w == where)
            if process.poll() is not None:
                fail(where, f"exited early with status {process.returncode}\n{tail(log)}")
                continue
            process.send_signal(signal.SIGTERM)
            grace = pod.get("terminationGracePeriodSeconds", 30)
            try:
                code = process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                fail(where, f"still running {grace} s after SIGTERM (the kubelet would SIGKILL)")
                continue
            if code != 0:
                fail(where, f"exited {code} after SIGTERM\n{tail(log)}")
            else:
                print(f"{where}: exited 0 after SIGTERM", flush=True)
    finally:
        if pods:
            pods.stop_all()
        if cluster:
            cluster.close()
        # --one-file-system: never follow a mount, should one be left.
        run("rm", "-rf", "--one-file-system", work, check=False)
    print(f"{len(failures)} problem(s); overlay {overlay}; {time.monotonic() - started:.1f} s")
    return 1 if failures else 0


def server_cert(certs, host):
    """A certificate for the external PostgreSQL, signed by the test CA (covtrack-postgres-ca)."""
    key, csr, crt = (os.path.join(certs, f"postgres.{ext}") for ext in ("key", "csr", "crt"))
    ext = os.path.join(certs, "postgres.ext")
    with open(ext, "w") as f:
        f.write(f"subjectAltName=DNS:{host}\nextendedKeyUsage=serverAuth\n")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
        "-subj", f"/CN={host}")
    run("openssl", "x509", "-req", "-in", csr, "-CA", f"{certs}/ca.crt", "-CAkey",
        f"{certs}/ca.key", "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", crt)
    return crt, key


def interrupted(signum, frame):
    # ctest's timeout or ^C: leave through main's finally, which stops every pod.
    raise SystemExit(f"interrupted by signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    sys.exit(main())
