#pragma once

// The operations console on the admin listener: GET /ui serves the page, GET /ui/<file> its
// script and style sheet, all embedded in the binary (console_assets.h). The page itself only
// reads the JSON endpoints and calls the mutating ones with the operator's bearer token, so it
// adds no way to change anything that the API does not already have.
//
// Every reply carries a Content-Security-Policy that allows scripts, styles and requests from
// the admin listener itself and nothing else (no inline script, no other origin, no framing), and
// none carries Access-Control-* headers: a page from another origin can neither read the
// console's data nor make the browser send the token.

#include <string>
#include <utility>
#include <vector>

#include "proxy/admin/admin_server.h"

namespace switchyard::admin {

// The policy and the other security headers of every console reply.
std::vector<std::pair<std::string, std::string>> consoleHeaders();

// Registers GET /ui, /ui/ and /ui/<name> for each embedded file (/ui is index.html). Without
// embedded files /ui answers 404 saying the console is not part of this build.
void registerConsole(AdminServer& server);

}  // namespace switchyard::admin
