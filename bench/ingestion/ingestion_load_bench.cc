// Loads one national month (every commune, four schemes) through StreamReports into SQLite and
// into PostgreSQL, and beside each the baseline: the same rows written by a minimal program
// straight into the same engine, one prepared INSERT per row, in one transaction, into a new
// empty table of the same shape as the store's participation table (the same columns and the
// same primary key, month first: kBaselineTable), with the store's durability settings.
// Before each timed load of the system, the month's measures are stored (untimed), so that the
// checks of health records against stored payer groups run as they do in a store with measures.
// Prints records per second for both and their ratio, for each of --rounds rounds (the system
// and the baseline alternate, so both see the same machine noise), and the median ratio.
//
//   build/bench/ingestion/ingestion_load_bench [--month=2024-12] [--rounds=3] [--postgres=URL]
//       [--history=DIR --month=2025-01]
//
// --postgres is an admin URL of a running server (scripts/test-servers.sh start prints one);
// the benchmark creates its own databases there. Without it only SQLite is measured.
//
// --history adds a third load each round: the same month into a store that already holds ten
// years of national history (2015-2024: every commune, four schemes, 4,824,960 records, and the
// denominators of every year), so that the ratio history / empty shows whether a write's cost
// grows with what the store holds. Generating that history takes minutes, so it is built once
// and reused: a SQLite file DIR/ten_years.db (copied for each round) and a PostgreSQL database
// covtrack_ten_years (--history_db) on the --postgres server (each round's store is created from
// it as a template). The month must come after 2024, so that it adds rows as it does into an
// empty store. A base made by an older schema is migrated once, when the benchmark starts (the
// time it took is printed: the migration's cost at ten years). With history, each round also
// inserts the same rows raw into the participation table of another copy of the history (same
// engine, rows and table, ten years in it): the baseline's rate where the system's is measured.
#include <grpcpp/grpcpp.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "common/server.h"
#include "common/sql/database.h"
#include "services/ingestion/ingestion_service.h"
#include "services/ingestion/ingestion_store.h"
#include "services/ingestion/schema.h"
#include "tools/sampledata/sample_data.h"
#include "tools/sampledata/sample_measures.h"

ABSL_FLAG(std::string, month, "2024-12", "the national month to load");
ABSL_FLAG(int, rounds, 3, "how many times to run the system and the baseline");
ABSL_FLAG(int, batch, 5000, "records per StreamReports message");
ABSL_FLAG(std::string, postgres, "", "admin URL of a PostgreSQL server; empty: SQLite only");
ABSL_FLAG(std::string, history, "",
          "folder of the ten-year SQLite base (built there once when missing); empty: no load "
          "into ten years of history");
ABSL_FLAG(std::string, history_db, "covtrack_ten_years",
          "the PostgreSQL database of the ten-year base (built once when missing)");

namespace covtrack {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "ingestion_load_bench: " << what << "\n";
  std::exit(1);
}

std::string DatabaseUrl(const std::string& admin_url, const std::string& name) {
  return absl::StrCat(admin_url.substr(0, admin_url.rfind('/') + 1), name);
}

// Runs one statement as the admin; the rows of a query's first column.
std::vector<std::string> Admin(const std::string& admin_url, const std::string& sql) {
  PGconn* conn = PQconnectdb(admin_url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    Die(absl::StrCat("cannot connect to ", admin_url));
  }
  PGresult* result = PQexec(conn, sql.c_str());
  if (PQresultStatus(result) != PGRES_COMMAND_OK && PQresultStatus(result) != PGRES_TUPLES_OK) {
    Die(absl::StrCat(sql, ": ", PQerrorMessage(conn)));
  }
  std::vector<std::string> rows;
  for (int i = 0; i < PQntuples(result); ++i) {
    rows.push_back(PQgetvalue(result, i, 0));
  }
  PQclear(result);
  PQfinish(conn);
  return rows;
}

