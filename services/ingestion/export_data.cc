// IngestionStore::ExportData: a consistent snapshot of one subtree's data, in chunks.
#include <algorithm>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/call_context.h"
#include "common/domain.h"
#include "common/hierarchy/hierarchy.h"
#include "common/status/status.h"
#include "common/text.h"
#include "services/ingestion/ingestion_store.h"
#include "services/ingestion/measure_table.h"
#include "services/ingestion/schema.h"

namespace covtrack::ingestion {

using sql::Row;
using sql::Session;

absl::Status IngestionStore::ExportData(
    const v1::ExportDataRequest& request,
    const std::function<bool(const v1::ExportDataResponse&)>& sink) {
  const bool whole_country = request.root_code().empty() || request.root_code() == kNationCode;
  const bool with_records = !request.from_month().empty() || !request.to_month().empty();
  const bool with_denominators = request.from_year() != 0 || request.to_year() != 0;
  constexpr int kChunk = 5000;

  return db_->Read([&](Session& s) -> absl::Status {
    ASSIGN_OR_RETURN(const int64_t snapshot_seq, ReadChangeHead(s));

    // The units of the subtree: every unit valid at as_of whose ancestry then reaches the
    // root, the root included. Without as_of (whole country only): every unit ever.
    std::vector<std::string> codes;
    {
      ASSIGN_OR_RETURN(const std::vector<Row> rows,
                       s.Query("SELECT code, parent_code FROM admin_units "
                               "WHERE $1 = '' OR (valid_from <= $1 AND valid_to > $1) "
                               "ORDER BY code",
                               {request.as_of()}));
      absl::flat_hash_map<std::string, std::vector<std::string>> children;
      std::set<std::string> all;
      for (const Row& r : rows) {
        children[r.Text(1)].push_back(r.Text(0));
        all.insert(r.Text(0));
        // The whole country in the store's own order of codes (the query's), each code once:
        // its batches below are read as ranges of codes, which must hold exactly the codes
        // between their ends in the order the store compares them (PostgreSQL's collation).
        if (whole_country && (codes.empty() || codes.back() != r.Text(0))) {
          codes.push_back(r.Text(0));
        }
      }
      if (!whole_country && all.count(request.root_code()) == 0) {
        return absl::NotFoundError(absl::StrCat("root_code: unit ", QuoteInput(request.root_code()),
                                                " does not exist on ", request.as_of()));
      }
      if (!whole_country) {
        // Each code once, and no deeper than a real hierarchy goes: imports refuse a cycle on
        // any date, but a store written before that check (or by hand) may hold one, and a
        // walk without these bounds grew memory without end on it.
        std::vector<std::pair<std::string, int>> pending = {{request.root_code(), 0}};
        absl::flat_hash_set<std::string> visited = {request.root_code()};
        while (!pending.empty()) {
          auto [code, depth] = std::move(pending.back());
          pending.pop_back();
          codes.push_back(code);
          if (depth >= kMaxHierarchyDepth) {
            return absl::FailedPreconditionError(absl::StrCat(
                "root_code: the stored hierarchy beneath ", QuoteInput(request.root_code()), " on ",
                request.as_of(), " is deeper than ", kMaxHierarchyDepth, " levels; it is corrupt"));
          }
          for (const std::string& child : children[code]) {
            if (visited.insert(child).second) {
              pending.emplace_back(child, depth + 1);
            }
          }
        }
        std::sort(codes.begin(), codes.end());
      }
    }

    v1::ExportDataResponse chunk;
    chunk.set_snapshot_seq(snapshot_seq);
    bool sent_any = false;
    auto flush = [&](bool last) -> bool {
      const int rows = chunk.records_size() + chunk.denominators_size() + chunk.measures_size();
      if (!last && rows < kChunk) {
        return true;
      }
      if (last && sent_any && rows == 0) {
        return true;
      }
      bool more = sink(chunk);
      sent_any = true;
      chunk.clear_records();
      chunk.clear_denominators();
      chunk.clear_measures();
      return more;
    };
    // The subtree's rows, read kUnitsPerQuery units at a time: one round trip per batch, not
    // per unit (a national export covers some 14,000 units; on PostgreSQL each query is a
    // round trip). The statement text is the same for every batch (a short last batch is
    // padded with "", which is no unit's code), so it is prepared once per connection.
    // Participation is keyed by month first (schema.h, migration 4), so a batch's records are
    // read month by month (kParticipationMonths): for the whole country, whose batches are runs
    // of adjacent codes, one range of codes per month (ten years: some 17,000 probes in all;
    // with as_of, the rows of codes in a range but not valid then are read and left out);
    // for a subtree, whose codes need not be adjacent, one probe per month and unit. Either
    // way they come in no useful order (sorting them in SQL cost PostgreSQL more than the
    // reads, comparing text by its collation), and each unit's are sorted here.
    constexpr size_t kUnitsPerQuery = 100;
    std::string in_list;
    for (size_t i = 1; i <= kUnitsPerQuery; ++i) {
      absl::StrAppend(&in_list, i == 1 ? "" : ", ", "$", i);
    }
    const std::string records_sql =
        whole_country
            ? absl::StrCat(kParticipationMonths,
                           "SELECT r.unit_code, r.month, r.scheme, r.participants, r.in_province "
                           "FROM participation_months m JOIN participation r "
                           "ON r.month = m.month WHERE m.month >= $1 AND m.month <= $2 "
                           "AND r.unit_code >= $3 AND r.unit_code <= $4")
            : absl::StrCat(kParticipationMonths,
                           "SELECT r.unit_code, r.month, r.scheme, r.participants, r.in_province "
                           "FROM participation_months m JOIN participation r "
                           "ON r.month = m.month WHERE m.month >= $",
                           kUnitsPerQuery + 1, " AND m.month <= $", kUnitsPerQuery + 2,
                           " AND r.unit_code IN (", in_list, ")");
    const std::string denominators_sql =
        absl::StrCat("SELECT unit_code, year, kind, value FROM denominators WHERE unit_code IN (",
                     in_list, ") AND year >= $", kUnitsPerQuery + 1, " AND year <= $",
                     kUnitsPerQuery + 2, " ORDER BY unit_code, year, kind");
    for (size_t begin = 0; begin < codes.size(); begin += kUnitsPerQuery) {
      if (CurrentCallCancelled()) {  // the caller has gone: no more reads on its behalf
        return absl::CancelledError("export cancelled by the caller (or past its deadline)");
      }
      const size_t end = std::min(codes.size(), begin + kUnitsPerQuery);
      sql::Params batch;
      for (size_t i = begin; i < begin + kUnitsPerQuery; ++i) {
        batch.emplace_back(i < end ? codes[i] : std::string());
      }
      // Rows by unit: records in (month, scheme) order, denominators in the query's.
      absl::flat_hash_map<std::string, std::vector<Row>> records_of;
      absl::flat_hash_map<std::string, std::vector<Row>> denominators_of;
      if (with_records) {
        sql::Params params;
        if (whole_country) {
          params = {request.from_month(), request.to_month(), codes[begin], codes[end - 1]};
        } else {
          params = batch;
          params.emplace_back(request.from_month());
          params.emplace_back(request.to_month());
        }
        ASSIGN_OR_RETURN(std::vector<Row> rows, s.Query(records_sql, params));
        for (Row& r : rows) {
          records_of[r.Text(0)].push_back(std::move(r));
        }
        // In practice they come in that order already (months as the enumeration finds them,
        // each month's rows in key order), so the check is all most exports pay.
        auto before = [](const Row& a, const Row& b) {
          const std::string month_a = a.Text(1), month_b = b.Text(1);
          return month_a != month_b ? month_a < month_b : a.Int(2) < b.Int(2);
        };
        for (auto& [code, records] : records_of) {
          if (!std::is_sorted(records.begin(), records.end(), before)) {
            std::sort(records.begin(), records.end(), before);
          }
        }
      }
      if (with_denominators) {
        sql::Params params = batch;
        params.emplace_back(int64_t{request.from_year()});
        params.emplace_back(int64_t{request.to_year()});
        ASSIGN_OR_RETURN(std::vector<Row> rows, s.Query(denominators_sql, params));
        for (Row& r : rows) {
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
    if (request.include_measures()) {
      // After every unit's records, in the measures' own (month-first) order: one pass along
      // their primary key, filtered by the subtree.
      const std::set<std::string> subtree(codes.begin(), codes.end());
      bool more = true;
      RETURN_IF_ERROR(ReadMeasuresOfMonths(s, request.from_month(), request.to_month(),
                                           whole_country ? nullptr : &subtree,
                                           [&](v1::MeasureRecord m) {
                                             *chunk.add_measures() = std::move(m);
                                             more = flush(false);
                                             return more;
                                           }));
      if (!more) {
        return absl::OkStatus();
      }
    }
    flush(true);
    return absl::OkStatus();
  });
}

}  // namespace covtrack::ingestion
