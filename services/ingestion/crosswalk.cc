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
#include "services/ingestion/batched_sql.h"
#include "services/ingestion/crosswalk_check.h"
#include "services/ingestion/crosswalk_table.h"
#include "services/ingestion/ingestion_store.h"

namespace covtrack::ingestion {
namespace {

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

// The changed links' rows: LinkParams plus `seq`.
sql::Params LinkRows(const std::vector<const v1::CrosswalkLink*>& links, int64_t seq) {
  sql::Params values;
  values.reserve(links.size() * (kLinkColumnCount + 1));
  for (const v1::CrosswalkLink* link : links) {
    sql::Params row = LinkParams(*link);
    values.insert(values.end(), row.begin(), row.end());
    values.emplace_back(seq);
  }
  return values;
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
        const sql::Params rows = LinkRows(changed, changes.seq());
        RETURN_IF_ERROR(
            InsertInBatches(s, absl::StrCat("INSERT INTO crosswalk_links ", columns),
                            " ON CONFLICT (from_code, to_code, effective_date) DO UPDATE SET "
                            "from_valid_from = excluded.from_valid_from, "
                            "to_valid_from = excluded.to_valid_from, "
                            "population_share = excluded.population_share, "
                            "labor_force_share = excluded.labor_force_share, "
                            "change_seq = excluded.change_seq",
                            kLinkColumnCount + 1, rows)
                .status());
        RETURN_IF_ERROR(InsertInBatches(s,
                                        absl::StrCat("INSERT INTO crosswalk_revisions ", columns),
                                        "", kLinkColumnCount + 1, rows)
                            .status());
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
