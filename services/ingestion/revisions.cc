// IngestionStore::ListRevisions: the audit trail of one unit, every value each of its figures
// and each crosswalk link from or to it has had, with who sent it and when.
#include "absl/strings/str_cat.h"
#include "common/status/status.h"
#include "common/time/timestamp.h"
#include "services/ingestion/crosswalk_table.h"
#include "services/ingestion/ingestion_store.h"
#include "services/ingestion/measure_table.h"
#include "services/ingestion/schema.h"

namespace covtrack::ingestion {

absl::StatusOr<v1::ListRevisionsResponse> IngestionStore::ListRevisions(
    const v1::ListRevisionsRequest& request, const PageRequest& page) {
  // Every value a figure has had: the overwritten ones in the revision tables, the current one in
  // the live table (schema.h), which is keyed by month first: its rows of the unit are read
  // month by month (kParticipationMonths). Values only ever add with a higher change_seq (an
  // overwritten value moves, keeping its own), so offsets in this order are stable.
  ASSIGN_OR_RETURN(const int64_t offset, page.Offset());
  const int page_size = page.size();
  // Denominator and crosswalk revisions have neither month nor scheme: listed when neither is
  // asked for.
  const bool with_others = request.month().empty() && request.scheme() == v1::SCHEME_UNSPECIFIED;
  v1::ListRevisionsResponse response;
  if (request.measure() != v1::MEASURE_UNSPECIFIED) {
    bool more = false;
    RETURN_IF_ERROR(db_->Read([&](sql::Session& s) {
      return ListMeasureRevisions(s, request, offset, page_size, response, more);
    }));
    if (more) {
      response.set_next_page_token(page.TokenAtOffset(offset + page_size));
    }
    return response;
  }
  RETURN_IF_ERROR(db_->Read([&](sql::Session& s) -> absl::Status {
    ASSIGN_OR_RETURN(
        const std::vector<sql::Row> rows,
        s.Query(
            absl::StrCat(
                kParticipationMonths,
                "SELECT 1 AS kind, r.month AS period, r.scheme AS sub, r.participants, "
                "r.in_province, r.change_seq, c.request_id, c.source, c.peer, c.commit_time_us, "
                "CAST(NULL AS TEXT) AS from_code, CAST(NULL AS TEXT) AS to_code, "
                "CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS TEXT), "
                "CAST(NULL AS DOUBLE PRECISION), CAST(NULL AS DOUBLE PRECISION) "
                "FROM participation_revisions r JOIN changes c ON c.seq = r.change_seq "
                "WHERE r.unit_code = $1 AND ($2 = '' OR r.month = $2) "
                "AND ($3 = 0 OR r.scheme = $3) "
                "UNION ALL "
                "SELECT 1, r.month, r.scheme, r.participants, r.in_province, r.change_seq, "
                "c.request_id, c.source, c.peer, c.commit_time_us, NULL, NULL, NULL, NULL, "
                "NULL, NULL, NULL "
                "FROM participation_months m JOIN participation r ON r.month = m.month "
                "JOIN changes c ON c.seq = r.change_seq "
                "WHERE r.unit_code = $1 AND ($2 = '' OR m.month = $2) "
                "AND ($3 = 0 OR r.scheme = $3) "
                "UNION ALL "
                "SELECT 2, CAST(r.year AS TEXT), r.kind, r.value, NULL, r.change_seq, "
                "c.request_id, c.source, c.peer, c.commit_time_us, NULL, NULL, NULL, NULL, "
                "NULL, NULL, NULL "
                "FROM denominator_revisions r JOIN changes c ON c.seq = r.change_seq "
                "WHERE r.unit_code = $1 AND $4 = 1 "
                "UNION ALL "
                "SELECT 2, CAST(r.year AS TEXT), r.kind, r.value, NULL, r.change_seq, "
                "c.request_id, c.source, c.peer, c.commit_time_us, NULL, NULL, NULL, NULL, "
                "NULL, NULL, NULL "
                "FROM denominators r JOIN changes c ON c.seq = r.change_seq "
                "WHERE r.unit_code = $1 AND $4 = 1 "
                "UNION ALL "
                "SELECT 3, r.effective_date, 0, 0, NULL, r.change_seq, c.request_id, c.source, "
                "c.peer, c.commit_time_us, r.from_code, r.to_code, r.effective_date, "
                "r.from_valid_from, r.to_valid_from, r.population_share, r.labor_force_share "
                "FROM crosswalk_revisions r JOIN changes c ON c.seq = r.change_seq "
                "WHERE (r.from_code = $1 OR r.to_code = $1) AND $4 = 1 "
                "ORDER BY 6, 1, 2, 3, 11, 12 LIMIT $5 OFFSET $6"),
            {request.unit_code(), request.month(), int64_t{request.scheme()}, int64_t{with_others},
             int64_t{page_size + 1}, offset}));
    for (size_t i = 0; i < rows.size() && i < static_cast<size_t>(page_size); ++i) {
      const sql::Row& r = rows[i];
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
      } else if (r.Int(0) == 3) {
        *revision->mutable_crosswalk_link() = LinkFromRow(r, 10);
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
      *revision->mutable_commit_time() = ToProtoTimestamp(absl::FromUnixMicros(r.Int(9)));
    }
    if (rows.size() > static_cast<size_t>(page_size)) {
      response.set_next_page_token(page.TokenAtOffset(offset + page_size));
    }
    return absl::OkStatus();
  }));
  return response;
}

}  // namespace covtrack::ingestion
