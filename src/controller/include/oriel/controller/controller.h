// The controller: the single source of truth. Its parts (one header each)
// validate commands, write the desired state to the store and answer at
// once; the control loops then drive the hosts towards that state. Every
// step is written before it is acted on, so a crash at any point converges
// after a restart.
//
// Ownership: the Controller owns its parts and what they share (the store,
// the agents, the clock, through Core); the store, the embedded agent, the
// clock and the randomness must outlive it. Thread-safe: the API calls the
// parts from its worker threads.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "oriel/agent/host_agent.h"
#include "oriel/common/clock.h"
#include "oriel/common/random.h"
#include "oriel/controller/audit.h"
#include "oriel/controller/desktops.h"
#include "oriel/controller/hosts.h"
#include "oriel/controller/identity.h"
#include "oriel/controller/images.h"
#include "oriel/controller/options.h"
#include "oriel/controller/pools.h"
#include "oriel/controller/sessions.h"
#include "oriel/store/store.h"

namespace oriel::controller {

class Controller {
 public:
  Controller(store::Store& store, agent::HostAgent& agent, Clock& clock, Random& random, ControllerOptions options);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Registers the embedded host and makes sure the admin exists with this
  // password (created, or its password updated when given).
  Result<void> bootstrap(std::string_view admin_password);
  // Starts the importer and, while this controller leads (Store::
  // hold_leadership: always with SQLite), the reconcilers and the broker's
  // loop. Every controller serves the API.
  void start();
  void stop();  // stops them; running desktops keep running
  bool leading() const;

  // Told when a desktop's guest runs on another host (a live migration, or
  // a restart elsewhere after its host failed), with that host's agent URL
  // (empty: this process's agent). Set before start().
  using MoveListener = std::function<void(const std::string& desktop_id, const std::string& agent_url)>;
  void set_move_listener(MoveListener listener);
  // Told when a session's display must close (logoff, disconnect, idle
  // timeout). Set before start(); called on the thread that ended it.
  void set_session_listener(SessionListener listener);

  // One pass of the broker's loop, normally run in the background: pools to
  // their targets, usage meter, idle sessions, expired tickets.
  void reconcile_broker();

  Identity& identity() { return *identity_; }
  Hosts& hosts() { return *hosts_; }
  Images& images() { return *images_; }
  Desktops& desktops() { return *desktops_; }
  Pools& pools() { return *pools_; }
  Sessions& sessions() { return *sessions_; }
  AuditLog& audit() { return *audit_; }
  // After bootstrap().
  const ClusterCredentials& cluster() const;

 private:
  // Takes or keeps leadership (the store's lock), starting or stopping the loops.
  void lead();

  std::unique_ptr<Core> core_;
  std::unique_ptr<Sessions> sessions_;
  std::unique_ptr<Identity> identity_;
  std::unique_ptr<Hosts> hosts_;
  std::unique_ptr<Images> images_;
  std::unique_ptr<Desktops> desktops_;
  std::unique_ptr<Pools> pools_;
  std::unique_ptr<AuditLog> audit_;
};

}  // namespace oriel::controller