// A new database on the server, empty or a copy of `template_name`; returns its URL.
std::string NewPostgresDatabase(const std::string& admin_url, const std::string& name,
                                const std::string& template_name = "") {
  Admin(admin_url, absl::StrCat("DROP DATABASE IF EXISTS ", name));
  Admin(admin_url, absl::StrCat("CREATE DATABASE ", name,
                                template_name.empty() ? "" : " TEMPLATE " + template_name));
  return DatabaseUrl(admin_url, name);
}

constexpr int kHistoryFirstYear = 2015;
constexpr int kHistoryLastYear = 2024;

// Writes ten years of national history into the store at `url` straight through IngestionStore
// (no gRPC: only the result matters here): the catalogue, then one report per month, then one
// per year of denominators.
void BuildHistory(const std::string& url, const sampledata::SampleData& sample) {
  Clock::time_point start = Clock::now();
  auto db = sql::Database::Open(url);
  if (!db.ok()) {
    Die(std::string(db.status().message()));
  }
  auto store = ingestion::IngestionStore::Create(db->get());
  if (!store.ok()) {
    Die(std::string(store.status().message()));
  }
  const ingestion::Sender sender{"bench", "bench"};
  v1::ImportAdminUnitsRequest catalogue;
  catalogue.set_request_id("catalogue");
  for (const auto& u : sample.units()) {
    *catalogue.add_units() = u;
  }
  if (auto imported = (*store)->ImportAdminUnits(catalogue, sender); !imported.ok()) {
    Die(std::string(imported.status().message()));
  }
  int64_t records = 0;
  for (int year = kHistoryFirstYear; year <= kHistoryLastYear; ++year) {
    for (int m = 1; m <= 12; ++m) {
      const Month month{year, m};
      auto rows = sample.Records({"VN"}, month, month);
      if (!rows.ok()) {
        Die(std::string(rows.status().message()));
      }
      v1::SubmitReportRequest report;
      report.set_request_id(absl::StrCat("history-", month.ToString()));
      for (auto& r : *rows) {
        *report.add_records() = std::move(r);
      }
      if (auto done = (*store)->SubmitReport(report, sender); !done.ok()) {
        Die(std::string(done.status().message()));
      }
      records += report.records_size();
    }
    auto denominators = sample.Denominators({"VN"}, year, year);
    if (!denominators.ok()) {
      Die(std::string(denominators.status().message()));
    }
    v1::SubmitReportRequest report;
    report.set_request_id(absl::StrCat("history-denominators-", year));
    for (auto& d : *denominators) {
      *report.add_denominators() = std::move(d);
    }
    if (auto done = (*store)->SubmitReport(report, sender); !done.ok()) {
      Die(std::string(done.status().message()));
    }
    std::printf("  history: %d written (%lld records so far, %.0f s)\n", year,
                static_cast<long long>(records), Seconds(start));
    std::fflush(stdout);
  }
}

// Brings a history base to this binary's schema (once after a schema change; then a no-op),
// and says what it applied and how long it took.
void Migrate(const std::string& url) {
  auto db = sql::Database::Open(url);
  if (!db.ok()) {
    Die(std::string(db.status().message()));
  }
  Clock::time_point start = Clock::now();
  sql::MigrationReport report;
  if (auto migrated = (*db)->Migrate("ingestion", ingestion::IngestionMigrations(), &report);
      !migrated.ok()) {
    Die(std::string(migrated.message()));
  }
  std::printf("history base: %s (%.1f s)\n",
              sql::DescribeMigration("ingestion", "at ten years", report).c_str(), Seconds(start));
  std::fflush(stdout);
}

// DIR/ten_years.db, built when missing (into a temporary name first, so that an interrupted
// build is never taken for a whole one).
std::string SqliteHistory(const std::string& dir, const sampledata::SampleData& sample) {
  const std::string path = absl::StrCat(dir, "/ten_years.db");
  if (!std::filesystem::exists(path)) {
    const std::string partial = absl::StrCat(dir, "/ten_years.partial.db");
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(partial + suffix);
    }
    std::printf("building ten years of national history into %s (once)\n", path.c_str());
    BuildHistory(absl::StrCat("sqlite:", partial), sample);  // closed: the WAL is checkpointed
    std::filesystem::rename(partial, path);
  }
  Migrate(absl::StrCat("sqlite:", path));  // closed: the WAL is checkpointed
  return path;
}

