// IngestionStore's crosswalk: importing links (checked against the stored units and links,
// each changed link with its revision) and listing them. An import of a whole reform map is
// one request of ~10,000 links, so it reads what it checks against in a few batched queries
// and writes in multi-row statements, not a round trip per link.
#include <algorithm>
#include <map>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/status/status.h"
#include "services/ingestion/admin_unit_table.h"
#include "services/ingestion/crosswalk_check.h"
#include "services/ingestion/crosswalk_table.h"
#include "services/ingestion/ingestion_store.h"

namespace covtrack::ingestion {
namespace {

// Codes per version lookup. Every lookup has exactly this many parameters (the last code
// repeated), so that one prepared statement serves them all.
constexpr size_t kCodesPerLookup = 256;
// Rows per multi-row INSERT, at most: batches are powers of two up to this, so that a handful
// of prepared statements serve any number of rows.
constexpr size_t kMaxRowsPerInsert = 128;

// "($1, $2, $3), ($4, $5, $6)" for `rows` rows of `columns` parameters.
std::string Placeholders(size_t rows, size_t columns) {
  std::string text;
  for (size_t r = 0; r < rows; ++r) {
    absl::StrAppend(&text, r == 0 ? "(" : ", (");
    for (size_t c = 0; c < columns; ++c) {
      absl::StrAppend(&text, c == 0 ? "$" : ", $", r * columns + c + 1);
    }
    absl::StrAppend(&text, ")");
  }
  return text;
}

// Every version of each of `codes`.
absl::StatusOr<VersionsByCode> ReadVersionsOf(sql::Session& s,
                                              const std::vector<std::string>& codes) {
  VersionsByCode versions;
  std::string in;
  for (size_t k = 0; k < kCodesPerLookup; ++k) {
    absl::StrAppend(&in, k == 0 ? "$" : ", $", k + 1);
  }
  const std::string query =
      absl::StrCat("SELECT ", kUnitColumns, " FROM admin_units WHERE code IN (", in,
                   ") ORDER BY code, valid_from");
  for (size_t first = 0; first < codes.size(); first += kCodesPerLookup) {
    sql::Params params;
    for (size_t k = 0; k < kCodesPerLookup; ++k) {
      params.push_back(codes[std::min(first + k, codes.size() - 1)]);
    }
    ASSIGN_OR_RETURN(const std::vector<sql::Row> rows, s.Query(query, params));
    for (const sql::Row& row : rows) {
      v1::AdminUnit unit = UnitFromRow(row);
      versions[unit.code()].push_back(std::move(unit));
    }
  }
  return versions;
}

absl::StatusOr<std::vector<v1::CrosswalkLink>> ReadAllLinks(sql::Session& s) {
  ASSIGN_OR_RETURN(const std::vector<sql::Row> rows,
                   s.Query(absl::StrCat("SELECT ", kLinkColumns, " FROM crosswalk_links"), {}));
  std::vector<v1::CrosswalkLink> links;
  links.reserve(rows.size());
  for (const sql::Row& row : rows) {
    links.push_back(LinkFromRow(row));
  }
  return links;
}

// Runs "<head> VALUES (...), (...) <tail>" over `links`, each row LinkParams plus `seq`.
absl::Status InsertInBatches(sql::Session& s, const std::string& head, const std::string& tail,
                             const std::vector<const v1::CrosswalkLink*>& links, int64_t seq) {
  constexpr size_t kColumns = kLinkColumnCount + 1;
  size_t done = 0;
  while (done < links.size()) {
    size_t rows = kMaxRowsPerInsert;
    while (rows > links.size() - done) {
      rows /= 2;
    }
    sql::Params params;
    params.reserve(rows * kColumns);
    for (size_t r = 0; r < rows; ++r) {
      sql::Params row = LinkParams(*links[done + r]);
      params.insert(params.end(), row.begin(), row.end());
      params.emplace_back(seq);
    }
    RETURN_IF_ERROR(
        s.Execute(absl::StrCat(head, " VALUES ", Placeholders(rows, kColumns), tail), params)
            .status());
    done += rows;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::ImportCrosswalkResponse> IngestionStore::ImportCrosswalk(
    const v1::ImportCrosswalkRequest& request, const Sender& sender) {
  return WriteOnce<v1::ImportCrosswalkResponse>(
      request.request_id(), request, sender,
      [&](sql::Session& s, ChangeWriter& changes) -> absl::StatusOr<v1::ImportCrosswalkResponse> {
        std::vector<std::string> codes;
        codes.reserve(2 * request.links_size());
        for (const v1::CrosswalkLink& l : request.links()) {
          codes.push_back(l.from_code());
          codes.push_back(l.to_code());
        }
        std::sort(codes.begin(), codes.end());
        codes.erase(std::unique(codes.begin(), codes.end()), codes.end());
        ASSIGN_OR_RETURN(const VersionsByCode versions, ReadVersionsOf(s, codes));
        ASSIGN_OR_RETURN(const std::vector<v1::CrosswalkLink> stored, ReadAllLinks(s));
        ASSIGN_OR_RETURN(const std::vector<v1::CrosswalkLink> resolved,
                         CheckCrosswalk(request, versions, stored));

        // A link changes when it is new or differs from the stored one in any field (a share
        // given where it was unknown included); the same content again is no change.
        std::map<std::tuple<std::string, std::string, std::string>, const v1::CrosswalkLink*>
            stored_by_identity;
        for (const v1::CrosswalkLink& l : stored) {
          stored_by_identity[{l.from_code(), l.to_code(), l.effective_date()}] = &l;
        }
        std::vector<const v1::CrosswalkLink*> changed;
        for (const v1::CrosswalkLink& l : resolved) {
          auto it = stored_by_identity.find({l.from_code(), l.to_code(), l.effective_date()});
          if (it == stored_by_identity.end() || LinkParams(*it->second) != LinkParams(l)) {
            changed.push_back(&l);
          }
        }
        const std::string columns = absl::StrCat("(", kLinkColumns, ", change_seq)");
        RETURN_IF_ERROR(InsertInBatches(
            s, absl::StrCat("INSERT INTO crosswalk_links ", columns),
            " ON CONFLICT (from_code, to_code, effective_date) DO UPDATE SET "
            "from_valid_from = excluded.from_valid_from, to_valid_from = excluded.to_valid_from, "
            "population_share = excluded.population_share, "
            "labor_force_share = excluded.labor_force_share, change_seq = excluded.change_seq",
            changed, changes.seq()));
        RETURN_IF_ERROR(InsertInBatches(s,
                                        absl::StrCat("INSERT INTO crosswalk_revisions ", columns),
                                        "", changed, changes.seq()));
        if (!changed.empty()) {
          changes.TouchCrosswalk();
        }
        v1::ImportCrosswalkResponse response;
        response.set_links_accepted(request.links_size());
        response.set_links_changed(static_cast<int32_t>(changed.size()));
        return response;
      });
}

absl::StatusOr<v1::ListCrosswalkResponse> IngestionStore::ListCrosswalk(
    const v1::ListCrosswalkRequest& request, const PageRequest& page) {
  // Key paging on the list's order: links imported between pages do not shift the next page.
  ASSIGN_OR_RETURN(const std::optional<std::vector<std::string>> after, page.AfterKey(3));
  const int page_size = page.size();
  v1::ListCrosswalkResponse response;
  RETURN_IF_ERROR(db_->Read([&](sql::Session& s) -> absl::Status {
    ASSIGN_OR_RETURN(
        const std::vector<sql::Row> rows,
        s.Query(absl::StrCat("SELECT ", kLinkColumns,
                             " FROM crosswalk_links WHERE ($1 = 0 OR effective_date > $2 OR "
                             "(effective_date = $2 AND (from_code > $3 OR "
                             "(from_code = $3 AND to_code > $4)))) "
                             "AND (($5 = '' AND $6 = '') OR from_code = $5 OR to_code = $6) "
                             "AND ($7 = '' OR effective_date = $7) "
                             "ORDER BY effective_date, from_code, to_code LIMIT $8"),
                {int64_t{after.has_value()}, after ? (*after)[0] : std::string(),
                 after ? (*after)[1] : std::string(), after ? (*after)[2] : std::string(),
                 request.from_code(), request.to_code(), request.effective_date(),
                 int64_t{page_size + 1}}));
    for (size_t i = 0; i < rows.size() && i < static_cast<size_t>(page_size); ++i) {
      *response.add_links() = LinkFromRow(rows[i]);
    }
    if (rows.size() > static_cast<size_t>(page_size)) {
      const v1::CrosswalkLink& last = response.links(page_size - 1);
      response.set_next_page_token(
          page.TokenAfterKey({last.effective_date(), last.from_code(), last.to_code()}));
    }
    return absl::OkStatus();
  }));
  return response;
}

}  // namespace covtrack::ingestion
