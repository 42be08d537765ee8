// Helpers shared by the REST route files (internal to src/api): handlers
// for a signed-in caller, and the audit of the requests that change
// something.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <type_traits>
#include <unordered_map>

#include "http_types.h"
#include "oriel/controller/controller.h"

namespace oriel::api {

using AuthedHandler = std::function<Result<Response>(const controller::Principal&, const Request&)>;

// A handler for a signed-in caller.
Handler authed(controller::Controller& c, AuthedHandler fn);

// What an audited handler answers: the reply, and what the audit log keeps
// of it, taken from the typed object answered rather than from the reply.
struct Answer {
  Response response;
  std::string target;         // the object acted on, when the path names none
  std::string tenant_id;      // the object's tenant, when it has one
  std::string result = "ok";  // or the code of a refusal the handler answers itself
  std::string detail;

  // A view (views.h) as JSON with `status`; its id and tenant are the audit's.
  template <typename View>
  static Answer of(int status, const View& v) {
    Answer a{Response::json(status, v.json()), v.id};
    if constexpr (requires { v.tenant_id.value_or(""); }) {
      a.tenant_id = v.tenant_id.value_or("");
    } else if constexpr (requires { v.tenant_id.size(); }) {
      a.tenant_id = v.tenant_id;
    }
    return a;
  }
  // A reply about no object of its own: the path's {id} names it, if any.
  static Answer done(int status, const Json& body = Json::object()) { return {Response::json(status, body)}; }
  // A refusal the handler answers itself (not an Error of the controller).
  static Answer refused(int status, std::string code, std::string message) {
    Response response = http_error(status, code, message);
    return {std::move(response), "", "", std::move(code), std::move(message)};
  }
};

// A handler for a signed-in caller that changes something: every call is
// appended to the audit log as `action` ("{action}" is replaced by the
// path's) with the caller, the client's address, the target (the {id} of
// the path, else the object answered) and the result. Calls refused before
// authentication are counted instead (oriel_refused_requests_total), and
// one event per client address and minute says how many.
using AuditedHandler = std::function<Result<Answer>(const controller::Principal&, const Request&)>;
Handler audited(controller::Controller& c, std::string action, AuditedHandler fn);

// Audit fields a client chooses are cut to these many bytes (UTF-8 kept whole).
constexpr size_t kAuditTargetMax = 128, kAuditDetailMax = 512;

// Which refused requests make an audit event: the first from an address,
// then one a minute (reporting how many there were). Thread-safe; it
// forgets quiet addresses once it holds kMaxAddresses.
class RefusalSampler {
 public:
  static constexpr std::chrono::seconds kInterval{60};
  static constexpr size_t kMaxAddresses = 10000;
  // Notes one refusal; true when an event is due, with `count` refusals in it.
  bool due(const std::string& address, std::chrono::steady_clock::time_point now, int64_t& count);

 private:
  struct Seen {
    std::chrono::steady_clock::time_point reported;
    int64_t pending = 0;
  };
  std::mutex mu_;
  std::unordered_map<std::string, Seen> seen_;  // guarded by mu_
};

// Records one audit event for a request, answered or refused. `who` is null
// when the caller is unknown; `target`, when given, names what was acted on.
void record_audit(controller::Controller& c, std::string_view action, const Request& req,
                  const controller::Principal* who, const Result<Answer>& answer, std::string_view target = {});

// `public_websocket`: "wss://HOST[:PORT][/PREFIX]" that display URLs start
// with, or empty for the scheme and Host of each request.
void add_broker_routes(Router& router, controller::Controller& c, const std::string& public_websocket);

}  // namespace oriel::api
