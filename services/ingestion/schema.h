#pragma once

#include <vector>

#include "common/sql/database.h"

namespace covtrack::ingestion {

// The ingestion store's schema, in the SQL both SQLite and PostgreSQL accept. Append new
// migrations; never edit an applied one.
//
// - change_counter holds the newest change-feed sequence. Every write transaction locks its one
//   row first, so writers are serialised and sequence numbers follow commit order.
// - participation / denominators hold the current value of each key, tied (change_seq) to the
//   change that wrote it; *_revisions hold the values each key had before (migration 3: until
//   then they held the current one too), each tied to the change that wrote it. Every value a
//   key has had is its revisions plus its current row; a write moves the value it overwrites
//   into the revisions, so that a new key (a new month of figures, the bulk of every load)
//   costs one row in one table, not two.
// - Dates are "YYYY-MM-DD" text. An open valid_from is '' and an open valid_to is '9999-12-31',
//   so that interval tests are plain string comparisons.
// - requests is the request-id ledger (common/sql/request_ledger.h), its fingerprint column
//   named request_hash.
// - crosswalk_links (migration 2) holds the current form of each crosswalk link, identified by
//   (from_code, to_code, effective_date), with the valid_from of the two unit versions it was
//   resolved to on import; a NULL share is not known yet. crosswalk_revisions holds every form
//   each link has had, tied to the change that wrote it; the change feed reads a change's links
//   from there (by change_seq), so they need no change_items rows.
// - Migration 3 also drops participation_revisions_seq (unit_code, change_seq): no query used
//   it (ListRevisions reads a unit's revisions through the primary key), and every write paid
//   for it.
// - measure_values / measure_revisions (migration 5; services/ingestion/measure_table.h) hold
//   the measures of issue 11 (common/measures.h) the way participation holds counts: the current
//   value and the overwritten ones. Their keys lead with the month: a load writes a month of
//   many units, and every read reaches them through a month. change_items kind 4 names a
//   (unit_code, month) whose measures a change wrote.
// - change_counter.pruned_through (migration 3) is the last seq whose change_items the feed's
//   retention rule (change_feed.h, FeedRetention) has deleted: the feed starts after it. The
//   changes rows and every revision are kept (the audit trail).
// - Migration 4 keys participation by (month, unit_code, scheme): month first. Keyed by unit
//   first, one national month (~40,000 rows, ~10,000 communes) landed on ~10,000 different
//   pages of the key's index at ten years of history (a page per commune), so a month's write
//   cost grew with the history (SQLite, a plain INSERT of one month's rows: 2.9 s; into the
//   same ten years keyed month first: 0.18 s); month first, a new month's rows are appended at
//   the index's end, whatever the history. Reads by unit enumerate the stored months instead
//   (kParticipationMonths, one index probe a month). The revision tables keep the unit first:
//   they grow only by corrections, and are read by unit. Migration 4 rebuilds the table, every
//   row copied in the new key's order in the migration's one transaction, under the writers'
//   lock (writes wait). At ten years of national history (4.8 M rows) it took 26-47 s on
//   SQLite and 32-38 s on PostgreSQL (2-core VM, other builds running, load 5-9). The store
//   does not grow: SQLite reuses the old table's pages (341 MB after VACUUM INTO, as before),
//   PostgreSQL drops its files.
// - Migration 6 indexes admin_units by change_seq: the greatest one is the catalogue's last
//   change, which a report's check reads (one probe of this index) to know whether the bounds it
//   kept from an earlier transaction still hold (admin_unit_table.h, UnitBoundsCache).
// - health_part_sums (migration 7) holds, for each (month, unit_code) with parts of its health
//   total stored in measure_values (the payer groups of health_by_payer), the sum of those
//   parts: a report's health total is checked against it with one probe (measure_table.h,
//   ReadValuesAfterWrite) instead of a read of the unit-month's measures. WriteMeasures sums
//   the written unit-months again in the same transaction; the migration sums what is stored,
//   under the writers' lock. health_part_sums_through.seq is the last change whose measures the
//   sums hold; a process of an earlier release (during a rolling upgrade) writes measures
//   without them, so each report first sums again the unit-months of measures written after it
//   (measure_values_seq finds them; measure_table.h, CatchUpPartSums). The migration's condition
//   is PartOfHealthTotal() as of this migration (a test holds them equal): a measure added later
//   as a part of the health total needs a migration that sums again.
inline const std::vector<sql::Migration>& IngestionMigrations() {
  static const std::vector<sql::Migration> kMigrations = {
      {1, R"sql(
CREATE TABLE change_counter (id INTEGER PRIMARY KEY, last_seq BIGINT NOT NULL);
INSERT INTO change_counter (id, last_seq) VALUES (1, 0);
CREATE TABLE changes (
  seq BIGINT PRIMARY KEY,
  request_id TEXT NOT NULL,
  source TEXT NOT NULL,
  peer TEXT NOT NULL,
  commit_time_us BIGINT NOT NULL);
-- kind: 1 participation (period = month), 2 denominator (period = year), 3 admin unit ('').
CREATE TABLE change_items (
  seq BIGINT NOT NULL,
  kind INTEGER NOT NULL,
  unit_code TEXT NOT NULL,
  period TEXT NOT NULL,
  PRIMARY KEY (seq, kind, unit_code, period));
CREATE TABLE requests (
  request_id TEXT PRIMARY KEY,
  request_hash TEXT NOT NULL,
  response TEXT NOT NULL);
CREATE TABLE admin_units (
  code TEXT NOT NULL,
  valid_from TEXT NOT NULL,
  valid_to TEXT NOT NULL,
  name TEXT NOT NULL,
  level INTEGER NOT NULL,
  type TEXT NOT NULL,
  parent_code TEXT NOT NULL,
  change_seq BIGINT NOT NULL,
  PRIMARY KEY (code, valid_from));
CREATE INDEX admin_units_parent ON admin_units (parent_code);
CREATE TABLE participation (
  unit_code TEXT NOT NULL,
  month TEXT NOT NULL,
  scheme INTEGER NOT NULL,
  participants BIGINT NOT NULL,
  in_province BIGINT,
  change_seq BIGINT NOT NULL,
  PRIMARY KEY (unit_code, month, scheme));
CREATE TABLE participation_revisions (
  unit_code TEXT NOT NULL,
  month TEXT NOT NULL,
  scheme INTEGER NOT NULL,
  change_seq BIGINT NOT NULL,
  participants BIGINT NOT NULL,
  in_province BIGINT,
  PRIMARY KEY (unit_code, month, scheme, change_seq));
CREATE INDEX participation_revisions_seq ON participation_revisions (unit_code, change_seq);
CREATE TABLE denominators (
  unit_code TEXT NOT NULL,
  year INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  value BIGINT NOT NULL,
  change_seq BIGINT NOT NULL,
  PRIMARY KEY (unit_code, year, kind));
CREATE TABLE denominator_revisions (
  unit_code TEXT NOT NULL,
  year INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  change_seq BIGINT NOT NULL,
  value BIGINT NOT NULL,
  PRIMARY KEY (unit_code, year, kind, change_seq));
)sql"},
      {2, R"sql(
CREATE TABLE crosswalk_links (
  from_code TEXT NOT NULL,
  to_code TEXT NOT NULL,
  effective_date TEXT NOT NULL,
  from_valid_from TEXT NOT NULL,
  to_valid_from TEXT NOT NULL,
  population_share DOUBLE PRECISION,
  labor_force_share DOUBLE PRECISION,
  change_seq BIGINT NOT NULL,
  PRIMARY KEY (from_code, to_code, effective_date));
CREATE INDEX crosswalk_links_order ON crosswalk_links (effective_date, from_code, to_code);
CREATE INDEX crosswalk_links_to ON crosswalk_links (to_code);
CREATE TABLE crosswalk_revisions (
  from_code TEXT NOT NULL,
  to_code TEXT NOT NULL,
  effective_date TEXT NOT NULL,
  change_seq BIGINT NOT NULL,
  from_valid_from TEXT NOT NULL,
  to_valid_from TEXT NOT NULL,
  population_share DOUBLE PRECISION,
  labor_force_share DOUBLE PRECISION,
  PRIMARY KEY (from_code, to_code, effective_date, change_seq));
CREATE INDEX crosswalk_revisions_to ON crosswalk_revisions (to_code, change_seq);
CREATE INDEX crosswalk_revisions_seq ON crosswalk_revisions (change_seq);
)sql"},
      {3, R"sql(
ALTER TABLE change_counter ADD COLUMN pruned_through BIGINT NOT NULL DEFAULT 0;
DELETE FROM participation_revisions WHERE EXISTS (
  SELECT 1 FROM participation p WHERE p.unit_code = participation_revisions.unit_code
  AND p.month = participation_revisions.month AND p.scheme = participation_revisions.scheme
  AND p.change_seq = participation_revisions.change_seq);
DELETE FROM denominator_revisions WHERE EXISTS (
  SELECT 1 FROM denominators d WHERE d.unit_code = denominator_revisions.unit_code
  AND d.year = denominator_revisions.year AND d.kind = denominator_revisions.kind
  AND d.change_seq = denominator_revisions.change_seq);
DROP INDEX participation_revisions_seq;
)sql"},
      {4, R"sql(
-- The writers' lock first (every write takes it before anything else): on PostgreSQL a write
-- could otherwise commit into the old table while it is copied, and be dropped with it.
UPDATE change_counter SET last_seq = last_seq WHERE id = 1;
CREATE TABLE participation_by_month (
  unit_code TEXT NOT NULL,
  month TEXT NOT NULL,
  scheme INTEGER NOT NULL,
  participants BIGINT NOT NULL,
  in_province BIGINT,
  change_seq BIGINT NOT NULL,
  PRIMARY KEY (month, unit_code, scheme));
INSERT INTO participation_by_month (unit_code, month, scheme, participants, in_province,
  change_seq)
  SELECT unit_code, month, scheme, participants, in_province, change_seq FROM participation
  ORDER BY month, unit_code, scheme;
DROP TABLE participation;
ALTER TABLE participation_by_month RENAME TO participation;
)sql"},
      {5, R"sql(
CREATE TABLE measure_values (
  month TEXT NOT NULL,
  unit_code TEXT NOT NULL,
  measure INTEGER NOT NULL,
  scheme INTEGER NOT NULL,
  payer_group INTEGER NOT NULL,
  value BIGINT NOT NULL,
  change_seq BIGINT NOT NULL,
  PRIMARY KEY (month, unit_code, measure, scheme, payer_group));
CREATE TABLE measure_revisions (
  month TEXT NOT NULL,
  unit_code TEXT NOT NULL,
  measure INTEGER NOT NULL,
  scheme INTEGER NOT NULL,
  payer_group INTEGER NOT NULL,
  change_seq BIGINT NOT NULL,
  value BIGINT NOT NULL,
  PRIMARY KEY (month, unit_code, measure, scheme, payer_group, change_seq));
)sql"},
      {6, R"sql(
CREATE INDEX admin_units_seq ON admin_units (change_seq);
)sql"},
      {7, R"sql(
-- The writers' lock first (every write takes it before anything else): the sums are of every
-- measure committed before this migration, and a write waits for it to commit.
UPDATE change_counter SET last_seq = last_seq WHERE id = 1;
CREATE TABLE health_part_sums (
  month TEXT NOT NULL,
  unit_code TEXT NOT NULL,
  parts BIGINT NOT NULL,
  PRIMARY KEY (month, unit_code));
INSERT INTO health_part_sums (month, unit_code, parts)
  SELECT m.month, m.unit_code, SUM(m.value) FROM measure_values m
  WHERE m.scheme = 3 AND ((m.measure = 5 AND m.payer_group <> 0))
  GROUP BY m.month, m.unit_code;
CREATE TABLE health_part_sums_through (id INTEGER PRIMARY KEY, seq BIGINT NOT NULL);
INSERT INTO health_part_sums_through (id, seq) SELECT 1, last_seq FROM change_counter;
CREATE INDEX measure_values_seq ON measure_values (change_seq);
)sql"},
  };
  return kMigrations;
}

// The months that hold participation rows, as the table participation_months (month), for a
// statement to begin with: one index probe per month (the smallest month after the last one
// found), so that a read by unit can probe (month, unit_code) month by month rather than scan
// the table (migration 4 put the month first). Its last row is NULL, which joins nothing.
inline constexpr char kParticipationMonths[] =
    "WITH RECURSIVE participation_months (month) AS ("
    "SELECT MIN(month) FROM participation UNION ALL "
    "SELECT (SELECT MIN(p.month) FROM participation p WHERE p.month > m.month) "
    "FROM participation_months m WHERE m.month IS NOT NULL) ";

}  // namespace covtrack::ingestion
