// Image uploads: the request parsing and offset rules are pure; the registry
// is exercised on a real directory with a manual clock, and what it hands to
// the import is checked byte for byte.
#include "uploads.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace oriel::api {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using controller::Principal;

const Principal kAdmin{"u-admin", "admin", "admin", ""};
const Principal kTenantAdmin{"u-ta", "ta", "tenant-admin", "t-1"};

TEST(UploadParseTest, CreateTakesNameSizeFormatAndBoot) {
  auto u = parse_create_upload(
      R"({"name":"Win 11","filename":"win11.VHDX","size":1048577,"format":"vhd","boot":{"firmware":"uefi"}})");
  ASSERT_TRUE(u.ok()) << u.error().message();
  EXPECT_EQ(u->name, "Win 11");
  EXPECT_EQ(u->size, 1048577);
  EXPECT_EQ(u->format, "vpc");  // "vhd" is what people call it
  EXPECT_EQ(u->boot.kind, agent::BootSpec::Kind::kUefi);
  auto defaults = parse_create_upload(R"({"name":"n","size":1})");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->format, "auto");
  EXPECT_EQ(defaults->boot.kind, agent::BootSpec::Kind::kBios);
}

TEST(UploadParseTest, CreateRefusesWhatCannotBeAnUpload) {
  EXPECT_EQ(parse_create_upload(R"({"name":"n","size":0})").error().message(),
            "field 'size' must be between 1 and 9223372036854775807");
  EXPECT_EQ(parse_create_upload(R"({"name":"n","size":1,"format":"iso"})").error().message(),
            "format 'iso' is not one of auto, qcow2, raw, vpc, vhdx");
  EXPECT_EQ(parse_create_upload(R"({"name":"","size":1})").error().message(), "field 'name' must be 1 to 200 bytes");
  EXPECT_EQ(parse_create_upload(R"({"name":"n","size":1,"path":"/etc"})").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(parse_create_upload(R"({"name":"n","size":1,"filename":"a\nb"})").error().message(),
            "field 'filename' has control characters");
  EXPECT_EQ(parse_create_upload(R"({"name":"n","size":"12"})").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(parse_create_upload("not json").error().code(), ErrorCode::kInvalidArgument);
}

TEST(UploadParseTest, ChunkOffsetIsADecimalQueryParameter) {
  EXPECT_EQ(parse_chunk_offset({{"offset", "1048576"}}).value(), 1048576);
  EXPECT_EQ(parse_chunk_offset({}).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(parse_chunk_offset({{"offset", "-1"}}).ok());
  EXPECT_FALSE(parse_chunk_offset({{"offset", "12abc"}}).ok());
  EXPECT_FALSE(parse_chunk_offset({{"offset", ""}}).ok());
}

TEST(UploadParseTest, AChunkMustContinueWhereTheUploadStands) {
  EXPECT_TRUE(check_chunk(0, 10, 0, 25).ok());
  EXPECT_TRUE(check_chunk(20, 5, 20, 25).ok());  // the last, short chunk
  auto behind = check_chunk(10, 10, 20, 25);     // sent again after a lost reply
  EXPECT_EQ(behind.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(behind.error().message(), "the upload has 20 bytes: send the chunk at offset 20, not 10");
  EXPECT_EQ(check_chunk(30, 1, 20, 25).error().code(), ErrorCode::kConflict);         // a gap
  EXPECT_EQ(check_chunk(20, 6, 20, 25).error().code(), ErrorCode::kInvalidArgument);  // past the end
  EXPECT_EQ(check_chunk(20, 0, 20, 25).error().message(), "the chunk is empty");
  EXPECT_EQ(check_chunk(INT64_MAX - 1, INT64_MAX, INT64_MAX - 1, INT64_MAX).error().code(),
            ErrorCode::kInvalidArgument);  // no overflow
}

TEST(UploadParseTest, TheFileKeepsAnExtensionTheImporterUnderstands) {
  EXPECT_EQ(upload_extension("vpc", "disk.bin"), ".vhd");
  EXPECT_EQ(upload_extension("qcow2", ""), ".qcow2");
  EXPECT_EQ(upload_extension("auto", "Win11.VHDX"), ".vhdx");
  EXPECT_EQ(upload_extension("auto", "disk.img"), ".img");
  EXPECT_EQ(upload_extension("auto", "../../etc/passwd"), "");
  EXPECT_EQ(upload_extension("auto", "archive.tar.gz"), "");
  EXPECT_EQ(upload_extension("auto", "noext"), "");
}

TEST(UploadParseTest, TheSidecarRoundTripsAndRefusesForeignIds) {
  UploadRecord u;
  u.id = "up-0123456789abcdef";
  u.spec = parse_create_upload(R"({"name":"g","filename":"g.vhd","size":5,"boot":{"kernel":"/k"}})").value();
  u.state = "importing";
  u.image_id = "i-1";
  u.owner_id = "u-1";
  u.owner_name = "admin";
  u.created_at = from_unix_ms(1000);
  u.updated_at = from_unix_ms(2000);
  auto back = upload_from_meta(upload_meta_json(u));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->spec.boot.kernel, "/k");
  EXPECT_EQ(back->image_id, "i-1");
  EXPECT_EQ(back->updated_at, u.updated_at);
  Json evil = upload_meta_json(u);
  evil["id"] = "../../oriel.db";
  EXPECT_FALSE(upload_from_meta(evil).ok());
  EXPECT_TRUE(abandoned(UploadRecord{.state = "uploading", .updated_at = from_unix_ms(0)}, from_unix_ms(3600'000), 1h));
  EXPECT_FALSE(
      abandoned(UploadRecord{.state = "uploading", .updated_at = from_unix_ms(1)}, from_unix_ms(3600'000), 1h));
  EXPECT_FALSE(
      abandoned(UploadRecord{.state = "importing", .updated_at = from_unix_ms(0)}, from_unix_ms(9'000'000'000), 1h));
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class UploadRegistryTest : public ::testing::Test {
 protected:
  UploadRegistryTest() {
    dir_ = (fs::temp_directory_path() / ("uploads-test-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
    hooks_.start = [this](const Principal&, controller::CreateImage cmd) -> Result<store::ImageRecord> {
      started_ = cmd;
      imported_bytes_ = slurp(cmd.source_path);
      store::ImageRecord image;
      image.id = "i-new";
      image.state = "importing";
      return image;
    };
    hooks_.importing = [this](const Principal&, const std::string&) { return importing_; };
  }
  ~UploadRegistryTest() override { fs::remove_all(dir_); }

  std::unique_ptr<UploadRegistry> open(UploadLimits limits = {}) {
    return std::make_unique<UploadRegistry>(dir_, limits, hooks_, clock_, random_);
  }
  size_t files() const {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_)) ++n;
    return n;
  }

  std::string dir_;
  ManualClock clock_{from_unix_ms(1'700'000'000'000)};
  SeededRandom random_{7};
  ImportHooks hooks_;
  std::optional<controller::CreateImage> started_;
  std::string imported_bytes_;
  bool importing_ = true;
};

NewUpload spec(int64_t size) {
  return parse_create_upload(fmt::format(R"({{"name":"guest","filename":"guest.vhd","size":{}}})", size)).value();
}

TEST_F(UploadRegistryTest, ChunksAssembleTheFileTheImportReads) {
  auto registry = open();
  auto u = registry->create(kAdmin, spec(10));
  ASSERT_TRUE(u.ok()) << u.error().message();
  EXPECT_TRUE(u->id.starts_with("up-"));
  ASSERT_TRUE(registry->write(kAdmin, u->id, 0, "0123").ok());
  EXPECT_EQ(registry->write(kAdmin, u->id, 0, "0123").error().code(), ErrorCode::kConflict);  // sent twice
  EXPECT_EQ(registry->finish(kAdmin, u->id).error().message(), "the upload has 4 of its 10 bytes: send the rest first");
  auto last = registry->write(kAdmin, u->id, 4, "456789");
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->received, 10);
  EXPECT_EQ(registry->write(kAdmin, u->id, 10, "x").error().code(), ErrorCode::kInvalidArgument);
  auto image = registry->finish(kAdmin, u->id);
  ASSERT_TRUE(image.ok()) << image.error().message();
  EXPECT_EQ(image->id, "i-new");
  ASSERT_TRUE(started_.has_value());
  EXPECT_EQ(started_->name, "guest");
  EXPECT_EQ(fs::path(started_->source_path).extension(), ".vhd");
  EXPECT_EQ(imported_bytes_, "0123456789");
  auto after = registry->get(kAdmin, u->id).value();
  EXPECT_EQ(after.state, "importing");
  EXPECT_EQ(after.image_id, "i-new");
  EXPECT_EQ(registry->finish(kAdmin, u->id).error().code(), ErrorCode::kConflict);
  EXPECT_EQ(registry->remove(kAdmin, u->id).error().code(), ErrorCode::kConflict);  // the import reads it
}

TEST_F(UploadRegistryTest, SweepRemovesImportedAndAbandonedUploadsOnly) {
  auto registry = open(UploadLimits{.idle_limit = 1h});
  auto done = registry->create(kAdmin, spec(1)).value();
  ASSERT_TRUE(registry->write(kAdmin, done.id, 0, "x").ok());
  ASSERT_TRUE(registry->finish(kAdmin, done.id).ok());
  auto idle = registry->create(kAdmin, spec(5)).value();
  clock_.advance(30min);
  auto busy = registry->create(kAdmin, spec(5)).value();
  registry->sweep();
  EXPECT_EQ(registry->list(kAdmin).value().size(), 3u);  // importing, and nothing idle for an hour yet
  clock_.advance(31min);
  importing_ = false;
  registry->sweep();
  auto left = registry->list(kAdmin).value();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].id, busy.id);
  EXPECT_EQ(files(), 2u);  // busy's data and description
  EXPECT_EQ(registry->get(kAdmin, idle.id).error().code(), ErrorCode::kNotFound);
}

TEST_F(UploadRegistryTest, AnUploadResumesAfterARestartWhereItsBytesEnd) {
  std::string id;
  {
    auto registry = open();
    id = registry->create(kAdmin, spec(6)).value().id;
    ASSERT_TRUE(registry->write(kAdmin, id, 0, "abc").ok());
  }
  std::ofstream(dir_ + "/stray.part") << "left by a crash";
  auto registry = open();
  auto u = registry->get(kAdmin, id);
  ASSERT_TRUE(u.ok()) << u.error().message();
  EXPECT_EQ(u->received, 3);
  EXPECT_FALSE(fs::exists(dir_ + "/stray.part"));
  EXPECT_TRUE(registry->write(kAdmin, id, 3, "def").ok());
  EXPECT_TRUE(registry->finish(kAdmin, id).ok());
  EXPECT_EQ(imported_bytes_, "abcdef");
}

TEST_F(UploadRegistryTest, LimitsAndRolesAreEnforced) {
  auto registry = open(UploadLimits{.max_bytes = 100, .max_active = 2});
  EXPECT_EQ(registry->create(kTenantAdmin, spec(1)).error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(registry->create(kAdmin, spec(101)).error().code(), ErrorCode::kInvalidArgument);
  auto a = registry->create(kAdmin, spec(1)).value();
  ASSERT_TRUE(registry->create(kAdmin, spec(1)).ok());
  EXPECT_EQ(registry->create(kAdmin, spec(1)).error().code(), ErrorCode::kUnavailable);  // two at once at most
  EXPECT_EQ(registry->get(kTenantAdmin, a.id).error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(registry->write(kAdmin, "up-nope", 0, "x").error().code(), ErrorCode::kNotFound);
  ASSERT_TRUE(registry->remove(kAdmin, a.id).ok());
  EXPECT_TRUE(registry->create(kAdmin, spec(1)).ok());  // a slot again
  auto huge = parse_create_upload(R"({"name":"n","size":4611686018427387904})").value();
  auto roomy = open(UploadLimits{.max_bytes = INT64_MAX, .max_active = 10});
  EXPECT_EQ(roomy->create(kAdmin, huge).error().code(), ErrorCode::kUnavailable);  // no disk is that large
}

}  // namespace
}  // namespace oriel::api
