#!/usr/bin/python3
"""A Python client, generated from proto/ at test time, against the three real services.

What a client author in another language would do, step by step: generate the stubs with
Debian's protoc and grpc_python_plugin (exactly the commands in proto/covtrack/v1/README.md),
start covtrack-ingestion, covtrack-aggregation and covtrack-targets as processes on loopback
(SQLite stores and an in-process cache in a throw-away folder), wait for each one's
grpc.health.v1 check to say SERVING, then load thành phố Mỹ Tho's 2023 figures (DOMAIN.md's
worked example: 14 communes of district 815, Tiền Giang 82) and read them back through all three
services, down to the Vietnamese paragraph the README quotes. Every call has a deadline; the
processes are stopped on every exit path, and die with this script if it is killed.

Run by ctest (tests/clients/CMakeLists.txt) with Debian's /usr/bin/python3, which has
python3-grpcio and python3-protobuf (scripts/install-deps.sh installs them).
"""

import argparse
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

import grpc  # Debian: python3-grpcio (the generated code also needs python3-protobuf)

SERVICES = None  # the running services, set in main()
# The generated modules, imported by main() once protoc has written them.
common_pb2 = ingestion_service_pb2 = ingestion_service_pb2_grpc = None
aggregation_service_pb2 = aggregation_service_pb2_grpc = None
target_service_pb2 = target_service_pb2_grpc = health_pb2 = health_pb2_grpc = None

CALL_TIMEOUT = 10.0  # seconds: the deadline of every RPC
START_TIMEOUT = 20.0  # seconds for a service to answer SERVING
OVERALL_TIMEOUT = 60  # seconds: the whole script, below ctest's TIMEOUT

# Thành phố Mỹ Tho, 31/12/2023 (shared/DOMAIN.md; tests/fixtures/coverage_fixtures.h).
PROVINCE = ("82", "Tỉnh Tiền Giang", "Tỉnh")
DISTRICT = ("815", "Thành phố Mỹ Tho", "Thành phố")
# From data/vn-admin-units/units_2025-03-01.csv (parent_code 815).
COMMUNES = [
    ("28249", "Phường 5", "Phường"), ("28252", "Phường 4", "Phường"),
    ("28261", "Phường 1", "Phường"), ("28264", "Phường 2", "Phường"),
    ("28270", "Phường 6", "Phường"), ("28273", "Phường 9", "Phường"),
    ("28276", "Phường 10", "Phường"), ("28279", "Phường Tân Long", "Phường"),
    ("28282", "Xã Đạo Thạnh", "Xã"), ("28285", "Xã Trung An", "Xã"),
    ("28288", "Xã Mỹ Phong", "Xã"), ("28291", "Xã Tân Mỹ Chánh", "Xã"),
    ("28567", "Xã Phước Thạnh", "Xã"), ("28591", "Xã Thới Sơn", "Xã"),
]
VALID_TO = "2025-07-01"  # districts were abolished on 2025-07-01
MONTH = "2023-12"
YEAR = 2023
HEALTH = 207717
COMPULSORY = 35458
VOLUNTARY = 2031
POPULATION = 231000
LABOR_FORCE = 124100
# README.md and tests/targets/targets_integration_test.cc quote this paragraph.
MY_THO_REPORT = (
    "Tính đến 31/12/2023, thành phố Mỹ Tho có "
    "37.489 người tham gia BHXH, bằng 30,2% lực lượng lao động trong độ tuổi, "
    "vượt 1,3% chỉ tiêu (chỉ tiêu 28,9%); "
    "35.458 người tham gia BHXH bắt buộc, bằng 28,6% lực lượng lao động trong độ tuổi; "
    "2.031 người tham gia BHXH tự nguyện, bằng 1,6% lực lượng lao động trong độ tuổi; "
    "207.717 người tham gia BHYT, đạt tỷ lệ bao phủ 89,9% dân số, "
    "vượt 0,9% chỉ tiêu (chỉ tiêu 89,0%).")


