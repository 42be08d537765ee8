// Upgrades: a database the previous release wrote (the migrations up to
// N-1, with a row in every table) is brought to N by opening it, and every
// value it held is still there. Generic over the tables, so a migration
// added later is checked without touching this test.
#include <map>
#include <set>

#include "migrations.h"
#include "store_test_backends.h"

namespace oriel::store {
namespace {

using test_support::Backend;
using test_support::Rows;
using test_support::TestDatabase;

struct Column {
  std::string name, type;
};
using Schema = std::map<std::string, std::vector<Column>>;  // by table

Result<Schema> schema_of(TestDatabase& db) {
  // Identity columns (PostgreSQL's audit.seq) take no value from outside.
  std::string sql = db.backend() == Backend::kSqlite
                        ? "SELECT m.name, p.name, lower(p.type) FROM sqlite_master m, pragma_table_info(m.name) p "
                          "WHERE m.type='table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid"
                        : "SELECT table_name, column_name, data_type FROM information_schema.columns "
                          "WHERE table_schema=current_schema() AND table_name<>'oriel_schema' AND is_identity='NO' "
                          "ORDER BY table_name, ordinal_position";
  auto rows = TRY(db.query(sql));
  Schema schema;
  for (const auto& row : rows) schema[row.at(0)].push_back({row.at(1), row.at(2)});
  return schema;
}

// A value for each column: numbers for numeric types; the same "k-1" for
// every key and reference (so that each foreign key finds its row); else
// text naming the column, so that a value moved to another column shows.
std::string value_for(const std::string& table, const Column& c) {
  if (c.type.find("int") != std::string::npos) return "1";
  if (c.type.find("double") != std::string::npos || c.type.find("real") != std::string::npos) return "0.5";
  if (c.name == "id" || c.name.ends_with("_id") || c.name == "token_hash" || c.name == "fingerprint") return "'k-1'";
  return fmt::format("'{}.{}'", table, c.name);
}

// Every table's rows, as text, projected onto `columns`' tables and columns.
Result<std::map<std::string, Rows>> contents(TestDatabase& db, const Schema& columns) {
  std::map<std::string, Rows> out;
  for (const auto& [table, cols] : columns) {
    std::string list;
    for (const auto& c : cols) list += (list.empty() ? "" : ", ") + c.name;
    out[table] = TRY(db.query(fmt::format("SELECT {} FROM {} ORDER BY 1", list, table)));
  }
  return out;
}

class SchemaUpgradeTest : public ::testing::TestWithParam<Backend> {};

TEST_P(SchemaUpgradeTest, ThePreviousSchemaWithDataInEveryTableUpgradesWithNothingLost) {
  auto db = TestDatabase::create(GetParam()).value();
  const auto& all = migrations();
  const int previous = static_cast<int>(all.size()) - 1;
  ASSERT_GE(previous, 1);
  Dialect dialect = GetParam() == Backend::kSqlite ? Dialect::kSqlite : Dialect::kPostgres;
  for (int i = 0; i < previous; ++i)
    ASSERT_TRUE(db->exec(migration_sql(all[i], dialect)).ok()) << "migration " << i + 1;
  if (GetParam() == Backend::kPostgres) {
    ASSERT_TRUE(
        db->exec("CREATE TABLE oriel_schema (version INTEGER NOT NULL); INSERT INTO oriel_schema VALUES (0)").ok());
  }
  ASSERT_TRUE(db->set_schema_version(previous).ok());

  auto old_schema = schema_of(*db).value();
  ASSERT_FALSE(old_schema.empty());
  // Referenced tables first: insert until every table has its row.
  std::set<std::string> missing;
  for (const auto& [table, cols] : old_schema) missing.insert(table);
  for (size_t round = 0; !missing.empty() && round <= old_schema.size(); ++round) {
    for (auto it = missing.begin(); it != missing.end();) {
      std::string names, values;
      for (const auto& c : old_schema[*it]) {
        names += (names.empty() ? "" : ", ") + c.name;
        values += (values.empty() ? "" : ", ") + value_for(*it, c);
      }
      bool inserted = db->exec(fmt::format("INSERT INTO {} ({}) VALUES ({})", *it, names, values)).ok();
      it = inserted ? missing.erase(it) : std::next(it);
    }
  }
  ASSERT_TRUE(missing.empty()) << "no row could be written to " << *missing.begin();
  auto before = contents(*db, old_schema).value();

  auto store = db->open();
  ASSERT_TRUE(store.ok()) << store.error().message();
  EXPECT_EQ((*store)->schema_version(), previous + 1);
  auto after = contents(*db, old_schema);
  ASSERT_TRUE(after.ok()) << "a column of the previous schema is gone: " << after.error().message();
  for (const auto& [table, rows] : before) {
    ASSERT_EQ(rows.size(), 1u) << table;
    EXPECT_EQ(after->at(table), rows) << "table " << table << " changed in the upgrade";
  }
  // And the upgraded store works: it writes and reads.
  EXPECT_TRUE((*store)->append_audit({0, from_unix_ms(1), "", "", "", "upgraded", "", "", 200, "ok", ""}).ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, SchemaUpgradeTest, test_support::kAllBackends, test_support::BackendName());

}  // namespace
}  // namespace oriel::store
