// Tables, sizes, ages, the progress bar and the object views are pure text.
#include "output.h"

#include <gtest/gtest.h>

#include "views.h"

namespace oriel::cli {
namespace {

TEST(TableTest, AlignsColumnsWithoutTrailingSpaces) {
  Table t({"ID", "NAME", "STATE"});
  t.add_row({"d-1", "web", "running"});
  t.add_row({"d-22", "a-much-longer-name", "-"});
  EXPECT_EQ(t.render(), "ID    NAME                STATE\n"
                        "d-1   web                 running\n"
                        "d-22  a-much-longer-name  -\n");
}

TEST(TableTest, EmptyTableIsTheHeaderAndMissingCellsAreBlank) {
  Table t({"A", "B"});
  EXPECT_EQ(t.render(), "A  B\n");
  t.add_row({"x"});
  EXPECT_EQ(t.render(), "A  B\nx\n");
}

TEST(TableTest, CountsUtf8CharactersAndNeutralisesControlCharacters) {
  Table t({"NAME", "X"});
  t.add_row({"caf\xc3\xa9", "1"});
  t.add_row({"evil\x1b[2J", "2"});
  EXPECT_EQ(t.render(), "NAME      X\n"
                        "caf\xc3\xa9      1\n"
                        "evil?[2J  2\n");
}

TEST(FieldsTest, AlignsValues) {
  EXPECT_EQ(render_fields({{"ID", "d-1"}, {"Desired state", "running"}, {"Error", ""}}), "ID:             d-1\n"
                                                                                         "Desired state:  running\n"
                                                                                         "Error:\n");
}

TEST(HumanTest, BytesUseBinaryUnitsWithOneDecimalBelowTen) {
  EXPECT_EQ(human_bytes(0), "0 B");
  EXPECT_EQ(human_bytes(1023), "1023 B");
  EXPECT_EQ(human_bytes(1024), "1 KiB");
  EXPECT_EQ(human_bytes(1536), "1.5 KiB");
  EXPECT_EQ(human_bytes(47u << 20), "47 MiB");
  EXPECT_EQ(human_bytes(uint64_t{20} << 30), "20 GiB");
  EXPECT_EQ(human_bytes((uint64_t{1} << 30) - 1), "1 GiB");  // 1023.99... MiB rounds up a unit
  EXPECT_EQ(human_bytes(10180), "9.9 KiB");
  EXPECT_EQ(human_bytes(10230), "10 KiB");
  EXPECT_EQ(human_bytes(UINT64_MAX), "16 EiB");
  EXPECT_EQ(human_mib(1024), "1 GiB");
  EXPECT_EQ(human_mib(1536), "1.5 GiB");
  EXPECT_EQ(human_mib(-1), "-");
}

TEST(HumanTest, AgesPickOneUnit) {
  WallTime t0 = from_unix_ms(1'700'000'000'000);
  using namespace std::chrono;
  EXPECT_EQ(human_age(t0, t0 + 45s), "45s");
  EXPECT_EQ(human_age(t0, t0 + 12min + 5s), "12m");
  EXPECT_EQ(human_age(t0, t0 + 5h), "5h");
  EXPECT_EQ(human_age(t0, t0 + 72h), "3d");
  EXPECT_EQ(human_age(t0, t0 - 1s), "-");
}

TEST(MemoryTest, ParsesMibAndUnits) {
  EXPECT_EQ(*parse_memory_mib("1024"), 1024);
  EXPECT_EQ(*parse_memory_mib("512M"), 512);
  EXPECT_EQ(*parse_memory_mib("4G"), 4096);
  EXPECT_EQ(*parse_memory_mib("2GiB"), 2048);
  EXPECT_EQ(*parse_memory_mib("1t"), 1024 * 1024);
  for (const char* bad : {"", "0", "-1", "G", "4X", "1.5G", "999999999999999"}) {
    EXPECT_FALSE(parse_memory_mib(bad).ok()) << bad;
  }
}

TEST(ProgressBarTest, BarFillsInProportionAndClamps) {
  EXPECT_EQ(progress_bar("importing win11", 47, 20), "importing win11  [#########...........]   47%");
  EXPECT_EQ(progress_bar("x", 0, 4), "x  [....]    0%");
  EXPECT_EQ(progress_bar("x", 100, 4), "x  [####]  100%");
  EXPECT_EQ(progress_bar("x", 250, 4), "x  [####]  100%");
  EXPECT_EQ(progress_bar("x", -3, 4), "x  [....]    0%");
  EXPECT_EQ(progress_bar("x", std::nan(""), 4), "x  [....]    0%");
}

TEST(ProgressBarTest, TerminalRedrawsOnlyOnChangeAndEndsTheLine) {
  ProgressPrinter p("importing a", /*terminal=*/true);
  EXPECT_EQ(p.update(0), "\r" + progress_bar("importing a", 0));
  EXPECT_EQ(p.update(0.4), "");
  EXPECT_EQ(p.update(47.9), "\r" + progress_bar("importing a", 47));
  EXPECT_EQ(p.finish(), "\n");
  EXPECT_EQ(p.finish(), "");
}

TEST(ProgressBarTest, LogGetsALineEachTenPercent) {
  ProgressPrinter p("importing a", /*terminal=*/false);
  std::string out;
  for (double v : {0.0, 3.0, 9.9, 10.0, 15.0, 47.0, 48.0, 100.0}) out += p.update(v);
  out += p.finish();
  EXPECT_EQ(out, "importing a: 0%\nimporting a: 10%\nimporting a: 47%\nimporting a: 100%\n");
}

TEST(FieldTextTest, ShowsNullsAsDashAndNumbersPlainly) {
  Json j = {{"s", "x"}, {"n", nullptr}, {"i", 4}, {"f", 2.5}, {"b", true}, {"e", ""}};
  EXPECT_EQ(field_text(j, "s"), "x");
  EXPECT_EQ(field_text(j, "n"), "-");
  EXPECT_EQ(field_text(j, "missing"), "-");
  EXPECT_EQ(field_text(j, "i"), "4");
  EXPECT_EQ(field_text(j, "f"), "2.5");
  EXPECT_EQ(field_text(j, "b"), "true");
  EXPECT_EQ(field_text(j, "e"), "-");
  EXPECT_EQ(field_text(Json::array(), "s"), "-");
}

TEST(CliViewsTest, ImageTableShowsProgressSizesAndAge) {
  WallTime now = *parse_rfc3339("2026-11-22T10:05:00.000Z");
  Json images = Json::parse(R"([
    {"id":"i-1","name":"win11","state":"importing","progress":47,"source_format":null,"format":"auto",
     "virtual_size_bytes":0,"size_bytes":0,"created_at":"2026-11-22T10:04:30.000Z","tenant_id":"t-1"},
    {"id":"i-2","name":"debian","state":"ready","progress":100,"source_format":"vpc","format":"auto",
     "virtual_size_bytes":21474836480,"size_bytes":1610612736,"created_at":"2026-11-22T08:00:00.000Z",
     "tenant_id":null,"shared":true}])");
  EXPECT_EQ(images_table(images, now), "ID   NAME    OWNER   STATE          FORMAT  SIZE    ON DISK  AGE\n"
                                       "i-1  win11   t-1     importing 47%  auto    -       -        30s\n"
                                       "i-2  debian  shared  ready          vpc     20 GiB  1.5 GiB  2h\n");
  EXPECT_EQ(images_table(Json::object(), now), "ID  NAME  OWNER  STATE  FORMAT  SIZE  ON DISK  AGE\n");
}

TEST(CliViewsTest, BootIsDescribedInWords) {
  EXPECT_EQ(boot_text(Json::object()), "bios (default)");
  EXPECT_EQ(boot_text({{"firmware", "uefi"}}), "firmware uefi");
  EXPECT_EQ(boot_text({{"kernel", "/k"}, {"initrd", "/i"}, {"cmdline", "console=ttyS0"}}),
            "kernel /k, initrd /i, cmdline 'console=ttyS0'");
}

TEST(CliViewsTest, DesktopViewsShowPendingActionsMemoryAndErrors) {
  WallTime now = *parse_rfc3339("2026-11-22T10:00:00.000Z");
  Json d = Json::parse(R"({"id":"d-1","name":"web","state":"running","desired_state":"running",
    "pending_action":"reboot","host_id":"h-1","pool_id":null,"assigned_user":null,"image_id":"i-1",
    "vcpus":2,"memory_mb":2048,"error":"guest panicked","created_at":"2026-11-21T10:00:00.000Z",
    "updated_at":"2026-11-22T09:00:00.000Z"})");
  EXPECT_EQ(desktops_table(Json::array({d}), now),
            "ID   NAME  STATE                     HOST  IMAGE  VCPUS  MEMORY  USER  AGE\n"
            "d-1  web   running (reboot pending)  h-1   i-1    2      2 GiB   -     1d\n");
  std::string shown = render_fields(desktop_fields(d));
  EXPECT_NE(shown.find("Pending action:  reboot\n"), std::string::npos) << shown;
  EXPECT_NE(shown.find("Error:           guest panicked\n"), std::string::npos) << shown;
  EXPECT_NE(shown.find("Memory:          2 GiB\n"), std::string::npos) << shown;
}

TEST(CliViewsTest, HostTableShowsAllocatedOverTotal) {
  Json hosts = Json::parse(R"([{"id":"h-1","name":"node1","state":"ready","accelerator":"kvm","cpus":8,
    "memory_mb":16384,"cpus_allocated":3,"memory_allocated_mb":3072,"desktops":2}])");
  EXPECT_EQ(hosts_table(hosts), "ID   NAME   STATE  ACCEL  CPUS  MEMORY        DESKTOPS\n"
                                "h-1  node1  ready  kvm    3/8   3 GiB/16 GiB  2\n");
}

}  // namespace
}  // namespace oriel::cli
