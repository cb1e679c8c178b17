// libFuzzer target for the HTTP/1.1 codec, both directions. The first byte picks requests or
// responses (and HEAD-style "no body" for responses), the second the size of the reads the input
// is cut into, so messages split at every kind of boundary are exercised, with pipelining.
// Built and run by scripts/fuzz.sh (see there for a longer local run).

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "proxy/http/codec.h"

using namespace switchyard::http;
namespace {
struct Sink : RequestCallbacks, ResponseCallbacks {
  Http1Parser* p = nullptr;
  int n = 0;
  void onRequestHeaders(RequestHeadersPtr h, bool) override {
    (void)h->headers.size();
    ++n;
  }
  void onResponseHeaders(ResponseHeadersPtr h, bool) override {
    (void)h->headers.size();
    ++n;
  }
  void onBody(Buffer& d, bool end) override {
    d.drain(d.length());
    if (end) ++n;
  }
  void onCodecError(const CodecError&) override { ++n; }
};
}  // namespace
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const bool response = data[0] & 1;
  const bool no_body = data[0] & 2;
  const size_t split = data[1];
  data += 2;
  size -= 2;
  Http1Parser parser(response ? Http1Parser::Kind::Response : Http1Parser::Kind::Request,
                     CodecLimits{4096, 65536});
  Sink sink;
  parser.setRequestCallbacks(&sink);
  parser.setResponseCallbacks(&sink);
  if (response) parser.setExpectNoBody(no_body);
  Buffer in;
  size_t pos = 0, step = split ? split : size;
  for (int rounds = 0; pos < size && rounds < 10000; ++rounds) {
    size_t take = std::min(step, size - pos);
    in.add(std::string_view(reinterpret_cast<const char*>(data + pos), take));
    pos += take;
    parser.dispatch(in);
    if (parser.messageComplete()) {
      parser.resumeNextMessage();
      parser.dispatch(in);
    }
  }
  parser.onEof();
  return 0;
}