// The database covtrack_ten_years on the server, built when missing (as
// covtrack_ten_years_partial, renamed when whole).
std::string PostgresHistory(const std::string& admin_url, const sampledata::SampleData& sample) {
  const std::string name = absl::GetFlag(FLAGS_history_db);
  if (Admin(admin_url, absl::StrCat("SELECT datname FROM pg_database WHERE datname = '", name, "'"))
          .empty()) {
    std::printf("building ten years of national history into PostgreSQL %s (once)\n", name.c_str());
    const std::string partial = name + "_partial";
    BuildHistory(NewPostgresDatabase(admin_url, partial), sample);
    Admin(admin_url, absl::StrCat("ALTER DATABASE ", partial, " RENAME TO ", name));
  }
  Migrate(DatabaseUrl(admin_url, name));
  return name;
}

// The system: a real ingestion service on loopback, a client streaming the month in batches.
// Every timed load starts with nothing of the previous steps left to write back: on a slow disk,
// the write-back of a fresh 700 MB copy of the history, behind the load's own fsyncs, had cost
// the load most of its time.
void Quiesce() { sync(); }

// After a load into ten years of history, the reads the issue bounds, through the same service:
// ExportData of everything (what a replica loads at start), and ListRevisions of one commune
// (the median of 21 calls). Printed, not compared: they have no baseline.
void TimeReads(v1::IngestionService::Stub& stub, const std::string& store, const std::string& unit,
               Month last) {
  Clock::time_point start = Clock::now();
  grpc::ClientContext context;
  v1::ExportDataRequest request;  // every month and year the store holds
  request.set_from_month(absl::StrCat(kHistoryFirstYear, "-01"));
  request.set_to_month(last.ToString());
  request.set_from_year(kHistoryFirstYear);
  request.set_to_year(last.year);
  auto reader = stub.ExportData(&context, request);
  v1::ExportDataResponse chunk;
  int64_t rows = 0;
  while (reader->Read(&chunk)) {
    rows += chunk.records_size() + chunk.denominators_size();
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) {
    Die(status.error_message());
  }
  const double export_seconds = Seconds(start);
  std::vector<double> ms;
  int revisions = 0;
  for (int i = 0; i < 21; ++i) {
    v1::ListRevisionsRequest list;
    list.set_unit_code(unit);
    list.set_page_size(1000);
    v1::ListRevisionsResponse response;
    grpc::ClientContext call;
    Clock::time_point begin = Clock::now();
    if (grpc::Status listed = stub.ListRevisions(&call, list, &response); !listed.ok()) {
      Die(listed.error_message());
    }
    ms.push_back(Seconds(begin) * 1000);
    revisions = response.revisions_size();
  }
  std::sort(ms.begin(), ms.end());
  std::printf(
      "%-10s ten years: ExportData of everything %lld rows in %.1f s (%.0f rows/s); "
      "ListRevisions of commune %s (%d revisions) median %.2f ms\n",
      store.c_str(), static_cast<long long>(rows), export_seconds, rows / export_seconds,
      unit.c_str(), revisions, ms[ms.size() / 2]);
  std::fflush(stdout);
}

