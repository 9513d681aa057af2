#!/usr/bin/python3
"""What the kubelet does for a probe, run from the test's "node" network namespace.

  health_probe.py STUBS grpc HOST PORT SERVICE TIMEOUT DEADLINE PID
      grpc.health.v1.Health/Check(service) over plaintext gRPC, each call with TIMEOUT
      seconds, repeated until it answers SERVING (exit 0), the DEADLINE in seconds passes or
      process PID is gone (exit 1). Prints the last answer or error.
  health_probe.py STUBS http HOST PORT PATH TIMEOUT
      one HTTP GET; exit 0 on status 200, printing the first line of the body.

STUBS: the folder with health_pb2.py and health_pb2_grpc.py generated from
/usr/share/grpc-proto/grpc/health/v1/health.proto.
"""

import os
import sys
import time
import urllib.request


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def grpc_probe(host, port, service, timeout, deadline, pid):
    import grpc
    import health_pb2
    import health_pb2_grpc

    end = time.monotonic() + deadline
    last = "no answer yet"
    while True:
        with grpc.insecure_channel(f"{host}:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            try:
                answer = stub.Check(health_pb2.HealthCheckRequest(service=service),
                                    timeout=timeout)
                last = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    print(last)
                    return 0
            except grpc.RpcError as e:
                last = f"{e.code().name}: {e.details()}"
        if time.monotonic() > end or not alive(pid):
            print(last if alive(pid) else f"{last} (the process exited)")
            return 1
        time.sleep(0.2)  # the kubelet's period is seconds; polling faster only saves time


def http_probe(host, port, path, timeout):
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=timeout) as answer:
            body = answer.read().decode("utf-8", "replace")
            print(f"HTTP {answer.status}: {(body.splitlines() or [''])[0]}")
            return 0 if answer.status == 200 else 1
    except Exception as e:  # noqa: BLE001 - any failure is the answer
        print(f"GET {path}: {e}")
        return 1


def main():
    sys.path.insert(0, sys.argv[1])
    kind = sys.argv[2]
    if kind == "grpc":
        host, port, service, timeout, deadline, pid = sys.argv[3:9]
        return grpc_probe(host, int(port), service, float(timeout), float(deadline), int(pid))
    host, port, path, timeout = sys.argv[3:7]
    return http_probe(host, int(port), path, float(timeout))


if __name__ == "__main__":
    os.environ.pop("http_proxy", None)
    os.environ.pop("HTTP_PROXY", None)
    sys.exit(main())
