// How images, desktops and hosts look in `--output table`: which columns a
// person wants, with sizes and ages made readable. Input is the server's JSON
// as it came (fields may be missing or null: they show as "-").
#pragma once

#include <string>

#include "oriel/common/clock.h"
#include "oriel/common/json.h"
#include "output.h"

namespace oriel::cli {

std::string images_table(const Json& images, WallTime now);
Fields image_fields(const Json& image);
// "kernel /boot/vmlinuz, initrd /boot/initrd.img, cmdline 'console=ttyS0'",
// "firmware uefi" or "bios (default)".
std::string boot_text(const Json& boot);

std::string desktops_table(const Json& desktops, WallTime now);
Fields desktop_fields(const Json& desktop);

std::string hosts_table(const Json& hosts);

}  // namespace oriel::cli
