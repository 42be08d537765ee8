// A real QEMU whose screen shows recorded frames on command, so that QEMU's
// own VNC server can be measured on them (display_compare).
//
// The guest is the project's test guest (Debian kernel + busybox, a
// bochs-drm framebuffer at 1280x800) booted with a different /init, appended
// to its initrd as a second cpio archive: it unbinds the framebuffer
// console, then for each line "F <slot>" on the serial port copies frame
// <slot> of its disk (/dev/vda, one frame per slot in the framebuffer's own
// layout, B,G,R,X) into /dev/fb0 and answers "DONE <slot>". The host checks
// with QMP screendump that the emulated display shows exactly the frame
// before a VNC client may ask for it. QEMU's VNC listens on a unix socket
// only, with lossy (JPEG) encodings allowed and non-adaptive: QEMU's
// adaptive mode picks JPEG from how often each area changed in wall-clock
// time, which a paced replay would make depend on the machine's load.
//
// Not thread-safe; the owner kills QEMU when it goes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "oriel/common/result.h"
#include "sequence.h"

namespace oriel::bench {

class LineSocket;

class ReplayGuest {
 public:
  // Writes the frames of `sequences` to a disk image in `dir` (slot of
  // sequences[i] frame j: first_slot(i) + j), boots the guest and waits until
  // it is ready. The test guest is found as the tests find it
  // (ORIEL_BINARY_DIR/images/test-guest).
  static Result<std::unique_ptr<ReplayGuest>> start(const std::string& dir,
                                                    const std::vector<const Sequence*>& sequences);
  ~ReplayGuest();
  ReplayGuest(const ReplayGuest&) = delete;
  ReplayGuest& operator=(const ReplayGuest&) = delete;

  size_t first_slot(size_t sequence) const { return first_slots_[sequence]; }
  const std::string& vnc_socket() const { return vnc_socket_; }

  // Shows a frame and returns once QMP screendump matches `expect` exactly.
  Result<void> show(size_t slot, const Sequence& s, size_t frame);

  // CPU time QEMU's VNC encoding thread ("vnc_worker") has used, in ns.
  Result<int64_t> vnc_worker_cpu_ns();

 private:
  ReplayGuest() = default;
  Result<void> boot(const std::string& initrd, const std::string& disk);
  Result<bool> screen_matches(const Sequence& s, size_t frame);

  std::string dir_, vnc_socket_, shot_;
  pid_t pid_ = -1;
  pid_t worker_tid_ = -1;
  std::vector<size_t> first_slots_;
  std::unique_ptr<LineSocket> serial_, qmp_;
};

}  // namespace oriel::bench
