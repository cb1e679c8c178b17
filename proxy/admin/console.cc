#include "proxy/admin/console.h"

#include "proxy/admin/console_assets.h"

namespace switchyard::admin {

std::vector<std::pair<std::string, std::string>> consoleHeaders() {
  return {
      {"Content-Security-Policy",
       "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"X-Frame-Options", "DENY"},
      {"Referrer-Policy", "no-referrer"},
      {"Cross-Origin-Opener-Policy", "same-origin"},
      {"Cross-Origin-Resource-Policy", "same-origin"},
      // A new binary may bring a new page: revalidated on every load (it is small).
      {"Cache-Control", "no-cache"},
  };
}

namespace {

AdminHandler assetHandler(const EmbeddedAsset& asset) {
  return [&asset](const AdminRequest&) {
    AdminResponse response;
    response.content_type = std::string(asset.content_type);
    response.body = std::string(asset.bytes);
    response.headers = consoleHeaders();
    return response;
  };
}

}  // namespace

void registerConsole(AdminServer& server) {
  const std::vector<EmbeddedAsset>& assets = consoleAssets();
  bool has_index = false;
  for (const EmbeddedAsset& asset : assets) {
    server.addHandler("GET", "/ui/" + std::string(asset.name), assetHandler(asset));
    if (asset.name == "index.html") {
      server.addHandler("GET", "/ui", assetHandler(asset));
      server.addHandler("GET", "/ui/", assetHandler(asset));
      has_index = true;
    }
  }
  if (!has_index) {
    server.addHandler("GET", "/ui", [](const AdminRequest&) {
      return problemResponse(404, "Not Found", "the console is not part of this build");
    });
  }
}

}  // namespace switchyard::admin
