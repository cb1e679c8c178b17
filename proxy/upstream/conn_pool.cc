#include "proxy/upstream/conn_pool.h"

namespace switchyard::upstream {

const char* poolFailureName(PoolFailure f) {
  switch (f) {
    case PoolFailure::ConnectFailed:
      return "connect_failed";
    case PoolFailure::ConnectTimeout:
      return "connect_timeout";
    case PoolFailure::Overflow:
      return "overflow";
    case PoolFailure::NoEndpoint:
      return "no_endpoint";
  }
  return "unknown";
}

}  // namespace switchyard::upstream
