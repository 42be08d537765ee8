// The byte stream to a desktop's VNC server, wherever the desktop runs: a
// unix socket when it runs on this host's agent, or the agent's WebSocket
// (/agent/v1/vms/ID/vnc, authenticated with the cluster token) when it runs
// on another host. libvncclient wants a file descriptor, so a remote stream
// is carried between the WebSocket and one end of a local socket pair by a
// bridge on a shared I/O thread (internal to the gateway).
#pragma once

#include <chrono>
#include <string>

#include "oriel/common/result.h"
#include "oriel/net/tls.h"

namespace oriel::display {

// A connected stream socket, owned by the caller (who closes it). `address`
// is a unix socket path or a ws:// or wss:// URL; `token` (the deprecated
// cluster token) and `tls` (what a wss:// agent is trusted and called with)
// go with a URL. Unavailable with the reason when the server cannot be
// reached.
Result<int> open_vnc_stream(const std::string& address, const std::string& token,
                            std::shared_ptr<const net::TlsClient> tls, std::chrono::milliseconds timeout);

}  // namespace oriel::display
