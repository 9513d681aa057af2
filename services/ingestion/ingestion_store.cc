#include "services/ingestion/ingestion_store.h"

#include <openssl/sha.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/domain.h"
#include "common/period.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "services/ingestion/schema.h"

namespace covtrack::ingestion {
namespace {

using sql::Params;
using sql::Row;
using sql::Session;

// An open-ended valid_to is stored as this date so that "valid on d" is valid_to > d.
constexpr char kOpenEnd[] = "9999-12-31";

enum ChangeKind : int64_t { kParticipationChange = 1, kDenominatorChange = 2, kUnitChange = 3 };

std::string StoredValidTo(const std::string& valid_to) { return valid_to.empty() ? kOpenEnd : valid_to; }
std::string ApiValidTo(const std::string& valid_to) { return valid_to == kOpenEnd ? "" : valid_to; }

absl::Status FieldError(absl::string_view list, int index, absl::string_view field,
                        absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(list, "[", index, "].", field, ": ", problem));
}

// SHA-256 of the request's deterministic encoding: tells a retry from a different request
// that reuses its id.
std::string RequestHash(const google::protobuf::Message& request) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    request.SerializeToCodedStream(&coded);
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

// Takes the writers' lock (the change counter's row) and returns the newest sequence.
absl::StatusOr<int64_t> LockChangeHead(Session& s) {
  absl::StatusOr<std::vector<Row>> rows = s.Query(
      absl::StrCat("SELECT last_seq FROM change_counter WHERE id = 1", s.ForUpdate()), {});
  if (!rows.ok()) {
    return rows.status();
  }
  if (rows->size() != 1) {
    return absl::InternalError("change_counter row is missing");
  }
  return (*rows)[0].Int(0);
}

// The answer recorded for request_id: nullopt if the id is new; ALREADY_EXISTS if it was
// used for a different request.
template <typename Response>
absl::StatusOr<std::optional<Response>> EarlierAnswer(Session& s, const std::string& request_id,
                                                      const std::string& hash) {
  absl::StatusOr<std::vector<Row>> rows = s.Query(
      "SELECT request_hash, response FROM requests WHERE request_id = $1", {request_id});
  if (!rows.ok()) {
    return rows.status();
  }
  if (rows->empty()) {
    return std::nullopt;
  }
  if ((*rows)[0].Text(0) != hash) {
    return absl::AlreadyExistsError(absl::StrCat(
        "request_id \"", request_id,
        "\" was already used for a different request; choose a new request_id"));
  }
  std::string bytes;
  Response response;
  if (!absl::Base64Unescape((*rows)[0].Text(1), &bytes) || !response.ParseFromString(bytes)) {
    return absl::InternalError(absl::StrCat("stored answer of \"", request_id, "\" is corrupt"));
  }
  response.set_replayed(true);
  return response;
}

absl::Status RecordAnswer(Session& s, const std::string& request_id, const std::string& hash,
                          const google::protobuf::Message& response) {
  return s
      .Execute("INSERT INTO requests (request_id, request_hash, response) VALUES ($1, $2, $3)",
               {request_id, hash, absl::Base64Escape(response.SerializeAsString())})
      .status();
}

// Collects what one write transaction changed and, at the end, publishes it on the feed as
// one change with the next sequence number (or nothing, if nothing changed).
class ChangeWriter {
 public:
  explicit ChangeWriter(int64_t head) : head_(head) {}

  int64_t seq() const { return head_ + 1; }  // the sequence this write commits as
  void Touch(ChangeKind kind, const std::string& unit_code, const std::string& period) {
    items_.emplace(kind, unit_code, period);
  }
  bool changed() const { return !items_.empty(); }
  // The sequence the caller's data is visible at.
  int64_t visible_seq() const { return changed() ? seq() : head_; }

  absl::Status Publish(Session& s, const std::string& request_id, const Sender& sender) {
    if (!changed()) {
      return absl::OkStatus();
    }
    absl::Status status =
        s.Execute("INSERT INTO changes (seq, request_id, source, peer, commit_time_us) "
                  "VALUES ($1, $2, $3, $4, $5)",
                  {seq(), request_id, sender.source, sender.peer, absl::ToUnixMicros(absl::Now())})
            .status();
    for (const auto& [kind, unit, period] : items_) {
      if (!status.ok()) {
        return status;
      }
      status = s.Execute("INSERT INTO change_items (seq, kind, unit_code, period) "
                         "VALUES ($1, $2, $3, $4)",
                         {seq(), static_cast<int64_t>(kind), unit, period})
                   .status();
    }
    if (!status.ok()) {
      return status;
    }
    return s.Execute("UPDATE change_counter SET last_seq = $1 WHERE id = 1", {seq()}).status();
  }

 private:
  int64_t head_;
  std::set<std::tuple<int64_t, std::string, std::string>> items_;
};

struct Interval {
  std::string valid_from;  // '' = open
  std::string valid_to;    // kOpenEnd = open
  int64_t level = 0;
  bool Contains(const std::string& date) const { return valid_from <= date && date < valid_to; }
};

std::string DescribeIntervals(const std::vector<Interval>& intervals) {
  std::string text;
  for (const Interval& i : intervals) {
    absl::StrAppend(&text, text.empty() ? "" : ", ", "[", i.valid_from.empty() ? "…" : i.valid_from,
                    ", ", ApiValidTo(i.valid_to).empty() ? "…" : i.valid_to, ")");
  }
  return text;
}

// The validity intervals of unit codes, read from the store once per code per request.
class UnitCalendar {
 public:
  explicit UnitCalendar(Session& s) : s_(s) {}

