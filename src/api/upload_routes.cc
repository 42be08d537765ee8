// /api/v1/uploads: resumable image uploads (docs/api.md, "Uploads"). Chunks
// are not audited one by one (a large image is thousands of them); creating,
// finishing and cancelling an upload are.
#include "rest_support.h"
#include "uploads.h"
#include "views.h"

namespace oriel::api {

using controller::Controller;
using controller::Principal;

void add_upload_routes(Router& r, Controller& c, UploadRegistry& uploads) {
  auto idle = uploads.limits().idle_limit;
  r.add("POST", "/api/v1/uploads",
        audited(c, "upload.create", [&uploads, idle](const Principal& who, const Request& req) -> Result<Answer> {
          auto spec = TRY(parse_create_upload(req.body));
          if (who.admin() && spec.size > uploads.limits().max_bytes) {
            return Answer::refused(413, "too_large",
                                   fmt::format("the file is {} bytes; an upload is at most {} bytes", spec.size,
                                               uploads.limits().max_bytes));
          }
          auto upload = TRY(uploads.create(who, std::move(spec)));
          return Answer{Response::json(201, upload_json(upload, idle)), upload.id};
        }));
  r.add("GET", "/api/v1/uploads", authed(c, [&uploads, idle](const Principal& who, const Request&) -> Result<Response> {
          Json out = Json::array();
          for (const auto& u : TRY(uploads.list(who))) out.push_back(upload_json(u, idle));
          return Response::json(200, out);
        }));
  r.add("GET", "/api/v1/uploads/{id}",
        authed(c, [&uploads, idle](const Principal& who, const Request& req) -> Result<Response> {
          return Response::json(200, upload_json(TRY(uploads.get(who, req.params.at("id"))), idle));
        }));
  r.add("PUT", "/api/v1/uploads/{id}",
        authed(c, [&uploads, idle](const Principal& who, const Request& req) -> Result<Response> {
          auto offset = TRY(parse_chunk_offset(req.query));
          return Response::json(200, upload_json(TRY(uploads.write(who, req.params.at("id"), offset, req.body)), idle));
        }));
  r.add("POST", "/api/v1/uploads/{id}/actions/finish",
        audited(c, "upload.finish", [&uploads](const Principal& who, const Request& req) -> Result<Answer> {
          return Answer::of(202, view::Image::of(TRY(uploads.finish(who, req.params.at("id")))));
        }));
  r.add("DELETE", "/api/v1/uploads/{id}",
        audited(c, "upload.delete", [&uploads](const Principal& who, const Request& req) -> Result<Answer> {
          TRY(uploads.remove(who, req.params.at("id")));
          return Answer::done(200);
        }));
}

}  // namespace oriel::api
