#pragma once

// Comparing two answers to one request (v1's and v2's, for a shadow comparison): the status,
// chosen headers, and the bodies, JSON structurally and anything else by digest. And learning
// which fields are noise, as Twitter's Diffy does: fields that differ between two answers of the
// *same* side to the same request (timestamps, request ids) say nothing about the new version,
// and a difference confined to them is noise, not a mismatch.
//
// Paths: "status", "header.<lower-case name>", "body" (a digest, for bodies that are not both
// JSON) and JSON paths from "$" ("$.items[2].price"; a key that is not a plain name is quoted:
// $["a b"]). Their general form has every array index as [*] ("$.items[*].price"): ignore lists
// and the noise learner work on general forms, so learning that one element's "id" is noise
// covers them all.
//
// Pure functions and a plain class, no I/O and no clock: the callers own the threads and time.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchyard::router {

struct ComparedResponse {
  int status = 0;                                            // 0: no answer
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case names
  std::string body;
  bool body_complete = true;  // false when the body was cut at a byte limit
};

struct CompareSettings {
  std::vector<std::string> headers;  // lower-case names compared; others are not
  // JSON paths left out, with everything under them; "$.serverTime", "$.items[*].etag".
  std::vector<std::string> ignore;
  // Two numbers are equal when they differ by at most this share of the larger magnitude.
  double numeric_tolerance = 0;
  // At most this many differences are reported (the comparison stops there).
  size_t max_differences = 50;
};

struct FieldDifference {
  std::string path;
  std::string primary;  // the value as JSON text, "<absent>", or a digest
  std::string other;
  bool operator==(const FieldDifference&) const = default;
};

// Every difference between `primary` and `other`: the status, the chosen headers, then the body
// (object keys in sorted order, keys only `other` has after the others). A body cut short on
// either side is compared by nothing but its status and headers (a "body" difference says so
// when only one was cut).
std::vector<FieldDifference> compareResponses(const ComparedResponse& primary,
                                              const ComparedResponse& other,
                                              const CompareSettings& settings);

// "$.items[2].price" -> "$.items[*].price".
std::string generalPath(std::string_view path);

// Whether `path` is `pattern` or lies under it, both in general form (a pattern may be written
// with indexes or with [*]).
bool pathWithin(std::string_view path, std::string_view pattern);

// Learns noise from same-side pairs; bounded in the paths it remembers.
class NoiseLearner {
 public:
  // A path is noise once it differed in at least `min_ratio` of the same-side pairs seen (and
  // at least once). A status never is: a side that answers 200 then 500 is not noisy, it fails.
  explicit NoiseLearner(double min_ratio = 0.05, size_t max_paths = 1000)
      : min_ratio_(min_ratio), max_paths_(max_paths) {}

  // The differences between two answers of one side to one request.
  void learn(const std::vector<FieldDifference>& same_side);
  bool isNoise(std::string_view path) const;

  uint64_t samples() const { return samples_; }
  // general path -> pairs it differed in
  const std::map<std::string, uint64_t, std::less<>>& counts() const { return counts_; }

 private:
  double min_ratio_;
  size_t max_paths_;
  uint64_t samples_ = 0;
  std::map<std::string, uint64_t, std::less<>> counts_;
};

enum class ComparisonResult { Match, Mismatch, Noise, Error };
std::string_view comparisonResultName(ComparisonResult result);  // match, mismatch, noise, error

struct Verdict {
  ComparisonResult result = ComparisonResult::Match;
  std::vector<FieldDifference> differences;  // what made it a mismatch (noise left out)
};

// Match without differences; Noise when every difference is noise; else Mismatch with the
// differences that are not.
Verdict judge(const std::vector<FieldDifference>& differences, const NoiseLearner& noise);

}  // namespace switchyard::router
