#pragma once

#include <vector>

#include "common/sql/database.h"

namespace covtrack::ingestion {

// The ingestion store's schema, in the SQL both SQLite and PostgreSQL accept. Append new
// migrations; never edit an applied one.
//
// - change_counter holds the newest change-feed sequence. Every write transaction locks its one
//   row first, so writers are serialised and sequence numbers follow commit order.
// - participation / denominators hold the current value of each key; *_revisions hold every
//   value each key has had (the first one included), tied to the change that wrote it.
// - Dates are "YYYY-MM-DD" text. An open valid_from is '' and an open valid_to is '9999-12-31',
//   so that interval tests are plain string comparisons.
// - requests is the request-id ledger (common/sql/request_ledger.h), its fingerprint column
//   named request_hash.
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
  };
  return kMigrations;
}

}  // namespace covtrack::ingestion