  absl::StatusOr<const std::vector<Interval>*> Intervals(const std::string& code) {
    auto it = cache_.find(code);
    if (it == cache_.end()) {
      absl::StatusOr<std::vector<Row>> rows = s_.Query(
          "SELECT valid_from, valid_to, level FROM admin_units WHERE code = $1 "
          "ORDER BY valid_from",
          {code});
      if (!rows.ok()) {
        return rows.status();
      }
      std::vector<Interval> intervals;
      for (const Row& r : *rows) {
        intervals.push_back({r.Text(0), r.Text(1), r.Int(2)});
      }
      it = cache_.emplace(code, std::move(intervals)).first;
    }
    return &it->second;
  }

 private:
  Session& s_;
  absl::flat_hash_map<std::string, std::vector<Interval>> cache_;
};

absl::Status CheckRequestId(const std::string& request_id) {
  if (request_id.empty()) {
    return absl::InvalidArgumentError(
        "request_id: required (a client-chosen id that makes retries safe)");
  }
  if (request_id.size() > 200) {
    return absl::InvalidArgumentError("request_id: longer than 200 characters");
  }
  return absl::OkStatus();
}

// Checks of a report that need no data: formats, ranges, duplicates, size.
absl::Status ValidateReportShape(const v1::SubmitReportRequest& request, const StoreLimits& limits) {
  if (absl::Status s = CheckRequestId(request.request_id()); !s.ok()) {
    return s;
  }
  int items = request.records_size() + request.denominators_size();
  if (items > limits.max_items_per_request) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request too large: ", items, " records and denominators, at most ",
        limits.max_items_per_request, " per request; split it or use StreamReports"));
  }
  if (items == 0) {
    return absl::InvalidArgumentError("records: the request has no records and no denominators");
  }
  std::map<std::tuple<std::string, std::string, int>, int> seen_records;
  for (int i = 0; i < request.records_size(); ++i) {
    const v1::ParticipationRecord& r = request.records(i);
    if (r.unit_code().empty()) {
      return FieldError("records", i, "unit_code", "required");
    }
    if (absl::StatusOr<Month> m = Month::Parse(r.month()); !m.ok()) {
      return FieldError("records", i, "month", m.status().message());
    }
    if (r.scheme() == v1::SCHEME_SOCIAL) {
      return FieldError("records", i, "scheme",
                        "SCHEME_SOCIAL is derived (compulsory + voluntary) and cannot be reported");
    }
    if (!IsReportedScheme(r.scheme())) {
      return FieldError("records", i, "scheme",
                        absl::StrCat("must be one of the four reported schemes (got ",
                                     static_cast<int>(r.scheme()), ")"));
    }
    if (r.participants() < 0) {
      return FieldError("records", i, "participants",
                        absl::StrCat("must not be negative (got ", r.participants(), ")"));
    }
    if (r.has_in_province_participants()) {
      if (r.in_province_participants() < 0) {
        return FieldError("records", i, "in_province_participants",
                          absl::StrCat("must not be negative (got ", r.in_province_participants(), ")"));
      }
      if (r.in_province_participants() > r.participants()) {
        return FieldError("records", i, "in_province_participants",
                          absl::StrCat("exceeds participants (", r.in_province_participants(), " > ",
                                       r.participants(), ")"));
      }
    }
    auto [it, inserted] =
        seen_records.emplace(std::make_tuple(r.unit_code(), r.month(), r.scheme()), i);
    if (!inserted) {
      return FieldError("records", i, "unit_code",
                        absl::StrCat("duplicates records[", it->second,
                                     "] (same unit, month and scheme)"));
    }
  }
  std::map<std::tuple<std::string, int, int>, int> seen_denominators;
  for (int i = 0; i < request.denominators_size(); ++i) {
    const v1::DenominatorRecord& d = request.denominators(i);
    if (d.unit_code().empty()) {
      return FieldError("denominators", i, "unit_code", "required");
    }
    if (d.year() < 1900 || d.year() > 2999) {
      return FieldError("denominators", i, "year", absl::StrCat("out of range (got ", d.year(), ")"));
    }
    if (d.kind() != v1::DENOMINATOR_KIND_POPULATION && d.kind() != v1::DENOMINATOR_KIND_LABOR_FORCE) {
      return FieldError("denominators", i, "kind", "must be POPULATION or LABOR_FORCE");
    }
    if (d.value() <= 0) {
      return FieldError("denominators", i, "value",
                        absl::StrCat("must be greater than zero (got ", d.value(), ")"));
    }
    auto [it, inserted] =
        seen_denominators.emplace(std::make_tuple(d.unit_code(), d.year(), d.kind()), i);
    if (!inserted) {
      return FieldError("denominators", i, "unit_code",
                        absl::StrCat("duplicates denominators[", it->second,
                                     "] (same unit, year and kind)"));
    }
  }
  return absl::OkStatus();
}

