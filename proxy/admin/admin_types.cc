#include "proxy/admin/admin_types.h"

#include "proxy/common/http_status.h"

namespace switchyard::admin {

AdminResponse problemResponse(int status, std::string title, std::string detail) {
  AdminResponse response;
  response.status = status;
  response.content_type = "application/problem+json";
  nlohmann::json body = {{"type", "about:blank"},
                         {"title", std::move(title)},
                         {"status", status},
                         {"detail", std::move(detail)}};
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

AdminResponse problemResponse(int status, std::string detail) {
  return problemResponse(status, common::reasonPhrase(status), std::move(detail));
}

AdminResponse jsonResponse(int status, const nlohmann::json& body) {
  AdminResponse response;
  response.status = status;
  response.body = body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  return response;
}

}  // namespace switchyard::admin
