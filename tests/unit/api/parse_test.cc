// Request parsing is pure: every malformed body is a clear InvalidArgument.
#include "parse.h"

#include <gtest/gtest.h>

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
}

TEST(ParseTest, ActionsAreKnownByName) {
  EXPECT_EQ(parse_action("reset").value(), controller::DesktopAction::kReset);
  EXPECT_EQ(parse_action("fly").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(parse_action("migrate").error().code(), ErrorCode::kUnprocessable);
}

TEST(ViewsTest, DesktopJsonShowsThePublicStateAndNulls) {
  store::DesktopRecord d;
  d.id = "d-1";
  d.state = "resetting";
  d.desired = "running";
  Json j = desktop_json(d);
  EXPECT_EQ(j["state"], "provisioning");
  EXPECT_TRUE(j["pool_id"].is_null());
  EXPECT_TRUE(j["error"].is_null());
  EXPECT_EQ(j["created_at"], "1970-01-01T00:00:00.000Z");
}

}  // namespace
}  // namespace oriel::api