// Before each timed load the store receives the month's measures (untimed): SubmitReport checks
// a health record against the payer groups stored for its unit and month (issue 11), a read
// that finds nothing to do while no measure is stored, so the load is timed with them there.
double LoadThroughService(const std::string& store_url, const std::vector<v1::AdminUnit>& units,
                          const std::vector<v1::ParticipationRecord>& records,
                          const std::vector<v1::MeasureRecord>& measures, int batch,
                          const std::string& time_reads_as = "") {
  ingestion::IngestionOptions options;
  options.store_url = store_url;
  auto service = ingestion::IngestionServiceImpl::Create(options);
  if (!service.ok()) {
    Die(std::string(service.status().message()));
  }
  auto server = Server::Start(ServerOptions{}, {service->get()});
  if (!server.ok()) {
    Die(std::string(server.status().message()));
  }
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(64 << 20);
  auto stub = v1::IngestionService::NewStub(
      grpc::CreateCustomChannel((*server)->address(), grpc::InsecureChannelCredentials(), args));
  {
    v1::ImportAdminUnitsRequest request;
    request.set_request_id("catalogue");
    for (const auto& u : units) {
      *request.add_units() = u;
    }
    v1::ImportAdminUnitsResponse response;
    grpc::ClientContext context;
    grpc::Status status = stub->ImportAdminUnits(&context, request, &response);
    if (!status.ok()) {
      Die(status.error_message());
    }
  }
  for (size_t i = 0; i < measures.size(); i += batch) {
    v1::SubmitReportRequest request;
    request.set_request_id(absl::StrCat("bench-measures-", i));
    for (size_t j = i; j < std::min(measures.size(), i + batch); ++j) {
      *request.add_measures() = measures[j];
    }
    v1::SubmitReportResponse response;
    grpc::ClientContext context;
    if (grpc::Status status = stub->SubmitReport(&context, request, &response); !status.ok()) {
      Die(status.error_message());
    }
  }
  Quiesce();
  Clock::time_point start = Clock::now();
  grpc::ClientContext context;
  v1::StreamReportsResponse summary;
  auto writer = stub->StreamReports(&context, &summary);
  for (size_t i = 0; i < records.size(); i += batch) {
    v1::SubmitReportRequest request;
    request.set_request_id(absl::StrCat("bench-", i));
    request.set_source("bench");
    for (size_t j = i; j < std::min(records.size(), i + batch); ++j) {
      *request.add_records() = records[j];
    }
    writer->Write(request);
  }
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  double seconds = Seconds(start);
  if (!status.ok() || summary.records_changed() != static_cast<int64_t>(records.size())) {
    Die(absl::StrCat("load failed: ", status.error_message(), " changed ",
                     summary.records_changed()));
  }
  if (!time_reads_as.empty()) {
    TimeReads(*stub, time_reads_as, records.front().unit_code(),
              *Month::Parse(records.front().month()));
  }
  return seconds;
}

// The store's participation table (services/ingestion/schema.h, migration 4), for the
// baseline's empty database.
constexpr char kBaselineTable[] =
    "CREATE TABLE participation (unit_code TEXT NOT NULL, month TEXT NOT NULL, "
    "scheme INTEGER NOT NULL, participants BIGINT NOT NULL, in_province BIGINT, "
    "change_seq BIGINT NOT NULL, PRIMARY KEY (month, unit_code, scheme))";
constexpr char kBaselineInsert[] =
    "INSERT INTO participation (unit_code, month, scheme, participants, in_province, "
    "change_seq) VALUES ($1, $2, $3, $4, $5, 1)";

