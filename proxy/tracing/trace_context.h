#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/common/random.h"

namespace switchyard::tracing {

// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` and `tracestate`
// request headers. Everything here is pure: no clock, no allocation beyond returned strings, no
// state, so the data path may call it from any worker.

using TraceId = std::array<uint8_t, 16>;
using SpanId = std::array<uint8_t, 8>;

// The only trace flag this version of the spec defines. Other bits are dropped when we forward.
constexpr uint8_t SampledFlag = 0x01;

// The longest `tracestate` we accept and forward; the spec asks to propagate at least 512
// characters. A longer one is dropped whole rather than truncated.
constexpr size_t MaxTracestateLength = 512;
constexpr size_t MaxTracestateMembers = 32;

bool isZero(const TraceId& id);
bool isZero(const SpanId& id);

// Lower-case hex: 32 characters for a trace id, 16 for a span id.
std::string toHex(const TraceId& id);
std::string toHex(const SpanId& id);
// Lower-case hex only (the spec forbids upper case); false on any other character or length.
bool parseHex(std::string_view text, TraceId& out);
bool parseHex(std::string_view text, SpanId& out);

// Random ids from `random`; never all zeros (an all-zero id is invalid on the wire).
TraceId generateTraceId(common::Random& random);
SpanId generateSpanId(common::Random& random);

// A parsed `traceparent` value.
struct TraceParent {
  uint8_t version = 0;
  TraceId trace_id{};
  SpanId parent_id{};
  uint8_t flags = 0;

  bool sampled() const { return (flags & SampledFlag) != 0; }
};

// Parses a `traceparent` value: "vv-<32 hex trace id>-<16 hex parent id>-<2 hex flags>", all hex
// lower-case. Surrounding spaces and tabs are ignored. Rules:
//  - version "ff" is invalid;
//  - version "00" must be exactly 55 characters;
//  - a higher version is parsed by its first four fields: it may be longer than 55 characters,
//    but then the 56th must be '-' (what follows belongs to that future version);
//  - an all-zero trace id or parent id is invalid.
// nullopt when invalid; the caller then starts a new trace and ignores `tracestate`.
std::optional<TraceParent> parseTraceparent(std::string_view value);

// "00-<trace id>-<span id>-<flags>": always version 00, whatever version was received.
std::string formatTraceparent(const TraceId& trace_id, const SpanId& span_id, uint8_t flags);

// Checks a `tracestate` value (several header lines joined with ',' count as one list):
// list members "key=value" separated by commas with optional spaces/tabs around them, empty
// members allowed; keys "simple" (lcalpha then up to 255 of lcalpha, digit, _-*/) or
// "tenant@system"; values 1-256 printable ASCII characters except ',' and '=', not ending in a
// space; each key at most once; at most MaxTracestateMembers members and MaxTracestateLength
// characters. Returns the value to forward (spaces around members and empty members removed,
// order kept), "" for an empty list, or nullopt when invalid (the caller drops it and keeps
// the traceparent).
std::optional<std::string> parseTracestate(std::string_view value);

}  // namespace switchyard::tracing
