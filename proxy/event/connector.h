#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "proxy/event/tls.h"
#include "proxy/event/transport.h"

namespace switchyard::event {

// Opens outbound connections. connect() either fails at once (returns null and says why in
// `error`, e.g. "Connection refused") or returns a transport whose connect is in progress:
// onConnected() or onClosed(ConnectFailed) follows on `callbacks`, from the event loop, never
// from inside connect(). Writes before the connect completes are buffered.
//
// On the dispatcher's thread. The caller owns the transport; `callbacks` must outlive it. The
// production one, LibeventConnector, is in connection.h.
class Connector {
 public:
  virtual ~Connector() = default;
  virtual std::unique_ptr<Transport> connect(const std::string& host, uint16_t port,
                                             ConnectionCallbacks& callbacks,
                                             std::string& error) = 0;

  // connect() followed by a TLS handshake with `tls` before onConnected() (a failed handshake is
  // onClosed(ConnectFailed), Transport::tlsError() saying why). `session` is where the
  // endpoint's session is resumed from and kept (see ClientTlsContext::newSsl()).
  virtual std::unique_ptr<Transport> connectTls(const std::string& host, uint16_t port,
                                                ConnectionCallbacks& callbacks, std::string& error,
                                                const std::shared_ptr<const ClientTlsContext>& tls,
                                                SslSessionPtr* session) {
    (void)host, (void)port, (void)callbacks, (void)tls, (void)session;
    error = "TLS is not supported by this connector";
    return nullptr;
  }
};

}  // namespace switchyard::event