// Baseline on SQLite, with the store's durability settings (WAL, synchronous=FULL), into the
// table of the database at `path`: created there when `create`, else the store's own.
double LoadSqliteBaseline(const std::string& path,
                          const std::vector<v1::ParticipationRecord>& records, bool create) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", nullptr, nullptr, nullptr);
  if (create) {
    sqlite3_exec(db, kBaselineTable, nullptr, nullptr, nullptr);
  }
  Quiesce();
  Clock::time_point start = Clock::now();
  sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
  sqlite3_stmt* insert = nullptr;
  sqlite3_prepare_v2(db, kBaselineInsert, -1, &insert, nullptr);
  for (const auto& r : records) {
    sqlite3_bind_text(insert, 1, r.unit_code().c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_text(insert, 2, r.month().c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_int(insert, 3, r.scheme());
    sqlite3_bind_int64(insert, 4, r.participants());
    if (r.has_in_province_participants()) {
      sqlite3_bind_int64(insert, 5, r.in_province_participants());
    } else {
      sqlite3_bind_null(insert, 5);
    }
    if (sqlite3_step(insert) != SQLITE_DONE) {
      Die(sqlite3_errmsg(db));
    }
    sqlite3_reset(insert);
  }
  sqlite3_finalize(insert);
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  double seconds = Seconds(start);
  sqlite3_close(db);
  return seconds;
}

// Baseline on PostgreSQL, into the table of the database at `url`: created there when
// `create`, else the store's own.
double LoadPostgresBaseline(const std::string& url,
                            const std::vector<v1::ParticipationRecord>& records, bool create) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (create) {
    PQclear(PQexec(conn, kBaselineTable));
  }
  Quiesce();
  Clock::time_point start = Clock::now();
  PQclear(PQexec(conn, "BEGIN"));
  PQclear(PQprepare(conn, "insert", kBaselineInsert, 0, nullptr));
  for (const auto& r : records) {
    std::string scheme = std::to_string(r.scheme());
    std::string participants = std::to_string(r.participants());
    std::string in_province = std::to_string(r.in_province_participants());
    const char* values[] = {r.unit_code().c_str(), r.month().c_str(), scheme.c_str(),
                            participants.c_str(),
                            r.has_in_province_participants() ? in_province.c_str() : nullptr};
    PGresult* result = PQexecPrepared(conn, "insert", 5, values, nullptr, nullptr, 0);
    if (PQresultStatus(result) != PGRES_COMMAND_OK) {
      Die(PQerrorMessage(conn));
    }
    PQclear(result);
  }
  PQclear(PQexec(conn, "COMMIT"));
  double seconds = Seconds(start);
  PQfinish(conn);
  return seconds;
}

// With history: for each round the four rates and the ratios the issue asks for: the system
// into ten years against the system into an empty store, against the raw insert into an empty
// table (baseline) and against the raw insert into ten years (raw_history).
void ReportHistory(const std::string& store, const std::vector<double>& empty,
                   const std::vector<double>& history, const std::vector<double>& baseline,
                   const std::vector<double>& raw_history, size_t rows) {
  std::vector<double> to_empty, to_baseline, to_raw_history;
  for (size_t i = 0; i < history.size(); ++i) {
    to_empty.push_back(empty[i] / history[i]);
    to_baseline.push_back(baseline[i] / history[i]);
    to_raw_history.push_back(raw_history[i] / history[i]);
    std::printf(
        "%-10s round %zu: into ten years %9.0f records/s   into empty %9.0f   baseline %9.0f   "
        "raw into ten years %9.0f   ten years / empty %.3f   ten years / baseline %.3f   "
        "ten years / raw into ten years %.3f\n",
        store.c_str(), i + 1, rows / history[i], rows / empty[i], rows / baseline[i],
        rows / raw_history[i], to_empty.back(), to_baseline.back(), to_raw_history.back());
  }
  std::sort(to_empty.begin(), to_empty.end());
  std::sort(to_baseline.begin(), to_baseline.end());
  std::sort(to_raw_history.begin(), to_raw_history.end());
  std::printf(
      "%-10s median ratios: ten years / empty %.3f, ten years / baseline %.3f, ten years / raw "
      "into ten years %.3f\n",
      store.c_str(), to_empty[to_empty.size() / 2], to_baseline[to_baseline.size() / 2],
      to_raw_history[to_raw_history.size() / 2]);
}

void Report(const std::string& store, const std::vector<double>& system,
            const std::vector<double>& baseline, size_t rows) {
  std::vector<double> ratios;
  for (size_t i = 0; i < system.size(); ++i) {
    double system_rate = rows / system[i];
    double baseline_rate = rows / baseline[i];
    ratios.push_back(system_rate / baseline_rate);
    std::printf(
        "%-10s round %zu: covtrack %9.0f records/s   baseline %9.0f records/s   ratio %.3f\n",
        store.c_str(), i + 1, system_rate, baseline_rate, ratios.back());
  }
  std::sort(ratios.begin(), ratios.end());
  std::printf("%-10s median ratio (covtrack / baseline): %.3f\n", store.c_str(),
              ratios[ratios.size() / 2]);
}

}  // namespace
}  // namespace covtrack

