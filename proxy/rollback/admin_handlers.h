#pragma once

// The rollback manager's admin endpoints: the Alertmanager webhook, the state and execution
// views, and the manual trigger and resume. Each turns a request into a call on the manager and
// its typed result into a reply (JSON, or a problem+json with the HTTP status that fits); no
// state of its own beyond the limits it was given.
//
// Threads: the handlers run on the admin thread (AdminServer) and only call the manager's
// thread-safe API. The manager must outlive every server the handlers are registered on.

#include <cstddef>

#include "proxy/admin/admin_server.h"
#include "proxy/rollback/manager.h"

namespace switchyard::rollback {

class RollbackAdmin {
 public:
  // Largest body of POST /rollback/trigger and /rollback/resume (the webhook's limit is the
  // manager's configuration: webhook.max_body_bytes).
  static constexpr size_t DefaultMaxBodyBytes = 64 * 1024;

  explicit RollbackAdmin(RollbackManager& manager, size_t max_body_bytes = DefaultMaxBodyBytes);

  // POST /alerts/alertmanager: an Alertmanager webhook notification (application/json, at most
  // webhook.max_body_bytes). 200 {"alerts": n, "results": [per alert]}; 400/413/415 for a
  // request that is refused before any alert is read.
  admin::AdminResponse alertmanagerWebhook(const admin::AdminRequest& request);
  // GET /rollback: RollbackManager::stateJson().
  admin::AdminResponse state(const admin::AdminRequest& request) const;
  // GET /rollback/executions[?id=<id>]: all, newest first, or one (404 when unknown).
  admin::AdminResponse executions(const admin::AdminRequest& request) const;
  // POST /rollback/trigger {"route": "...", "reason": "..."}: 202 when started, 404 without a
  // plan, 409 when rolled back or rolling back already.
  admin::AdminResponse trigger(const admin::AdminRequest& request);
  // POST /rollback/resume {"route": "..."}: 200, 404 without a plan, 409 when active or rolling
  // back, 502 when the proxy could not undo the rollback.
  admin::AdminResponse resume(const admin::AdminRequest& request);

 private:
  RollbackManager& manager_;
  size_t max_body_bytes_;
};

// Registers the five endpoints on `server` (the POST ones as mutating, so they need the admin
// token) and raises its body limit to let the largest webhook the manager accepts through, so
// that the handler, not the server, refuses a larger one. Call before server.start().
void registerRollbackAdmin(admin::AdminServer& server, RollbackManager& manager);

}  // namespace switchyard::rollback
