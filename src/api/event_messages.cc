// The pure parts of the event stream: indexing lists, finding what changed,
// the messages. Unit-tested in tests/unit/api/events_test.cc.
#include "events.h"
#include "rest_support.h"
#include "views.h"

namespace oriel::api {

Result<TopicItems> index_items(Json items, std::string_view key) {
  if (!items.is_array()) return Error::InvalidArgument("a topic's list must be an array");
  TopicItems out;
  for (const auto& item : items) {
    auto it = item.is_object() ? item.find(key) : item.end();
    if (!item.is_object() || it == item.end()) {
      return Error::InvalidArgument(fmt::format("an item of the list has no '{}'", key));
    }
    std::string id = it->is_string() ? it->get<std::string>() : it->dump();
    out.order.push_back(id);
    out.dumps[std::move(id)] = item.dump();
  }
  out.items = std::move(items);
  return out;
}

TopicChanges diff_topic(const std::map<std::string, std::string>& before, const TopicItems& now) {
  TopicChanges changes;
  for (const auto& [id, dump] : before) {
    if (!now.dumps.count(id)) changes.removed.push_back(id);
  }
  // In list order, so the browser can keep the controller's order for new items.
  for (size_t i = 0; i < now.order.size(); ++i) {
    auto old = before.find(now.order[i]);
    if (old != before.end() && old->second == now.dumps.at(now.order[i])) continue;
    changes.upserted.push_back(now.items[i]);
  }
  return changes;
}

Json snapshot_message(std::string_view topic, const TopicItems& now) {
  return {{"type", "snapshot"}, {"topic", topic}, {"items", now.items}};
}

Json changes_message(std::string_view topic, const TopicChanges& changes) {
  return {{"type", "changes"}, {"topic", topic}, {"upserted", changes.upserted}, {"removed", changes.removed}};
}

Json hello_message(const controller::Principal& who, const std::vector<std::string>& topics,
                   std::chrono::milliseconds interval) {
  Json user = {{"id", who.user_id},
               {"username", who.username},
               {"role", who.role},
               {"tenant_id", who.tenant_id.empty() ? Json(nullptr) : Json(who.tenant_id)}};
  return {{"type", "hello"}, {"user", user}, {"topics", topics}, {"interval_ms", interval.count()}};
}

Result<std::string> parse_events_auth(std::string_view message) {
  auto j = parse_json(message);
  if (!j.ok()) return Error::InvalidArgument("the first message must be {\"token\": \"...\"}");
  TRY(json_only_fields(*j, {"token"}));
  auto token = TRY(json_string(*j, "token"));
  if (token.empty()) return Error::InvalidArgument("the token is empty");
  return token;
}

std::vector<Topic> controller_topics(controller::Controller& c) {
  using controller::Principal;
  std::vector<Topic> topics;
  topics.push_back({"hosts", "id", [&c](const Principal& w) -> Result<Json> {
                      return view::list<view::Host>(TRY(c.hosts().list(w)));
                    }});
  topics.push_back({"images", "id", [&c](const Principal& w) -> Result<Json> {
                      return view::list<view::Image>(TRY(c.images().list(w)));
                    }});
  topics.push_back({"tenants", "id", [&c](const Principal& w) -> Result<Json> {
                      return view::list<view::Tenant>(TRY(c.identity().tenants(w)));
                    }});
  topics.push_back({"users", "id", [&c](const Principal& w) -> Result<Json> {
                      return view::list<view::User>(TRY(c.identity().users(w, "")));
                    }});
  topics.push_back({"pools", "id", [&c](const Principal& w) -> Result<Json> {
                      return view::list<view::Pool>(TRY(c.pools().list(w, "")));
                    }});
  topics.push_back({"desktops", "id", [&c](const Principal& w) -> Result<Json> {
                      return view::list<view::Desktop>(TRY(c.desktops().list(w, {})));
                    }});
  topics.push_back({"sessions", "id", [&c](const Principal& w) -> Result<Json> {
                      return view::list<view::Session>(TRY(c.sessions().list(w, {})));
                    }});
  // The newest events only: enough for the dashboard's recent failures and
  // for the audit page to know that there is something new to load.
  topics.push_back({"audit", "seq", [&c](const Principal& w) -> Result<Json> {
                      store::AuditFilter recent;
                      recent.limit = 20;
                      return view::list<view::AuditEvent>(TRY(c.audit().events(w, recent)));
                    }});
  return topics;
}

}  // namespace oriel::api