int main(int argc, char** argv) {
  using namespace covtrack;
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<Month> month = Month::Parse(absl::GetFlag(FLAGS_month));
  if (!month.ok()) {
    Die(std::string(month.status().message()));
  }
  auto sample = sampledata::SampleData::Load();
  if (!sample.ok()) {
    Die(std::string(sample.status().message()));
  }
  auto records = (*sample)->Records({"VN"}, *month, *month);
  if (!records.ok()) {
    Die(std::string(records.status().message()));
  }
  const std::vector<v1::MeasureRecord> measures = sampledata::SampleMeasures(*records);
  std::printf(
      "one national month %s: %zu records (%zu units in the catalogue; %zu measures stored "
      "before each timed load)\n",
      month->ToString().c_str(), records->size(), (*sample)->units().size(), measures.size());
  const int rounds = absl::GetFlag(FLAGS_rounds);
  const int batch = absl::GetFlag(FLAGS_batch);
  const std::string history_dir = absl::GetFlag(FLAGS_history);
  const bool with_history = !history_dir.empty();
  if (with_history && month->year <= kHistoryLastYear) {
    Die(absl::StrCat("--month must come after the history (", kHistoryLastYear, ")"));
  }
  const std::string dir = absl::StrCat(std::filesystem::temp_directory_path().string(),
                                       "/covtrack-ingestion-bench-", getpid());
  const std::string sqlite_history = with_history ? SqliteHistory(history_dir, **sample) : "";
  std::vector<double> system, history, baseline, raw_history;
  for (int round = 0; round < rounds; ++round) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    system.push_back(LoadThroughService(absl::StrCat("sqlite:", dir, "/store.db"),
                                        (*sample)->units(), *records, measures, batch));
    if (with_history) {
      std::filesystem::copy_file(sqlite_history, absl::StrCat(dir, "/history.db"));
      history.push_back(LoadThroughService(absl::StrCat("sqlite:", dir, "/history.db"),
                                           (*sample)->units(), *records, measures, batch,
                                           round == 0 ? "sqlite" : ""));
      std::filesystem::remove(absl::StrCat(dir, "/history.db"));  // the disk holds one copy
      std::filesystem::copy_file(sqlite_history, absl::StrCat(dir, "/raw_history.db"));
      raw_history.push_back(
          LoadSqliteBaseline(absl::StrCat(dir, "/raw_history.db"), *records, false));
    }
    baseline.push_back(LoadSqliteBaseline(absl::StrCat(dir, "/baseline.db"), *records, true));
  }
  std::filesystem::remove_all(dir);
  Report("sqlite", system, baseline, records->size());
  if (with_history) {
    ReportHistory("sqlite", system, history, baseline, raw_history, records->size());
  }

  const std::string postgres = absl::GetFlag(FLAGS_postgres);
  if (!postgres.empty()) {
    const std::string template_name = with_history ? PostgresHistory(postgres, **sample) : "";
    system.clear();
    history.clear();
    baseline.clear();
    raw_history.clear();
    for (int round = 0; round < rounds; ++round) {
      system.push_back(
          LoadThroughService(NewPostgresDatabase(postgres, absl::StrCat("bench_store_", round)),
                             (*sample)->units(), *records, measures, batch));
      if (with_history) {
        const std::string url =
            NewPostgresDatabase(postgres, absl::StrCat("bench_history_", round), template_name);
        Admin(postgres, "CHECKPOINT");  // the copy written out before the load (see Quiesce)
        history.push_back(LoadThroughService(url, (*sample)->units(), *records, measures, batch,
                                             round == 0 ? "postgresql" : ""));
        const std::string raw_url =
            NewPostgresDatabase(postgres, absl::StrCat("bench_raw_history_", round), template_name);
        Admin(postgres, "CHECKPOINT");
        raw_history.push_back(LoadPostgresBaseline(raw_url, *records, false));
      }
      baseline.push_back(LoadPostgresBaseline(
          NewPostgresDatabase(postgres, absl::StrCat("bench_baseline_", round)), *records, true));
    }
    Report("postgresql", system, baseline, records->size());
    if (with_history) {
      ReportHistory("postgresql", system, history, baseline, raw_history, records->size());
    }
  }
  return 0;
}