// Checks that every record's unit exists and is valid at the end of its month, and every
// denominator's unit on some day of its year.
absl::Status ValidateReportUnits(const v1::SubmitReportRequest& request, UnitCalendar& calendar) {
  for (int i = 0; i < request.records_size(); ++i) {
    const v1::ParticipationRecord& r = request.records(i);
    absl::StatusOr<const std::vector<Interval>*> intervals = calendar.Intervals(r.unit_code());
    if (!intervals.ok()) {
      return intervals.status();
    }
    if ((*intervals)->empty()) {
      return absl::NotFoundError(absl::StrCat("records[", i, "].unit_code: unknown unit \"",
                                              r.unit_code(), "\""));
    }
    std::string last_day = Month::Parse(r.month())->LastDay();
    bool valid = std::any_of((*intervals)->begin(), (*intervals)->end(),
                             [&](const Interval& v) { return v.Contains(last_day); });
    if (!valid) {
      return FieldError("records", i, "month",
                        absl::StrCat("unit \"", r.unit_code(), "\" does not exist at the end of ",
                                     r.month(), " (valid ", DescribeIntervals(**intervals), ")"));
    }
  }
  for (int i = 0; i < request.denominators_size(); ++i) {
    const v1::DenominatorRecord& d = request.denominators(i);
    absl::StatusOr<const std::vector<Interval>*> intervals = calendar.Intervals(d.unit_code());
    if (!intervals.ok()) {
      return intervals.status();
    }
    if ((*intervals)->empty()) {
      return absl::NotFoundError(absl::StrCat("denominators[", i, "].unit_code: unknown unit \"",
                                              d.unit_code(), "\""));
    }
    std::string first_day = absl::StrCat(d.year(), "-01-01");
    std::string after_last = absl::StrCat(d.year() + 1, "-01-01");
    bool valid = std::any_of((*intervals)->begin(), (*intervals)->end(), [&](const Interval& v) {
      return v.valid_from < after_last && v.valid_to > first_day;
    });
    if (!valid) {
      return FieldError("denominators", i, "year",
                        absl::StrCat("unit \"", d.unit_code(), "\" does not exist in ", d.year(),
                                     " (valid ", DescribeIntervals(**intervals), ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateUnitShape(const v1::ImportAdminUnitsRequest& request, const StoreLimits& limits) {
  if (absl::Status s = CheckRequestId(request.request_id()); !s.ok()) {
    return s;
  }
  if (request.units_size() == 0) {
    return absl::InvalidArgumentError("units: the request has no units");
  }
  if (request.units_size() > limits.max_items_per_request) {
    return absl::InvalidArgumentError(absl::StrCat("request too large: ", request.units_size(),
                                                   " units, at most ",
                                                   limits.max_items_per_request, " per request"));
  }
  std::map<std::pair<std::string, std::string>, int> seen;
  for (int i = 0; i < request.units_size(); ++i) {
    const v1::AdminUnit& u = request.units(i);
    if (u.code().empty() || u.code().size() > 16 ||
        u.code().find_first_of(" \t\r\n,") != std::string::npos) {
      return FieldError("units", i, "code",
                        absl::StrCat("must be 1–16 characters without spaces (got \"", u.code(), "\")"));
    }
    if (u.code() == kNationCode) {
      return FieldError("units", i, "code", "\"VN\" is the nation, which is implicit");
    }
    if (u.name().empty()) {
      return FieldError("units", i, "name", "required");
    }
    if (u.level() != v1::ADMIN_LEVEL_PROVINCE && u.level() != v1::ADMIN_LEVEL_DISTRICT &&
        u.level() != v1::ADMIN_LEVEL_COMMUNE) {
      return FieldError("units", i, "level", "must be PROVINCE, DISTRICT or COMMUNE");
    }
    for (const auto& [field, value] : {std::pair<const char*, const std::string&>{"valid_from", u.valid_from()},
                                       std::pair<const char*, const std::string&>{"valid_to", u.valid_to()}}) {
      if (!value.empty()) {
        if (absl::Status s = ValidateDate(value); !s.ok()) {
          return FieldError("units", i, field, s.message());
        }
      }
    }
    if (!u.valid_to().empty() && u.valid_from() >= u.valid_to()) {
      return FieldError("units", i, "valid_to",
                        absl::StrCat("must be after valid_from (", u.valid_from(), " >= ", u.valid_to(), ")"));
    }
    if (u.level() != v1::ADMIN_LEVEL_PROVINCE && (u.parent_code().empty() || u.parent_code() == kNationCode)) {
      return FieldError("units", i, "parent_code", "required for a district or commune");
    }
    auto [it, inserted] = seen.emplace(std::make_pair(u.code(), u.valid_from()), i);
    if (!inserted) {
      return FieldError("units", i, "code",
                        absl::StrCat("duplicates units[", it->second, "] (same code and valid_from)"));
    }
  }
  return absl::OkStatus();
}

v1::AdminUnit UnitFromRow(const Row& r) {
  v1::AdminUnit u;
  u.set_code(r.Text(0));
  u.set_valid_from(r.Text(1));
  u.set_valid_to(ApiValidTo(r.Text(2)));
  u.set_name(r.Text(3));
  u.set_level(static_cast<v1::AdminLevel>(r.Int(4)));
  u.set_type(r.Text(5));
  u.set_parent_code(r.Text(6));
  return u;
}

std::string EncodeToken(absl::string_view text) { return absl::WebSafeBase64Escape(text); }

absl::StatusOr<std::string> DecodeToken(absl::string_view token) {
  std::string text;
  if (!absl::WebSafeBase64Unescape(token, &text)) {
    return absl::InvalidArgumentError("page_token: malformed; pass next_page_token unchanged");
  }
  return text;
}

int PageSize(int requested, int default_size, int max_size) {
  if (requested <= 0) {
    return default_size;
  }
  return std::min(requested, max_size);
}

}  // namespace

absl::StatusOr<std::unique_ptr<IngestionStore>> IngestionStore::Create(sql::Database* db,
                                                                      StoreLimits limits) {
  if (absl::Status s = db->Migrate("ingestion", IngestionMigrations()); !s.ok()) {
    return s;
  }
  return std::unique_ptr<IngestionStore>(new IngestionStore(db, limits));
}

absl::StatusOr<v1::ImportAdminUnitsResponse> IngestionStore::ImportAdminUnits(
    const v1::ImportAdminUnitsRequest& request, const Sender& sender) {
  if (absl::Status s = ValidateUnitShape(request, limits_); !s.ok()) {
    return s;
  }
  const std::string hash = RequestHash(request);
  v1::ImportAdminUnitsResponse response;
  absl::Status status = db_->Write([&](Session& s) -> absl::Status {
    absl::StatusOr<int64_t> head = LockChangeHead(s);
    if (!head.ok()) {
      return head.status();
    }
    absl::StatusOr<std::optional<v1::ImportAdminUnitsResponse>> earlier =
        EarlierAnswer<v1::ImportAdminUnitsResponse>(s, request.request_id(), hash);
    if (!earlier.ok()) {
      return earlier.status();
    }
    if (earlier->has_value()) {
      response = **earlier;
      return absl::OkStatus();
    }

    // The intervals each code will have after this import: the stored ones, with the
    // request's units replacing those with the same valid_from.
    UnitCalendar calendar(s);
    absl::flat_hash_map<std::string, std::map<std::string, Interval>> after;
    auto intervals_after = [&](const std::string& code)
        -> absl::StatusOr<std::map<std::string, Interval>*> {
      auto it = after.find(code);
      if (it != after.end()) {
        return &it->second;
      }
      absl::StatusOr<const std::vector<Interval>*> stored = calendar.Intervals(code);
      if (!stored.ok()) {
        return stored.status();
      }
      std::map<std::string, Interval> by_start;
      for (const Interval& i : **stored) {
        by_start[i.valid_from] = i;
      }
      return &after.emplace(code, std::move(by_start)).first->second;
    };
    for (const v1::AdminUnit& u : request.units()) {
      absl::StatusOr<std::map<std::string, Interval>*> intervals = intervals_after(u.code());
      if (!intervals.ok()) {
        return intervals.status();
      }
      (**intervals)[u.valid_from()] = {u.valid_from(), StoredValidTo(u.valid_to()), u.level()};
    }
    for (int i = 0; i < request.units_size(); ++i) {
      const v1::AdminUnit& u = request.units(i);
      // Overlap: with intervals sorted by start, each must end no later than the next starts.
      const std::map<std::string, Interval>& own = after[u.code()];
      auto self = own.find(u.valid_from());
      auto next = std::next(self);
      if (next != own.end() && self->second.valid_to > next->first) {
        return FieldError("units", i, "valid_to",
                          absl::StrCat("unit \"", u.code(), "\" [", u.valid_from().empty() ? "…" : u.valid_from(),
                                       ", ", u.valid_to().empty() ? "…" : u.valid_to(),
                                       ") overlaps its interval starting ", next->first));
      }
      if (self != own.begin() && std::prev(self)->second.valid_to > u.valid_from()) {
        return FieldError("units", i, "valid_from",
                          absl::StrCat("unit \"", u.code(), "\" starting ",
                                       u.valid_from().empty() ? "…" : u.valid_from(),
                                       " overlaps its interval starting ",
                                       std::prev(self)->first.empty() ? "…" : std::prev(self)->first));
      }
      if (u.level() == v1::ADMIN_LEVEL_PROVINCE) {
        continue;
      }
      absl::StatusOr<std::map<std::string, Interval>*> parent = intervals_after(u.parent_code());
      if (!parent.ok()) {
        return parent.status();
      }
      const Interval* parent_then = nullptr;
      for (const auto& [start, interval] : **parent) {
        if (interval.Contains(u.valid_from())) {
          parent_then = &interval;
        }
      }
      if (parent_then == nullptr) {
        return FieldError("units", i, "parent_code",
                          absl::StrCat("parent \"", u.parent_code(), "\" of \"", u.code(),
                                       "\" does not exist on ",
                                       u.valid_from().empty() ? "its (open) valid_from" : u.valid_from()));
      }
      if (parent_then->level >= u.level()) {
        return FieldError("units", i, "parent_code",
                          absl::StrCat("parent \"", u.parent_code(), "\" is not a higher level than \"",
                                       u.code(), "\""));
      }
    }

    ChangeWriter changes(*head);
    int changed = 0;
    for (const v1::AdminUnit& u : request.units()) {
      std::string parent = u.level() == v1::ADMIN_LEVEL_PROVINCE ? std::string(kNationCode) : u.parent_code();
      absl::StatusOr<int64_t> written = s.Execute(
          "INSERT INTO admin_units (code, valid_from, valid_to, name, level, type, parent_code, "
          "change_seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
          "ON CONFLICT (code, valid_from) DO UPDATE SET valid_to = excluded.valid_to, "
          "name = excluded.name, level = excluded.level, type = excluded.type, "
          "parent_code = excluded.parent_code, change_seq = excluded.change_seq "
          "WHERE admin_units.valid_to <> excluded.valid_to OR admin_units.name <> excluded.name "
          "OR admin_units.level <> excluded.level OR admin_units.type <> excluded.type "
          "OR admin_units.parent_code <> excluded.parent_code",
          {u.code(), u.valid_from(), StoredValidTo(u.valid_to()), u.name(),
           static_cast<int64_t>(u.level()), u.type(), parent, changes.seq()});
      if (!written.ok()) {
        return written.status();
      }
      if (*written > 0) {
        ++changed;
        changes.Touch(kUnitChange, u.code(), "");
      }
    }
    response.set_units_accepted(request.units_size());
    response.set_units_changed(changed);
    if (absl::Status p = changes.Publish(s, request.request_id(), sender); !p.ok()) {
      return p;
    }
    response.set_change_seq(changes.visible_seq());
    return RecordAnswer(s, request.request_id(), hash, response);
  });
  if (!status.ok()) {
    return status;
  }
  return response;
}

absl::StatusOr<v1::SubmitReportResponse> IngestionStore::SubmitReport(
    const v1::SubmitReportRequest& request, const Sender& sender) {
  if (absl::Status s = ValidateReportShape(request, limits_); !s.ok()) {
    return s;
  }
  const std::string hash = RequestHash(request);
  v1::SubmitReportResponse response;
  absl::Status status = db_->Write([&](Session& s) -> absl::Status {
    absl::StatusOr<int64_t> head = LockChangeHead(s);
    if (!head.ok()) {
      return head.status();
    }
    absl::StatusOr<std::optional<v1::SubmitReportResponse>> earlier =
        EarlierAnswer<v1::SubmitReportResponse>(s, request.request_id(), hash);
    if (!earlier.ok()) {
      return earlier.status();
    }
    if (earlier->has_value()) {
      response = **earlier;
      return absl::OkStatus();
    }
    UnitCalendar calendar(s);
    if (absl::Status v = ValidateReportUnits(request, calendar); !v.ok()) {
      return v;
    }

    ChangeWriter changes(*head);
    int records_changed = 0;
    for (const v1::ParticipationRecord& r : request.records()) {
      sql::Value in_province = r.has_in_province_participants()
                                   ? sql::Value(int64_t{r.in_province_participants()})
                                   : sql::Value(std::monostate{});
      // Writes only when the value differs from the stored one: a repeated value is no change.
      absl::StatusOr<int64_t> written = s.Execute(
          "INSERT INTO participation (unit_code, month, scheme, participants, in_province, "
          "change_seq) VALUES ($1, $2, $3, $4, $5, $6) "
          "ON CONFLICT (unit_code, month, scheme) DO UPDATE SET "
          "participants = excluded.participants, in_province = excluded.in_province, "
          "change_seq = excluded.change_seq "
          "WHERE participation.participants <> excluded.participants "
          "OR participation.in_province IS DISTINCT FROM excluded.in_province",
          {r.unit_code(), r.month(), int64_t{r.scheme()}, int64_t{r.participants()}, in_province,
           changes.seq()});
      if (!written.ok()) {
        return written.status();
      }
      if (*written == 0) {
        continue;
      }
      ++records_changed;
      changes.Touch(kParticipationChange, r.unit_code(), r.month());
      absl::Status audit =
          s.Execute("INSERT INTO participation_revisions (unit_code, month, scheme, change_seq, "
                    "participants, in_province) VALUES ($1, $2, $3, $4, $5, $6)",
                    {r.unit_code(), r.month(), int64_t{r.scheme()}, changes.seq(),
                     int64_t{r.participants()}, in_province})
              .status();
      if (!audit.ok()) {
        return audit;
      }
    }
    int denominators_changed = 0;
    for (const v1::DenominatorRecord& d : request.denominators()) {
      absl::StatusOr<int64_t> written = s.Execute(
          "INSERT INTO denominators (unit_code, year, kind, value, change_seq) "
          "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (unit_code, year, kind) DO UPDATE SET "
          "value = excluded.value, change_seq = excluded.change_seq "
          "WHERE denominators.value <> excluded.value",
          {d.unit_code(), int64_t{d.year()}, int64_t{d.kind()}, int64_t{d.value()}, changes.seq()});
      if (!written.ok()) {
        return written.status();
      }
      if (*written == 0) {
        continue;
      }
      ++denominators_changed;
      changes.Touch(kDenominatorChange, d.unit_code(), absl::StrCat(d.year()));
      absl::Status audit =
          s.Execute("INSERT INTO denominator_revisions (unit_code, year, kind, change_seq, value) "
                    "VALUES ($1, $2, $3, $4, $5)",
                    {d.unit_code(), int64_t{d.year()}, int64_t{d.kind()}, changes.seq(),
                     int64_t{d.value()}})
              .status();
      if (!audit.ok()) {
        return audit;
      }
    }
    response.set_records_accepted(request.records_size());
    response.set_records_changed(records_changed);
    response.set_denominators_accepted(request.denominators_size());
    response.set_denominators_changed(denominators_changed);
    if (absl::Status p = changes.Publish(s, request.request_id(), sender); !p.ok()) {
      return p;
    }
    response.set_change_seq(changes.visible_seq());
    return RecordAnswer(s, request.request_id(), hash, response);
  });
  if (!status.ok()) {
    return status;
  }
  return response;
}

absl::StatusOr<v1::ListAdminUnitsResponse> IngestionStore::ListAdminUnits(
    const v1::ListAdminUnitsRequest& request) {
  if (!request.as_of().empty()) {
    if (absl::Status s = ValidateDate(request.as_of()); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("as_of: ", s.message()));
    }
  }
  std::string after_code, after_from;
  bool has_cursor = !request.page_token().empty();
  if (has_cursor) {
    absl::StatusOr<std::string> cursor = DecodeToken(request.page_token());
    if (!cursor.ok()) {
      return cursor.status();
    }
    std::vector<std::string> parts = absl::StrSplit(*cursor, absl::MaxSplits('\t', 1));
    if (parts.size() != 2) {
      return absl::InvalidArgumentError("page_token: malformed; pass next_page_token unchanged");
    }
    after_code = parts[0];
    after_from = parts[1];
  }
  int page_size = PageSize(request.page_size(), 1000, 10000);
  std::string parent = request.parent_code();
  v1::ListAdminUnitsResponse response;
  absl::Status status = db_->Read([&](Session& s) -> absl::Status {
    absl::StatusOr<std::vector<Row>> rows = s.Query(
        "SELECT code, valid_from, valid_to, name, level, type, parent_code FROM admin_units "
        "WHERE ($1 = 0 OR code > $2 OR (code = $2 AND valid_from > $3)) "
        "AND ($4 = '' OR parent_code = $4) AND ($5 = 0 OR level = $5) "
        "AND ($6 = '' OR (valid_from <= $6 AND valid_to > $6)) AND ($7 = '' OR code = $7) "
        "ORDER BY code, valid_from LIMIT $8",
        {int64_t{has_cursor}, after_code, after_from, parent, int64_t{request.level()},
         request.as_of(), request.code(), int64_t{page_size + 1}});
    if (!rows.ok()) {
      return rows.status();
    }
    for (size_t i = 0; i < rows->size() && i < static_cast<size_t>(page_size); ++i) {
      *response.add_units() = UnitFromRow((*rows)[i]);
    }
    if (rows->size() > static_cast<size_t>(page_size)) {
      const v1::AdminUnit& last = response.units(page_size - 1);
      response.set_next_page_token(EncodeToken(absl::StrCat(last.code(), "\t", last.valid_from())));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) {
    return status;
  }
  return response;
}

absl::StatusOr<v1::ListRevisionsResponse> IngestionStore::ListRevisions(
    const v1::ListRevisionsRequest& request) {
  if (request.unit_code().empty()) {
    return absl::InvalidArgumentError("unit_code: required");
  }
  if (!request.month().empty()) {
    if (absl::StatusOr<Month> m = Month::Parse(request.month()); !m.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("month: ", m.status().message()));
    }
  }
  if (request.scheme() != v1::SCHEME_UNSPECIFIED && !IsReportedScheme(request.scheme())) {
    return absl::InvalidArgumentError("scheme: must be one of the four reported schemes");
  }
  int64_t offset = 0;
  if (!request.page_token().empty()) {
    absl::StatusOr<std::string> text = DecodeToken(request.page_token());
    if (!text.ok() || !absl::SimpleAtoi(*text, &offset) || offset < 0) {
      return absl::InvalidArgumentError("page_token: malformed; pass next_page_token unchanged");
    }
  }
  int page_size = PageSize(request.page_size(), 100, 1000);
  bool with_denominators = request.month().empty() && request.scheme() == v1::SCHEME_UNSPECIFIED;
  v1::ListRevisionsResponse response;
  absl::Status status = db_->Read([&](Session& s) -> absl::Status {
    // Revisions only ever append with a higher change_seq, so offsets in this order are stable.
    absl::StatusOr<std::vector<Row>> rows = s.Query(
        "SELECT 1 AS kind, r.month AS period, r.scheme AS sub, r.participants, r.in_province, "
        "r.change_seq, c.request_id, c.source, c.peer, c.commit_time_us "
        "FROM participation_revisions r JOIN changes c ON c.seq = r.change_seq "
        "WHERE r.unit_code = $1 AND ($2 = '' OR r.month = $2) AND ($3 = 0 OR r.scheme = $3) "
        "UNION ALL "
        "SELECT 2, CAST(r.year AS TEXT), r.kind, r.value, NULL, r.change_seq, c.request_id, "
        "c.source, c.peer, c.commit_time_us "
        "FROM denominator_revisions r JOIN changes c ON c.seq = r.change_seq "
        "WHERE r.unit_code = $1 AND $4 = 1 "
        "ORDER BY 6, 1, 2, 3 LIMIT $5 OFFSET $6",
        {request.unit_code(), request.month(), int64_t{request.scheme()},
         int64_t{with_denominators}, int64_t{page_size + 1}, offset});
    if (!rows.ok()) {
      return rows.status();
    }
    for (size_t i = 0; i < rows->size() && i < static_cast<size_t>(page_size); ++i) {
      const Row& r = (*rows)[i];
      v1::Revision* revision = response.add_revisions();
      if (r.Int(0) == 1) {
        v1::ParticipationRecord* p = revision->mutable_participation();
        p->set_unit_code(request.unit_code());
        p->set_month(r.Text(1));
        p->set_scheme(static_cast<v1::Scheme>(r.Int(2)));
        p->set_participants(r.Int(3));
        if (!r.IsNull(4)) {
          p->set_in_province_participants(r.Int(4));
        }
      } else {
        v1::DenominatorRecord* d = revision->mutable_denominator();
        d->set_unit_code(request.unit_code());
        d->set_year(static_cast<int32_t>(r.Int(1)));
        d->set_kind(static_cast<v1::DenominatorKind>(r.Int(2)));
        d->set_value(r.Int(3));
      }
      revision->set_change_seq(r.Int(5));
      revision->set_request_id(r.Text(6));
      revision->set_source(r.Text(7));
      revision->set_peer(r.Text(8));
      int64_t micros = r.Int(9);
      revision->mutable_commit_time()->set_seconds(micros / 1000000);
      revision->mutable_commit_time()->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
    }
    if (rows->size() > static_cast<size_t>(page_size)) {
      response.set_next_page_token(EncodeToken(absl::StrCat(offset + page_size)));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) {
    return status;
  }
  return response;
}

absl::StatusOr<int64_t> IngestionStore::ChangeHead() {
  int64_t head = 0;
  absl::Status status = db_->Read([&](Session& s) -> absl::Status {
    absl::StatusOr<std::vector<Row>> rows =
        s.Query("SELECT last_seq FROM change_counter WHERE id = 1", {});
    if (!rows.ok()) {
      return rows.status();
    }
    head = rows->empty() ? 0 : (*rows)[0].Int(0);
    return absl::OkStatus();
  });
  if (!status.ok()) {
    return status;
  }
  return head;
}

absl::StatusOr<v1::ListChangesResponse> IngestionStore::ListChanges(int64_t after_seq,
                                                                    int page_size) {
  page_size = PageSize(page_size, 100, 1000);
  v1::ListChangesResponse response;
  absl::Status status = db_->Read([&](Session& s) -> absl::Status {
    absl::StatusOr<std::vector<Row>> head =
        s.Query("SELECT last_seq FROM change_counter WHERE id = 1", {});
    if (!head.ok()) {
      return head.status();
    }
    response.set_head_seq(head->empty() ? 0 : (*head)[0].Int(0));
    absl::StatusOr<std::vector<Row>> changes = s.Query(
        "SELECT seq, request_id, commit_time_us FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2",
        {after_seq, int64_t{page_size}});
    if (!changes.ok()) {
      return changes.status();
    }
    for (const Row& c : *changes) {
      v1::Change* change = response.add_changes();
      change->set_seq(c.Int(0));
      change->set_request_id(c.Text(1));
      change->mutable_commit_time()->set_seconds(c.Int(2) / 1000000);
      change->mutable_commit_time()->set_nanos(static_cast<int32_t>(c.Int(2) % 1000000) * 1000);
      absl::StatusOr<std::vector<Row>> items = s.Query(
          "SELECT kind, unit_code, period FROM change_items WHERE seq = $1", {c.Int(0)});
      if (!items.ok()) {
        return items.status();
      }
      for (const Row& item : *items) {
        switch (item.Int(0)) {
          case kParticipationChange: {
            v1::Change::UnitMonth* m = change->add_participation();
            m->set_unit_code(item.Text(1));
            m->set_month(item.Text(2));
            break;
          }
          case kDenominatorChange: {
            v1::Change::UnitYear* y = change->add_denominators();
            y->set_unit_code(item.Text(1));
            y->set_year(static_cast<int32_t>(item.Int(2)));
            break;
          }
          default:
            change->add_admin_unit_codes(item.Text(1));
        }
      }
    }
    return absl::OkStatus();
  });
  if (!status.ok()) {
    return status;
  }
  return response;
}

absl::Status IngestionStore::ExportData(
    const v1::ExportDataRequest& request,
    const std::function<bool(const v1::ExportDataResponse&)>& sink) {
  const bool whole_country = request.root_code().empty() || request.root_code() == kNationCode;
  if (!request.as_of().empty()) {
    if (absl::Status s = ValidateDate(request.as_of()); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("as_of: ", s.message()));
    }
  } else if (!whole_country) {
    return absl::InvalidArgumentError("as_of: required to read the subtree of a unit");
  }
  const bool with_records = !request.from_month().empty() || !request.to_month().empty();
  if (with_records) {
    for (const auto& [field, value] : {std::pair<const char*, std::string>{"from_month", request.from_month()},
                                       std::pair<const char*, std::string>{"to_month", request.to_month()}}) {
      if (absl::StatusOr<Month> m = Month::Parse(value); !m.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(field, ": ", m.status().message()));
      }
    }
  }
  const bool with_denominators = request.from_year() != 0 || request.to_year() != 0;
  constexpr int kChunk = 5000;

  return db_->Read([&](Session& s) -> absl::Status {
    absl::StatusOr<std::vector<Row>> head =
        s.Query("SELECT last_seq FROM change_counter WHERE id = 1", {});
    if (!head.ok()) {
      return head.status();
    }
    const int64_t snapshot_seq = head->empty() ? 0 : (*head)[0].Int(0);

    // The units of the subtree: every unit valid at as_of whose ancestry then reaches the
    // root, the root included. Without as_of (whole country only): every unit ever.
    std::vector<std::string> codes;
    {
      absl::StatusOr<std::vector<Row>> rows = s.Query(
          "SELECT code, parent_code FROM admin_units "
          "WHERE $1 = '' OR (valid_from <= $1 AND valid_to > $1) ORDER BY code",
          {request.as_of()});
      if (!rows.ok()) {
        return rows.status();
      }
      absl::flat_hash_map<std::string, std::vector<std::string>> children;
      std::set<std::string> all;
      for (const Row& r : *rows) {
        children[r.Text(1)].push_back(r.Text(0));
        all.insert(r.Text(0));
      }
      if (whole_country) {
        codes.assign(all.begin(), all.end());
      } else if (all.count(request.root_code()) == 0) {
        return absl::NotFoundError(absl::StrCat("root_code: unit \"", request.root_code(),
                                                "\" does not exist on ", request.as_of()));
      } else {
        std::vector<std::string> pending = {request.root_code()};
        while (!pending.empty()) {
          std::string code = pending.back();
          pending.pop_back();
          codes.push_back(code);
          for (const std::string& child : children[code]) {
            pending.push_back(child);
          }
        }
        std::sort(codes.begin(), codes.end());
      }
    }

    v1::ExportDataResponse chunk;
    chunk.set_snapshot_seq(snapshot_seq);
    bool sent_any = false;
    auto flush = [&](bool last) -> bool {
      if (!last && chunk.records_size() + chunk.denominators_size() < kChunk) {
        return true;
      }
      if (last && sent_any && chunk.records_size() == 0 && chunk.denominators_size() == 0) {
        return true;
      }
      bool more = sink(chunk);
      sent_any = true;
      chunk.clear_records();
      chunk.clear_denominators();
      return more;
    };
    // The subtree's rows, read kUnitsPerQuery units at a time: one round trip per batch, not
    // per unit (a national export covers some 14,000 units; on PostgreSQL each query is a
    // round trip). The statement text is the same for every batch (a short last batch is
    // padded with "", which is no unit's code), so it is prepared once per connection.
    constexpr size_t kUnitsPerQuery = 100;
    std::string in_list;
    for (size_t i = 1; i <= kUnitsPerQuery; ++i) {
      absl::StrAppend(&in_list, i == 1 ? "" : ", ", "$", i);
    }
    const std::string records_sql = absl::StrCat(
        "SELECT unit_code, month, scheme, participants, in_province FROM participation "
        "WHERE unit_code IN (", in_list, ") AND month >= $", kUnitsPerQuery + 1,
        " AND month <= $", kUnitsPerQuery + 2, " ORDER BY unit_code, month, scheme");
    const std::string denominators_sql = absl::StrCat(
        "SELECT unit_code, year, kind, value FROM denominators WHERE unit_code IN (", in_list,
        ") AND year >= $", kUnitsPerQuery + 1, " AND year <= $", kUnitsPerQuery + 2,
        " ORDER BY unit_code, year, kind");
    for (size_t begin = 0; begin < codes.size(); begin += kUnitsPerQuery) {
      const size_t end = std::min(codes.size(), begin + kUnitsPerQuery);
      sql::Params batch;
      for (size_t i = begin; i < begin + kUnitsPerQuery; ++i) {
        batch.emplace_back(i < end ? codes[i] : std::string());
      }
      // Rows by unit, each unit's rows in the order the query gave them.
      absl::flat_hash_map<std::string, std::vector<Row>> records_of;
      absl::flat_hash_map<std::string, std::vector<Row>> denominators_of;
      if (with_records) {
        sql::Params params = batch;
        params.emplace_back(request.from_month());
        params.emplace_back(request.to_month());
        absl::StatusOr<std::vector<Row>> rows = s.Query(records_sql, params);
        if (!rows.ok()) {
          return rows.status();
        }
        for (Row& r : *rows) {
          records_of[r.Text(0)].push_back(std::move(r));
        }
      }
      if (with_denominators) {
        sql::Params params = batch;
        params.emplace_back(int64_t{request.from_year()});
        params.emplace_back(int64_t{request.to_year()});
        absl::StatusOr<std::vector<Row>> rows = s.Query(denominators_sql, params);
        if (!rows.ok()) {
          return rows.status();
        }
        for (Row& r : *rows) {
          denominators_of[r.Text(0)].push_back(std::move(r));
        }
      }
      // As before: unit by unit (in code order), its records then its denominators; a chunk
      // never splits a unit.
      for (size_t i = begin; i < end; ++i) {
        const std::string& code = codes[i];
        if (auto it = records_of.find(code); it != records_of.end()) {
          for (const Row& r : it->second) {
            v1::ParticipationRecord* p = chunk.add_records();
            p->set_unit_code(code);
            p->set_month(r.Text(1));
            p->set_scheme(static_cast<v1::Scheme>(r.Int(2)));
            p->set_participants(r.Int(3));
            if (!r.IsNull(4)) {
              p->set_in_province_participants(r.Int(4));
            }
          }
        }
        if (auto it = denominators_of.find(code); it != denominators_of.end()) {
          for (const Row& r : it->second) {
            v1::DenominatorRecord* d = chunk.add_denominators();
            d->set_unit_code(code);
            d->set_year(static_cast<int32_t>(r.Int(1)));
            d->set_kind(static_cast<v1::DenominatorKind>(r.Int(2)));
            d->set_value(r.Int(3));
          }
        }
        if (!flush(false)) {
          return absl::OkStatus();
        }
      }
    }
    flush(true);
    return absl::OkStatus();
  });
}

}  // namespace covtrack::ingestion