def split_total(total, weights):
    """Whole parts of `total` in proportion to `weights` that add up to exactly `total`."""
    parts = [total * w // sum(weights) for w in weights]
    by_remainder = sorted(range(len(weights)), key=lambda i: -(total * weights[i] % sum(weights)))
    for i in by_remainder[:total - sum(parts)]:
        parts[i] += 1
    assert sum(parts) == total
    return parts


# Uneven, deterministic commune sizes; any positive weights give the published totals.
WEIGHTS = [10 + (i * 37 + 3) % 23 for i in range(len(COMMUNES))]
VOLUNTARY_WEIGHTS = [10 + (i * 37 + 11) % 23 for i in range(len(COMMUNES))]


def generate_client(source_dir, out):
    """Generates the Python stubs into `out` and makes them importable."""
    os.makedirs(out)
    proto_dir = os.path.join(source_dir, "proto")
    protos = sorted(os.path.join(proto_dir, "covtrack", "v1", f)
                    for f in os.listdir(os.path.join(proto_dir, "covtrack", "v1"))
                    if f.endswith(".proto"))
    # health.proto is compiled from its own folder, so that it becomes the top-level module
    # health_pb2: generated as grpc/health/v1/health_pb2.py it would be hidden by the installed
    # grpc package.
    health_dir = "/usr/share/grpc-proto/grpc/health/v1"
    command = ["protoc", "-I", proto_dir, "-I", health_dir,
               "--python_out=" + out, "--grpc_out=" + out,
               "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin",
               *protos, os.path.join(health_dir, "health.proto")]
    subprocess.run(command, check=True, timeout=60)
    sys.path.insert(0, out)


def free_port():
    """A port nothing listens on right now (the kernel's choice for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_channel(address):
    # No HTTP proxy for loopback, whatever the environment says.
    return grpc.insecure_channel(address, options=[("grpc.enable_http_proxy", 0)])


class Service:
    """One service process, its address and its log file."""

    def __init__(self, name, binary, flags, work_dir):
        self.name = name
        self.binary = binary
        self.flags = flags
        self.log_path = os.path.join(work_dir, name + ".log")
        self.process = None
        self.address = None
        self.channel = None

    def start(self, extra_flags=()):
        """Starts the service on a free port and waits until its health check says SERVING."""
        # A port found free can be taken by someone else before the service binds it (the
        # service then exits: it refuses a port in use); try again with another.
        for _ in range(3):
            self.address = "127.0.0.1:%d" % free_port()
            # The services read COVTRACK_<FLAG> variables: none from the caller's environment.
            env = {k: v for k, v in os.environ.items() if not k.startswith("COVTRACK_")}
            with open(self.log_path, "ab") as log:
                # setpriv --pdeathsig: the service is killed if this script dies, even by SIGKILL.
                self.process = subprocess.Popen(
                    ["setpriv", "--pdeathsig", "KILL", self.binary, "--listen=" + self.address,
                     "--shutdown_grace=2s", *self.flags, *extra_flags],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
            self.channel = new_channel(self.address)
            if self.wait_serving():
                return
            self.stop()
        raise AssertionError("%s exited at start three times; log: %s\n%s"
                             % (self.name, self.log_path, self.log_tail()))

    def wait_serving(self):
        """Polls the health check until SERVING. False if the process exited first."""
        # Its own channel, which retries a refused connection within 100 ms instead of gRPC's
        # default backoff of 1 s and more (which would add seconds to every start).
        channel = grpc.insecure_channel(self.address, options=[
            ("grpc.enable_http_proxy", 0), ("grpc.initial_reconnect_backoff_ms", 50),
            ("grpc.min_reconnect_backoff_ms", 50), ("grpc.max_reconnect_backoff_ms", 100)])
        stub = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    return False
                try:
                    answer = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=0.5,
                                        wait_for_ready=True)
                    if answer.status == health_pb2.HealthCheckResponse.SERVING:
                        return True
                except grpc.RpcError:
                    pass  # not listening yet: wait_for_ready held the call for 0.5 s
        finally:
            channel.close()
        raise AssertionError("%s did not answer SERVING within %.0f s; log: %s\n%s"
                             % (self.name, START_TIMEOUT, self.log_path, self.log_tail()))

    def stop(self):
        """SIGTERM, then SIGKILL if it is still running after 8 s. Returns the exit code."""
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=8)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


class Services:
    """The three services, each with its own SQLite store or in-process cache in work_dir."""

    def __init__(self, args):
        work = args.work_dir
        self.ingestion = Service("ingestion", args.ingestion,
                                 ["--store=sqlite:" + os.path.join(work, "ingestion.db")], work)
        self.aggregation = Service("aggregation", args.aggregation, ["--redis="], work)
        self.targets = Service("targets", args.targets,
                               ["--store=sqlite:" + os.path.join(work, "targets.db")], work)
        self.all = [self.ingestion, self.aggregation, self.targets]

    def start(self):
        self.ingestion.start()
        self.aggregation.start(["--ingestion_addr=" + self.ingestion.address])
        self.targets.start(["--aggregation_addr=" + self.aggregation.address,
                            "--ingestion_addr=" + self.ingestion.address])

    def stop(self):
        """Stops the callers first; returns {name: exit code}."""
        return {s.name: s.stop() for s in reversed(self.all)}


def status_code_of(call):
    """Calls; returns (status code, details) of the error it must end with."""
    try:
        call()
    except grpc.RpcError as error:
        return error.code(), error.details()
    raise AssertionError("the call succeeded; an error was expected")


def unit(code, name, unit_type, level, parent):
    return common_pb2.AdminUnit(code=code, name=name, level=level, type=unit_type,
                                parent_code=parent, valid_to=VALID_TO)


def my_tho_units():
    units = [unit(*PROVINCE, common_pb2.ADMIN_LEVEL_PROVINCE, ""),
             unit(*DISTRICT, common_pb2.ADMIN_LEVEL_DISTRICT, PROVINCE[0])]
    units += [unit(*c, common_pb2.ADMIN_LEVEL_COMMUNE, DISTRICT[0]) for c in COMMUNES]
    return units


def commune_figures():
    """{scheme or denominator kind: [value per commune]}, adding up to the published totals."""
    return {
        common_pb2.SCHEME_HEALTH: split_total(HEALTH, WEIGHTS),
        common_pb2.SCHEME_COMPULSORY_SOCIAL: split_total(COMPULSORY, WEIGHTS),
        common_pb2.SCHEME_VOLUNTARY_SOCIAL: split_total(VOLUNTARY, VOLUNTARY_WEIGHTS),
        "population": split_total(POPULATION, WEIGHTS),
        "labor_force": split_total(LABOR_FORCE, WEIGHTS),
    }


def scheme_of(message, scheme):
    found = [s for s in message.schemes if s.scheme == scheme]
    if len(found) != 1:
        raise AssertionError("scheme %s appears %d times in %s"
                             % (common_pb2.Scheme.Name(scheme), len(found), message))
    return found[0]


class PythonClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ingestion = ingestion_service_pb2_grpc.IngestionServiceStub(SERVICES.ingestion.channel)
        cls.aggregation = aggregation_service_pb2_grpc.AggregationServiceStub(
            SERVICES.aggregation.channel)
        cls.targets = target_service_pb2_grpc.TargetServiceStub(SERVICES.targets.channel)

    def test_health_check_of_each_service(self):
        # The servers report their overall status (service ""); they register no per-service
        # names, so any other name is NOT_FOUND.
        for service in SERVICES.all:
            stub = health_pb2_grpc.HealthStub(service.channel)
            answer = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=CALL_TIMEOUT)
            self.assertEqual(answer.status, health_pb2.HealthCheckResponse.SERVING, service.name)
            code, _ = status_code_of(lambda: stub.Check(
                health_pb2.HealthCheckRequest(service="covtrack.v1.NoSuchService"),
                timeout=CALL_TIMEOUT))
            self.assertEqual(code, grpc.StatusCode.NOT_FOUND, service.name)

    def test_my_tho_2023_through_all_three_services(self):
        units = my_tho_units()
        figures = commune_figures()
        codes = [c[0] for c in COMMUNES]

        # --- ingestion: units ---
        imported = self.ingestion.ImportAdminUnits(
            ingestion_service_pb2.ImportAdminUnitsRequest(units=units, request_id="py-my-tho-units"),
            timeout=CALL_TIMEOUT)
        self.assertEqual((imported.units_accepted, imported.units_changed), (16, 16))
        self.assertGreater(imported.change_seq, 0)
        self.assertFalse(imported.replayed)
        retried = self.ingestion.ImportAdminUnits(
            ingestion_service_pb2.ImportAdminUnitsRequest(units=units, request_id="py-my-tho-units"),
            timeout=CALL_TIMEOUT)
        self.assertTrue(retried.replayed)
        self.assertEqual(retried.change_seq, imported.change_seq)

        # Paged: 14 communes in pages of 5.
        listed, token, pages = [], "", 0
        while True:
            page = self.ingestion.ListAdminUnits(
                ingestion_service_pb2.ListAdminUnitsRequest(
                    parent_code="815", as_of="2024-12-31", page_size=5, page_token=token),
                timeout=CALL_TIMEOUT)
            listed += page.units
            pages += 1
            token = page.next_page_token
            if not token or pages > 10:
                break
        self.assertEqual(pages, 3)
        self.assertEqual([(u.code, u.name, u.type) for u in listed], sorted(COMMUNES))
        self.assertTrue(all(u.level == common_pb2.ADMIN_LEVEL_COMMUNE and u.parent_code == "815"
                            and u.valid_to == VALID_TO for u in listed))
        # As of a date after the 2025 reform, the old district is gone.
        after_reform = self.ingestion.ListAdminUnits(
            ingestion_service_pb2.ListAdminUnitsRequest(code="815", as_of="2025-08-01"),
            timeout=CALL_TIMEOUT)
        self.assertEqual(list(after_reform.units), [])

        # --- ingestion: a preliminary figure for one commune, then the final report ---
        preliminary_value = figures[common_pb2.SCHEME_HEALTH][0] - 100
        preliminary = self.ingestion.SubmitReport(
            ingestion_service_pb2.SubmitReportRequest(
                request_id="py-my-tho-2023-12-preliminary", source="BHXH thành phố Mỹ Tho",
                records=[common_pb2.ParticipationRecord(
                    unit_code=codes[0], month=MONTH, scheme=common_pb2.SCHEME_HEALTH,
                    participants=preliminary_value)]),
            timeout=CALL_TIMEOUT)
        self.assertEqual((preliminary.records_accepted, preliminary.records_changed), (1, 1))
        self.assertGreater(preliminary.change_seq, imported.change_seq)
        # Read-your-writes: the read carries the write's change_seq as its token
        # (proto/covtrack/v1/README.md), and the answer says the seq it reflects.
        coverage = self.aggregation.GetCoverage(
            aggregation_service_pb2.GetCoverageRequest(
                unit_code="815", period="2023", schemes=[common_pb2.SCHEME_HEALTH],
                freshness=common_pb2.Freshness(at_least_seq=preliminary.change_seq)),
            timeout=CALL_TIMEOUT)
        self.assertEqual(scheme_of(coverage, common_pb2.SCHEME_HEALTH).participants,
                         preliminary_value)
        self.assertGreaterEqual(coverage.reflects_seq, preliminary.change_seq)

        records = [common_pb2.ParticipationRecord(unit_code=code, month=MONTH, scheme=scheme,
                                                  participants=figures[scheme][i])
                   for scheme in (common_pb2.SCHEME_HEALTH, common_pb2.SCHEME_COMPULSORY_SOCIAL,
                                  common_pb2.SCHEME_VOLUNTARY_SOCIAL)
                   for i, code in enumerate(codes)]
        denominators = [common_pb2.DenominatorRecord(unit_code=code, year=YEAR, kind=kind,
                                                     value=figures[key][i])
                        for kind, key in ((common_pb2.DENOMINATOR_KIND_POPULATION, "population"),
                                          (common_pb2.DENOMINATOR_KIND_LABOR_FORCE, "labor_force"))
                        for i, code in enumerate(codes)]
        report_request = ingestion_service_pb2.SubmitReportRequest(
            request_id="py-my-tho-2023-12", source="BHXH tỉnh Tiền Giang", records=records,
            denominators=denominators)
        submitted = self.ingestion.SubmitReport(report_request, timeout=CALL_TIMEOUT)
        self.assertEqual((submitted.records_accepted, submitted.records_changed), (42, 42))
        self.assertEqual((submitted.denominators_accepted, submitted.denominators_changed),
                         (28, 28))
        self.assertGreater(submitted.change_seq, preliminary.change_seq)
        head = self.ingestion.GetChangeHead(ingestion_service_pb2.GetChangeHeadRequest(),
                                            timeout=CALL_TIMEOUT)
        self.assertEqual(head.seq, submitted.change_seq)
        replayed = self.ingestion.SubmitReport(report_request, timeout=CALL_TIMEOUT)
        self.assertTrue(replayed.replayed)
        self.assertEqual(replayed.change_seq, submitted.change_seq)
        # Every figure read below carries the last write's token.
        written = common_pb2.Freshness(at_least_seq=submitted.change_seq)

        # The audit trail keeps both values of the revised figure, oldest first, with who sent
        # them.
        revisions = self.ingestion.ListRevisions(
            ingestion_service_pb2.ListRevisionsRequest(
                unit_code=codes[0], month=MONTH, scheme=common_pb2.SCHEME_HEALTH),
            timeout=CALL_TIMEOUT).revisions
        self.assertEqual([r.participation.participants for r in revisions],
                         [preliminary_value, figures[common_pb2.SCHEME_HEALTH][0]])
        self.assertEqual([r.request_id for r in revisions],
                         ["py-my-tho-2023-12-preliminary", "py-my-tho-2023-12"])
        self.assertEqual([r.source for r in revisions],
                         ["BHXH thành phố Mỹ Tho", "BHXH tỉnh Tiền Giang"])
        self.assertEqual([r.change_seq for r in revisions],
                         [preliminary.change_seq, submitted.change_seq])
        for r in revisions:
            self.assertIn("127.0.0.1", r.peer)
            self.assertGreater(r.commit_time.seconds, 1700000000)
        # Without filters the unit's denominators are listed too.
        all_revisions = self.ingestion.ListRevisions(
            ingestion_service_pb2.ListRevisionsRequest(unit_code=codes[1]),
            timeout=CALL_TIMEOUT).revisions
        self.assertEqual(sorted((r.denominator.kind, r.denominator.value) for r in all_revisions
                                if r.WhichOneof("value") == "denominator"),
                         [(common_pb2.DENOMINATOR_KIND_POPULATION, figures["population"][1]),
                          (common_pb2.DENOMINATOR_KIND_LABOR_FORCE, figures["labor_force"][1])])

        # --- aggregation: the district's coverage, read after the write ---
        # The caller's x-request-id names the request in every service's log, and comes back
        # in the response's initial metadata.
        coverage, call = self.aggregation.GetCoverage.with_call(
            aggregation_service_pb2.GetCoverageRequest(unit_code="815", period="2023",
                                                       freshness=written),
            timeout=CALL_TIMEOUT, metadata=[("x-request-id", "py-client-coverage-815")])
        self.assertIn(("x-request-id", "py-client-coverage-815"), call.initial_metadata())
        self.assertEqual(coverage.unit.name, "Thành phố Mỹ Tho")
        self.assertEqual(coverage.as_of_month, MONTH)
        self.assertEqual(sorted(s.scheme for s in coverage.schemes),
                         [common_pb2.SCHEME_COMPULSORY_SOCIAL, common_pb2.SCHEME_VOLUNTARY_SOCIAL,
                          common_pb2.SCHEME_HEALTH, common_pb2.SCHEME_UNEMPLOYMENT,
                          common_pb2.SCHEME_SOCIAL])
        expected = {  # scheme: (participants, denominator kind, denominator)
            common_pb2.SCHEME_HEALTH: (HEALTH, common_pb2.DENOMINATOR_KIND_POPULATION, POPULATION),
            common_pb2.SCHEME_COMPULSORY_SOCIAL:
                (COMPULSORY, common_pb2.DENOMINATOR_KIND_LABOR_FORCE, LABOR_FORCE),
            common_pb2.SCHEME_VOLUNTARY_SOCIAL:
                (VOLUNTARY, common_pb2.DENOMINATOR_KIND_LABOR_FORCE, LABOR_FORCE),
            common_pb2.SCHEME_SOCIAL:
                (COMPULSORY + VOLUNTARY, common_pb2.DENOMINATOR_KIND_LABOR_FORCE, LABOR_FORCE),
        }
        for scheme, (participants, kind, denominator) in expected.items():
            s = scheme_of(coverage, scheme)
            name = common_pb2.Scheme.Name(scheme)
            self.assertEqual(s.participants, participants, name)
            self.assertEqual(s.denominator_kind, kind, name)
            self.assertTrue(s.HasField("denominator"), name)
            self.assertEqual(s.denominator, denominator, name)
            self.assertTrue(s.HasField("coverage_percent"), name)
            self.assertAlmostEqual(s.coverage_percent, 100.0 * participants / denominator,
                                   places=9, msg=name)
            self.assertEqual(s.as_of_month, MONTH, name)
            self.assertEqual((s.reporting_units, s.expected_units), (14, 14), name)
            self.assertEqual(s.units_missing_denominator, 0, name)
            # No in-province split was reported: absent, not zero.
            self.assertFalse(s.HasField("in_province_participants"), name)
        self.assertEqual(round(scheme_of(coverage, common_pb2.SCHEME_HEALTH).coverage_percent, 1),
                         89.9)
        self.assertEqual(round(scheme_of(coverage, common_pb2.SCHEME_SOCIAL).coverage_percent, 1),
                         30.2)
        unemployment = scheme_of(coverage, common_pb2.SCHEME_UNEMPLOYMENT)
        self.assertEqual((unemployment.participants, unemployment.as_of_month), (0, ""))
        # Nothing was reported for 2022: the comparison claims no change.
        last_year = scheme_of(coverage, common_pb2.SCHEME_HEALTH).same_period_last_year
        self.assertEqual(last_year.period, "2022")
        self.assertFalse(last_year.HasField("participants_change"))

        # One commune: its own figures. The province (one district here): the district's.
        commune = self.aggregation.GetCoverage(
            aggregation_service_pb2.GetCoverageRequest(
                unit_code=codes[5], period=MONTH, schemes=[common_pb2.SCHEME_HEALTH],
                freshness=written),
            timeout=CALL_TIMEOUT)
        s = scheme_of(commune, common_pb2.SCHEME_HEALTH)
        self.assertEqual((s.participants, s.denominator),
                         (figures[common_pb2.SCHEME_HEALTH][5], figures["population"][5]))
        self.assertAlmostEqual(s.coverage_percent,
                               100.0 * figures[common_pb2.SCHEME_HEALTH][5]
                               / figures["population"][5], places=9)
        province = self.aggregation.GetCoverage(
            aggregation_service_pb2.GetCoverageRequest(
                unit_code="82", period="2023-Q4", schemes=[common_pb2.SCHEME_SOCIAL],
                freshness=written),
            timeout=CALL_TIMEOUT)
        self.assertEqual(scheme_of(province, common_pb2.SCHEME_SOCIAL).participants,
                         COMPULSORY + VOLUNTARY)

        # The communes listed under the district add up to it.
        listed = self.aggregation.ListCoverage(
            aggregation_service_pb2.ListCoverageRequest(
                parent_code="815", period="2023", scheme=common_pb2.SCHEME_HEALTH,
                order_by=aggregation_service_pb2.COVERAGE_ORDER_COVERAGE_ASCENDING,
                page_size=100, freshness=written),
            timeout=CALL_TIMEOUT)
        self.assertGreaterEqual(listed.reflects_seq, submitted.change_seq)
        self.assertEqual(sorted(c.unit.code for c in listed.coverages), codes)
        self.assertEqual(listed.next_page_token, "")
        health = [scheme_of(c, common_pb2.SCHEME_HEALTH) for c in listed.coverages]
        self.assertEqual(sum(s.participants for s in health), HEALTH)
        self.assertEqual(sum(s.denominator for s in health), POPULATION)
        rates = [s.coverage_percent for s in health]
        self.assertEqual(rates, sorted(rates))

        # --- targets: DOMAIN.md's targets, the achievement and the paragraph ---
        def set_target(scheme, value, request_id):
            return self.targets.SetTarget(
                target_service_pb2.SetTargetRequest(
                    request_id=request_id,
                    target=target_service_pb2.Target(
                        unit_code="815", scheme=scheme, year=YEAR,
                        kind=target_service_pb2.TARGET_KIND_COVERAGE_PERCENT, value=value,
                        assigned_by="UBND tỉnh Tiền Giang",
                        decision_ref="Quyết định số 123/QĐ-UBND")),
                timeout=CALL_TIMEOUT)

        stored = set_target(common_pb2.SCHEME_HEALTH, 89.0, "py-my-tho-health-2023")
        self.assertEqual((stored.revision, stored.value, stored.basis),
                         (1, 89.0, target_service_pb2.TARGET_BASIS_ALL_PARTICIPANTS))
        self.assertGreater(stored.update_time.seconds, 1700000000)
        self.assertEqual(set_target(common_pb2.SCHEME_SOCIAL, 28.9, "py-my-tho-social-2023")
                         .revision, 1)
        # A retry stores nothing new.
        self.assertEqual(set_target(common_pb2.SCHEME_HEALTH, 89.0, "py-my-tho-health-2023")
                         .revision, 1)

        # The target service passes the token on to aggregation.
        achievement = self.targets.GetAchievement(
            target_service_pb2.GetAchievementRequest(unit_code="815", period="2023",
                                                     freshness=written),
            timeout=CALL_TIMEOUT)
        self.assertGreaterEqual(achievement.reflects_seq, submitted.change_seq)
        self.assertEqual(achievement.as_of_month, MONTH)
        health = scheme_of(achievement, common_pb2.SCHEME_HEALTH)
        self.assertEqual(health.status, target_service_pb2.ACHIEVEMENT_STATUS_MET)
        self.assertEqual(health.actual_participants, HEALTH)
        self.assertAlmostEqual(health.actual_coverage_percent, 100.0 * HEALTH / POPULATION, 9)
        self.assertAlmostEqual(health.points_vs_target, 100.0 * HEALTH / POPULATION - 89.0, 9)
        self.assertAlmostEqual(health.achievement_percent,
                               100.0 * (100.0 * HEALTH / POPULATION) / 89.0, 6)
        self.assertEqual(health.participants_to_target, 0)
        social = scheme_of(achievement, common_pb2.SCHEME_SOCIAL)
        self.assertEqual(social.status, target_service_pb2.ACHIEVEMENT_STATUS_MET)
        self.assertEqual(round(social.points_vs_target, 1), 1.3)
        self.assertEqual(scheme_of(achievement, common_pb2.SCHEME_UNEMPLOYMENT).status,
                         target_service_pb2.ACHIEVEMENT_STATUS_NO_TARGET)

        report = self.targets.GetReport(
            target_service_pb2.GetReportRequest(unit_code="815", period="2023",
                                                freshness=written),
            timeout=CALL_TIMEOUT)
        self.assertEqual(report.text, MY_THO_REPORT)

        # A coverage target one point above the actual rate: not met, and the people still
        # needed are ceil(target% × population / 100) − actual.
        above = round(100.0 * HEALTH / POPULATION + 1.0, 1)
        self.assertEqual(set_target(common_pb2.SCHEME_HEALTH, above, "py-my-tho-health-2023-r2")
                         .revision, 2)
        achievement = self.targets.GetAchievement(
            target_service_pb2.GetAchievementRequest(
                unit_code="815", period="2023", schemes=[common_pb2.SCHEME_HEALTH],
                freshness=written),
            timeout=CALL_TIMEOUT)
        health = scheme_of(achievement, common_pb2.SCHEME_HEALTH)
        self.assertEqual(health.status, target_service_pb2.ACHIEVEMENT_STATUS_BEHIND)
        self.assertEqual(health.participants_to_target,
                         math.ceil(above * POPULATION / 100) - HEALTH)

    def test_ingestion_rejects_bad_records_naming_the_field(self):
        # Its own units (huyện Mai Sơn, Sơn La), so that this test depends on no other.
        units = [common_pb2.AdminUnit(code="14", name="Tỉnh Sơn La", type="Tỉnh",
                                      level=common_pb2.ADMIN_LEVEL_PROVINCE, valid_to=VALID_TO),
                 common_pb2.AdminUnit(code="125", name="Huyện Mai Sơn", type="Huyện",
                                      level=common_pb2.ADMIN_LEVEL_DISTRICT, parent_code="14",
                                      valid_to=VALID_TO),
                 common_pb2.AdminUnit(code="04105", name="Thị trấn Hát Lót", type="Thị trấn",
                                      level=common_pb2.ADMIN_LEVEL_COMMUNE, parent_code="125",
                                      valid_to=VALID_TO)]
        self.ingestion.ImportAdminUnits(
            ingestion_service_pb2.ImportAdminUnitsRequest(units=units, request_id="py-mai-son-units"),
            timeout=CALL_TIMEOUT)
        head = self.ingestion.GetChangeHead(ingestion_service_pb2.GetChangeHeadRequest(),
                                            timeout=CALL_TIMEOUT).seq

        good = common_pb2.ParticipationRecord(unit_code="04105", month=MONTH,
                                              scheme=common_pb2.SCHEME_COMPULSORY_SOCIAL,
                                              participants=1200, in_province_participants=1100)
        bad = common_pb2.ParticipationRecord(unit_code="04105", month=MONTH,
                                             scheme=common_pb2.SCHEME_HEALTH,
                                             participants=1100, in_province_participants=1200)
        code, details = status_code_of(lambda: self.ingestion.SubmitReport(
            ingestion_service_pb2.SubmitReportRequest(request_id="py-bad-1", records=[good, bad]),
            timeout=CALL_TIMEOUT))
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("records[1].in_province_participants", details)

        code, details = status_code_of(lambda: self.ingestion.SubmitReport(
            ingestion_service_pb2.SubmitReportRequest(
                request_id="py-bad-2", records=[common_pb2.ParticipationRecord(
                    unit_code="99999", month=MONTH, scheme=common_pb2.SCHEME_HEALTH,
                    participants=5)]),
            timeout=CALL_TIMEOUT))
        self.assertIn(code, (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT))
        self.assertIn("records[0].unit_code", details)
        self.assertIn("99999", details)

        code, details = status_code_of(lambda: self.ingestion.SubmitReport(
            ingestion_service_pb2.SubmitReportRequest(
                request_id="py-bad-3", records=[common_pb2.ParticipationRecord(
                    unit_code="04105", month=MONTH, scheme=common_pb2.SCHEME_SOCIAL,
                    participants=5)]),
            timeout=CALL_TIMEOUT))
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("records[0].scheme", details)

        # All or nothing: the good record of the first request was not stored either.
        self.assertEqual(self.ingestion.GetChangeHead(
            ingestion_service_pb2.GetChangeHeadRequest(), timeout=CALL_TIMEOUT).seq, head)
        self.assertEqual(list(self.ingestion.ListRevisions(
            ingestion_service_pb2.ListRevisionsRequest(unit_code="04105", month=MONTH),
            timeout=CALL_TIMEOUT).revisions), [])

        # The same request id with different content.
        self.ingestion.SubmitReport(
            ingestion_service_pb2.SubmitReportRequest(request_id="py-mai-son-1", records=[good]),
            timeout=CALL_TIMEOUT)
        changed = common_pb2.ParticipationRecord()
        changed.CopyFrom(good)
        changed.participants += 1
        code, _ = status_code_of(lambda: self.ingestion.SubmitReport(
            ingestion_service_pb2.SubmitReportRequest(request_id="py-mai-son-1", records=[changed]),
            timeout=CALL_TIMEOUT))
        self.assertEqual(code, grpc.StatusCode.ALREADY_EXISTS)

    def test_aggregation_rejects_unknown_unit_and_bad_period(self):
        code, details = status_code_of(lambda: self.aggregation.GetCoverage(
            aggregation_service_pb2.GetCoverageRequest(unit_code="99", period="2023"),
            timeout=CALL_TIMEOUT))
        self.assertEqual(code, grpc.StatusCode.NOT_FOUND)
        self.assertIn("99", details)
        code, details = status_code_of(lambda: self.aggregation.GetCoverage(
            aggregation_service_pb2.GetCoverageRequest(unit_code="VN", period="2023-13"),
            timeout=CALL_TIMEOUT))
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("period", details)

    def test_targets_rejects_bad_target_naming_the_field(self):
        code, details = status_code_of(lambda: self.targets.SetTarget(
            target_service_pb2.SetTargetRequest(
                request_id="py-bad-target",
                target=target_service_pb2.Target(
                    unit_code="815", scheme=common_pb2.SCHEME_HEALTH, year=YEAR,
                    kind=target_service_pb2.TARGET_KIND_COVERAGE_PERCENT, value=120)),
            timeout=CALL_TIMEOUT))
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("target.value", details)
        code, details = status_code_of(lambda: self.targets.SetTarget(
            target_service_pb2.SetTargetRequest(
                target=target_service_pb2.Target(
                    unit_code="815", scheme=common_pb2.SCHEME_HEALTH, year=YEAR,
                    kind=target_service_pb2.TARGET_KIND_COVERAGE_PERCENT, value=90)),
            timeout=CALL_TIMEOUT))
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("request_id", details)
        # Nothing was stored by either.
        listed = self.targets.ListTargets(
            target_service_pb2.ListTargetsRequest(unit_code="815", year=YEAR,
                                                  scheme=common_pb2.SCHEME_HEALTH,
                                                  include_revisions=True),
            timeout=CALL_TIMEOUT)
        self.assertNotIn(120, [t.value for t in listed.targets])
        self.assertNotIn(90, [t.value for t in listed.targets])


def on_overall_timeout(signum, frame):
    # unittest would catch an exception raised here and go on with the next test: stop
    # everything instead.
    print("FAILED: the test ran longer than %d s; stopping the services" % OVERALL_TIMEOUT,
          flush=True)
    if SERVICES is not None:
        SERVICES.stop()
        for s in SERVICES.all:
            print("--- %s log (%s), last lines:\n%s" % (s.name, s.log_path, s.log_tail()))
    sys.stdout.flush()
    os._exit(1)


def main():
    global SERVICES
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source_dir", required=True, help="the covtrack source tree")
    parser.add_argument("--ingestion", required=True, help="covtrack-ingestion binary")
    parser.add_argument("--aggregation", required=True, help="covtrack-aggregation binary")
    parser.add_argument("--targets", required=True, help="covtrack-targets binary")
    parser.add_argument("--work_dir", required=True,
                        help="emptied, then holds the generated client, the stores and the logs")
    parser.add_argument("tests", nargs="*", help="test method names (default: all)")
    args = parser.parse_args()

    signal.signal(signal.SIGALRM, on_overall_timeout)
    signal.alarm(OVERALL_TIMEOUT)
    # ctest stops a test past its TIMEOUT: SIGTERM too must reach the `finally` below.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit("stopped by SIGTERM"))

    started = time.monotonic()
    shutil.rmtree(args.work_dir, ignore_errors=True)
    os.makedirs(args.work_dir)
    generate_client(args.source_dir, os.path.join(args.work_dir, "gen"))
    global common_pb2, ingestion_service_pb2, ingestion_service_pb2_grpc
    global aggregation_service_pb2, aggregation_service_pb2_grpc
    global target_service_pb2, target_service_pb2_grpc, health_pb2, health_pb2_grpc
    from covtrack.v1 import (aggregation_service_pb2, aggregation_service_pb2_grpc, common_pb2,
                             ingestion_service_pb2, ingestion_service_pb2_grpc,
                             target_service_pb2, target_service_pb2_grpc)
    import health_pb2
    import health_pb2_grpc

    SERVICES = Services(args)
    ok = False
    codes = {}
    try:
        SERVICES.start()
        print("serving after %.1f s: %s" % (
            time.monotonic() - started,
            ", ".join("%s %s" % (s.name, s.address) for s in SERVICES.all)), flush=True)
        loader = unittest.defaultTestLoader
        suite = (loader.loadTestsFromNames(["PythonClientTest." + t for t in args.tests],
                                           sys.modules[__name__])
                 if args.tests else loader.loadTestsFromTestCase(PythonClientTest))
        ok = unittest.TextTestRunner(verbosity=2).run(suite).wasSuccessful()
    finally:
        signal.alarm(0)
        codes = SERVICES.stop()
        if not ok:
            for s in SERVICES.all:
                print("--- %s log (%s), last lines:\n%s" % (s.name, s.log_path, s.log_tail()))
    # SIGTERM is how a service is meant to be stopped: it drains and exits 0.
    bad_exits = {name: code for name, code in codes.items() if code != 0}
    if bad_exits:
        print("FAILED: exit codes after SIGTERM: %s" % bad_exits)
        ok = False
    print("%s in %.1f s" % ("passed" if ok else "FAILED", time.monotonic() - started))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
