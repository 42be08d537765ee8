// The cluster's PKI inside the controller (internal; cluster_pki.cc).
#pragma once

#include <string>

#include "oriel/common/result.h"
#include "oriel/controller/hosts.h"

namespace oriel::controller {

struct Core;

// The store's cluster CA (made, or taken from the options, when the store
// has none yet) and this controller's certificate for its agents, named
// kControllerCertificatePrefix + controller_name.
Result<ClusterCredentials> load_cluster_credentials(Core& core, const std::string& controller_name);

// The host a verified client certificate was issued to; Unauthenticated
// for one the cluster did not record, or one revoked.
Result<std::string> certified_host(Core& core, const PeerCertificate& peer);

}  // namespace oriel::controller
