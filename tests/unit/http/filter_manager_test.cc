#include "proxy/http/filter_manager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "proxy/common/random.h"
#include "proxy/common/time.h"
#include "proxy/event/dispatcher.h"
#include "proxy/http/buffer.h"
#include "proxy/http/filter.h"
#include "proxy/http/headers.h"
#include "proxy/http/stream_info.h"

namespace switchyard::http {
namespace {

using std::chrono::milliseconds;
using Log = std::vector<std::string>;

std::string endSuffix(bool end_stream) { return end_stream ? ":end" : ""; }

// The downstream side of the filter chain: records what would go on the wire.
class FakeStream : public FilterManagerCallbacks {
 public:
  FakeStream(Log& log, event::Dispatcher& dispatcher, common::Random& random)
      : log_(log), dispatcher_(dispatcher), random_(random) {}

  void encodeHeadersToWire(ResponseHeaders& headers, bool end_stream) override {
    log_.push_back("wire:headers:" + std::to_string(headers.status) + endSuffix(end_stream));
    ++headers_calls;
    this->headers = headers;
    if (end_stream) ended = true;
  }
  void encodeDataToWire(Buffer& data, bool end_stream) override {
    log_.push_back("wire:data:" + data.toString() + endSuffix(end_stream));
    body += data.toString();
    data.drain(data.length());
    if (end_stream) ended = true;
  }
  void resetStream() override {
    log_.push_back("wire:reset");
    ++resets;
  }
  void readDisableDownstream(bool disable) override { read_disabled = disable; }
  void sendContinue() override { ++continues; }
  event::Dispatcher& dispatcher() override { return dispatcher_; }
  common::Random& random() override { return random_; }

  ResponseHeaders headers;
  int headers_calls = 0;
  std::string body;
  bool ended = false;
  int resets = 0;
  bool read_disabled = false;
  int continues = 0;

 private:
  Log& log_;
  event::Dispatcher& dispatcher_;
  common::Random& random_;
};

// A filter driven by the test: it logs every hook as "<name>:<hook>[:<detail>][:end]", returns
// scripted statuses (Continue once the script runs out), and runs optional hooks, e.g. to call
// continueDecoding() or sendLocalReply() at once or later from a dispatcher timer.
class ScriptedFilter : public StreamFilter {
 public:
  ScriptedFilter(std::string name, Log& log) : name_(std::move(name)), log_(log) {}

  FilterHeadersStatus decodeHeaders(RequestHeaders&, bool end_stream) override {
    log_.push_back(name_ + ":decodeHeaders" + endSuffix(end_stream));
    if (on_decode_headers) on_decode_headers(end_stream);
    return decode_headers_status;
  }
  FilterDataStatus decodeData(Buffer& data, bool end_stream) override {
    log_.push_back(name_ + ":decodeData:" + data.toString() + endSuffix(end_stream));
    const FilterDataStatus status = next(decode_data_statuses);
    if (on_decode_data) on_decode_data(end_stream);
    return status;
  }
  FilterHeadersStatus encodeHeaders(ResponseHeaders& headers, bool end_stream) override {
    log_.push_back(name_ + ":encodeHeaders:" + std::to_string(headers.status) +
                   endSuffix(end_stream));
    if (on_encode_headers) on_encode_headers(headers);
    return encode_headers_status;
  }
  FilterDataStatus encodeData(Buffer& data, bool end_stream) override {
    log_.push_back(name_ + ":encodeData:" + data.toString() + endSuffix(end_stream));
    return next(encode_data_statuses);
  }
  void onLocalReply(LocalReply& reply) override {
    log_.push_back(name_ + ":onLocalReply:" + std::to_string(reply.status));
    reply.headers.add("x-seen-by", name_);
  }
  void onDestroy() override {
    log_.push_back(name_ + ":onDestroy");
    timers_.clear();
  }

  StreamFilterCallbacks& cb() { return *callbacks_; }
  // Runs `fn` from a dispatcher timer `after` from now, as a real filter would.
  void later(milliseconds after, std::function<void()> fn) {
    timers_.push_back(callbacks_->dispatcher().createTimer(std::move(fn)));
    timers_.back()->enable(after);
  }

  FilterHeadersStatus decode_headers_status = FilterHeadersStatus::Continue;
  FilterHeadersStatus encode_headers_status = FilterHeadersStatus::Continue;
  std::deque<FilterDataStatus> decode_data_statuses;
  std::deque<FilterDataStatus> encode_data_statuses;
  std::function<void(bool)> on_decode_headers;
  std::function<void(bool)> on_decode_data;
  std::function<void(ResponseHeaders&)> on_encode_headers;

 protected:
  static FilterDataStatus next(std::deque<FilterDataStatus>& script) {
    if (script.empty()) return FilterDataStatus::Continue;
    const FilterDataStatus s = script.front();
    script.pop_front();
    return s;
  }

  std::string name_;
  Log& log_;
  std::vector<event::TimerPtr> timers_;
};

// Stands in for the router: once the request has ended it answers through encodeHeaders() and
// encodeData(), unless the test answers for it.
class TerminalFilter : public ScriptedFilter {
 public:
  using ScriptedFilter::ScriptedFilter;

  FilterHeadersStatus decodeHeaders(RequestHeaders& headers, bool end_stream) override {
    const auto status = ScriptedFilter::decodeHeaders(headers, end_stream);
    if (end_stream && respond_on_end) respond();
    return status;
  }
  FilterDataStatus decodeData(Buffer& data, bool end_stream) override {
    const auto status = ScriptedFilter::decodeData(data, end_stream);
    if (end_stream && respond_on_end) respond();
    return status;
  }

  void respond() {
    auto headers = makeResponseHeaders();
    headers->status = status;
    headers->headers.add("content-length", std::to_string(body.size()));
    cb().encodeHeaders(std::move(headers), body.empty());
    if (!body.empty()) {
      Buffer data(body);
      cb().encodeData(data, true);
    }
  }
  void sendHeaders(int code, bool end_stream) {
    auto headers = makeResponseHeaders();
    headers->status = code;
    cb().encodeHeaders(std::move(headers), end_stream);
  }
  void sendData(std::string_view bytes, bool end_stream) {
    Buffer data(bytes);
    cb().encodeData(data, end_stream);
  }

  bool respond_on_end = true;
  int status = 200;
  std::string body = "resp";
};

class FilterManagerTest : public testing::Test {
 protected:
  void build(uint64_t max_buffered_bytes = 1024) {
    fm_ = std::make_unique<FilterManager>(stream_, info_, max_buffered_bytes);
  }
  ScriptedFilter& addFilter(const std::string& name) {
    if (!fm_) build();
    auto filter = std::make_unique<ScriptedFilter>(name, log_);
    ScriptedFilter& ref = *filter;
    fm_->addFilter(std::move(filter));
    return ref;
  }
  TerminalFilter& setTerminal() {
    if (!fm_) build();
    auto filter = std::make_unique<TerminalFilter>("t", log_);
    TerminalFilter& ref = *filter;
    fm_->setTerminalFilter(std::move(filter));
    return ref;
  }
  static RequestHeadersPtr request(const std::string& method = "GET") {
    auto headers = makeRequestHeaders();
    headers->method = method;
    headers->path = "/resource";
    headers->headers.add("host", "example.com");
    return headers;
  }
  void decodeData(std::string_view bytes, bool end_stream) {
    Buffer data(bytes);
    fm_->decodeData(data, end_stream);
  }
  // Returns the log so far and clears it.
  Log takeLog() {
    Log out;
    out.swap(log_);
    return out;
  }
  int count(const std::string& entry) const {
    return static_cast<int>(std::count(log_.begin(), log_.end(), entry));
  }

  common::SimulatedTimeSource time_;
  event::SimulatedDispatcher dispatcher_{time_};
  common::SeededRandom random_{7};
  Log log_;
  FakeStream stream_{log_, dispatcher_, random_};
  StreamInfo info_;
  std::unique_ptr<FilterManager> fm_;
};

TEST_F(FilterManagerTest, DecodesInOrderAndEncodesInReverse) {
  addFilter("a");
  addFilter("b");
  addFilter("c");
  setTerminal();
  fm_->decodeHeaders(request(), true);
  EXPECT_EQ(takeLog(), (Log{
                           "a:decodeHeaders:end",
                           "b:decodeHeaders:end",
                           "c:decodeHeaders:end",
                           "t:decodeHeaders:end",
                           "c:encodeHeaders:200",
                           "b:encodeHeaders:200",
                           "a:encodeHeaders:200",
                           "wire:headers:200",
                           "c:encodeData:resp:end",
                           "b:encodeData:resp:end",
                           "a:encodeData:resp:end",
                           "wire:data:resp:end",
                       }));
  EXPECT_TRUE(fm_->responseStarted());
  EXPECT_TRUE(fm_->responseComplete());
  EXPECT_FALSE(fm_->localReplySent());
  EXPECT_EQ(info_.response_code, 200);
  EXPECT_EQ(info_.response_body_bytes, 4u);
  ASSERT_NE(fm_->requestHeaders(), nullptr);
  EXPECT_EQ(fm_->requestHeaders()->path, "/resource");
}

TEST_F(FilterManagerTest, AFilterThatSkipsEncodingIsLeftOutOfTheResponse) {
  addFilter("a");
  ScriptedFilter& b = addFilter("b");
  addFilter("c");
  setTerminal();
  b.on_decode_headers = [&b](bool) { b.cb().skipEncoding(); };
  fm_->decodeHeaders(request(), true);
  EXPECT_EQ(takeLog(), (Log{
                           "a:decodeHeaders:end",
                           "b:decodeHeaders:end",
                           "c:decodeHeaders:end",
                           "t:decodeHeaders:end",
                           "c:encodeHeaders:200",
                           "a:encodeHeaders:200",
                           "wire:headers:200",
                           "c:encodeData:resp:end",
                           "a:encodeData:resp:end",
                           "wire:data:resp:end",
                       }));
}

// The filters' wrappers live in one vector, which grows as filters are added without reserve():
// every filter must still reach its own position afterwards.
TEST_F(FilterManagerTest, FiltersAddedWithoutReserveKeepTheirOwnCallbacks) {
  std::vector<ScriptedFilter*> filters;
  for (int i = 0; i < 9; ++i) {
    ScriptedFilter& f = addFilter("f" + std::to_string(i));
    f.decode_headers_status = FilterHeadersStatus::StopIteration;
    filters.push_back(&f);
  }
  setTerminal();
  fm_->decodeHeaders(request(), true);
  for (ScriptedFilter* f : filters) {
    EXPECT_EQ(&f->cb().streamInfo(), &info_);
    f->cb().continueDecoding();
  }
  Log expected;
  for (int i = 0; i < 9; ++i) expected.push_back("f" + std::to_string(i) + ":decodeHeaders:end");
  expected.push_back("t:decodeHeaders:end");
  Log log = takeLog();
  log.resize(std::min(log.size(), expected.size()));
  EXPECT_EQ(log, expected);
}

TEST_F(FilterManagerTest, RequestBodyRunsThroughEveryFilterInOrder) {
  addFilter("a");
  addFilter("b");
  setTerminal();
  fm_->decodeHeaders(request("POST"), false);
  decodeData("12", false);
  decodeData("34", true);
  EXPECT_EQ(takeLog(), (Log{
                           "a:decodeHeaders",
                           "b:decodeHeaders",
                           "t:decodeHeaders",
                           "a:decodeData:12",
                           "b:decodeData:12",
                           "t:decodeData:12",
                           "a:decodeData:34:end",
                           "b:decodeData:34:end",
                           "t:decodeData:34:end",
                           "b:encodeHeaders:200",
                           "a:encodeHeaders:200",
                           "wire:headers:200",
                           "b:encodeData:resp:end",
                           "a:encodeData:resp:end",
                           "wire:data:resp:end",
                       }));
  EXPECT_EQ(info_.request_body_bytes, 4u);
}

TEST_F(FilterManagerTest, StopIterationOnHeadersHoldsChainAndBuffersBodyUntilContinue) {
  addFilter("a");
  ScriptedFilter& b = addFilter("b");
  addFilter("c");
  setTerminal();
  b.decode_headers_status = FilterHeadersStatus::StopIteration;
  b.on_decode_headers = [&b](bool) {
    b.later(milliseconds(100), [&b] { b.cb().continueDecoding(); });
  };

  fm_->decodeHeaders(request("POST"), false);
  decodeData("abc", false);
  decodeData("def", true);
  EXPECT_EQ(takeLog(), (Log{"a:decodeHeaders", "b:decodeHeaders"}));

  dispatcher_.advance(milliseconds(99));
  EXPECT_TRUE(log_.empty());

  dispatcher_.advance(milliseconds(1));
  EXPECT_EQ(takeLog(), (Log{
                           "c:decodeHeaders",
                           "t:decodeHeaders",
                           "a:decodeData:abcdef:end",
                           "b:decodeData:abcdef:end",
                           "c:decodeData:abcdef:end",
                           "t:decodeData:abcdef:end",
                           "c:encodeHeaders:200",
                           "b:encodeHeaders:200",
                           "a:encodeHeaders:200",
                           "wire:headers:200",
                           "c:encodeData:resp:end",
                           "b:encodeData:resp:end",
                           "a:encodeData:resp:end",
                           "wire:data:resp:end",
                       }));
  EXPECT_EQ(info_.request_body_bytes, 6u);
}

TEST_F(FilterManagerTest, BodyArrivingAfterResumeFollowsTheBufferedPart) {
  ScriptedFilter& a = addFilter("a");
  TerminalFilter& t = setTerminal();
  t.respond_on_end = false;
  a.decode_headers_status = FilterHeadersStatus::StopIteration;
  fm_->decodeHeaders(request("POST"), false);
  decodeData("first", false);
  EXPECT_EQ(takeLog(), (Log{"a:decodeHeaders"}));
  a.cb().continueDecoding();
  decodeData("second", true);
  EXPECT_EQ(takeLog(), (Log{
                           "t:decodeHeaders",
                           "a:decodeData:first",
                           "t:decodeData:first",
                           "a:decodeData:second:end",
                           "t:decodeData:second:end",
                       }));
}

TEST_F(FilterManagerTest, ContinueDecodingFromAFilterThatIsNotStoppedIsIgnored) {
  ScriptedFilter& a = addFilter("a");
  ScriptedFilter& b = addFilter("b");
  setTerminal();
  a.decode_headers_status = FilterHeadersStatus::StopIteration;
  fm_->decodeHeaders(request(), true);
  EXPECT_EQ(takeLog(), (Log{"a:decodeHeaders:end"}));

  b.cb().continueDecoding();
  EXPECT_TRUE(log_.empty());

  a.cb().continueDecoding();
  EXPECT_EQ(count("b:decodeHeaders:end"), 1);
  EXPECT_EQ(count("t:decodeHeaders:end"), 1);
  a.cb().continueDecoding();  // a second resume does not run the chain again
  EXPECT_EQ(count("b:decodeHeaders:end"), 1);
  EXPECT_EQ(count("wire:headers:200"), 1);
}

TEST_F(FilterManagerTest, StopIterationAndBufferAccumulatesUntilContinueDecoding) {
  addFilter("a");
  ScriptedFilter& b = addFilter("b");
  TerminalFilter& t = setTerminal();
  t.respond_on_end = false;
  b.decode_data_statuses = {FilterDataStatus::StopIterationAndBuffer,
                            FilterDataStatus::StopIterationAndBuffer};
  fm_->decodeHeaders(request("POST"), false);
  decodeData("ab", false);
  decodeData("cd", false);
  EXPECT_EQ(takeLog(), (Log{
                           "a:decodeHeaders",
                           "b:decodeHeaders",
                           "t:decodeHeaders",
                           "a:decodeData:ab",
                           "b:decodeData:ab",
                           "a:decodeData:cd",
                           "b:decodeData:cd",
                       }));

  b.cb().continueDecoding();
  EXPECT_EQ(takeLog(), (Log{"t:decodeData:abcd"}));

  decodeData("ef", true);
  EXPECT_EQ(takeLog(), (Log{"a:decodeData:ef:end", "b:decodeData:ef:end", "t:decodeData:ef:end"}));
}

TEST_F(FilterManagerTest, StopIterationAndBufferKeepsEndStreamForTheResume) {
  ScriptedFilter& a = addFilter("a");
  TerminalFilter& t = setTerminal();
  t.respond_on_end = false;
  a.decode_data_statuses = {FilterDataStatus::StopIterationAndBuffer,
                            FilterDataStatus::StopIterationAndBuffer};
  a.on_decode_data = [&a](bool end_stream) {
    if (end_stream) a.later(milliseconds(5), [&a] { a.cb().continueDecoding(); });
  };
  fm_->decodeHeaders(request("POST"), false);
  decodeData("xy", false);
  decodeData("z", true);
  EXPECT_EQ(count("t:decodeData:xyz:end"), 0);
  dispatcher_.advance(milliseconds(5));
  EXPECT_EQ(count("t:decodeData:xyz:end"), 1);
}

TEST_F(FilterManagerTest, FilterHoldingDataReleasesAllOfItInOrderWhenItContinues) {
  addFilter("a");
  ScriptedFilter& b = addFilter("b");
  TerminalFilter& t = setTerminal();
  t.respond_on_end = false;
  b.decode_data_statuses = {FilterDataStatus::StopIterationAndBuffer, FilterDataStatus::Continue};
  fm_->decodeHeaders(request("POST"), false);
  decodeData("12", false);
  decodeData("34", true);
  EXPECT_EQ(takeLog(), (Log{
                           "a:decodeHeaders",
                           "b:decodeHeaders",
                           "t:decodeHeaders",
                           "a:decodeData:12",
                           "b:decodeData:12",
                           "a:decodeData:34:end",
                           "b:decodeData:34:end",
                           "t:decodeData:1234:end",
                       }));
}

// Each chunk must pass every filter in front of the one holding data: "b" sits between the first
// filter and the holder "c", so it must see "cd" as well.
TEST_F(FilterManagerTest, DataHeldByALaterFilterStillRunsThroughTheFiltersBeforeIt) {
  addFilter("a");
  addFilter("b");
  ScriptedFilter& c = addFilter("c");
  TerminalFilter& t = setTerminal();
  t.respond_on_end = false;
  c.decode_data_statuses = {FilterDataStatus::StopIterationAndBuffer,
                            FilterDataStatus::StopIterationAndBuffer};
  fm_->decodeHeaders(request("POST"), false);
  takeLog();
  decodeData("ab", false);
  decodeData("cd", true);
  EXPECT_EQ(takeLog(), (Log{
                           "a:decodeData:ab",
                           "b:decodeData:ab",
                           "c:decodeData:ab",
                           "a:decodeData:cd:end",
                           "b:decodeData:cd:end",
                           "c:decodeData:cd:end",
                       }));
  c.cb().continueDecoding();
  EXPECT_EQ(takeLog(), (Log{"t:decodeData:abcd:end"}));
}

TEST_F(FilterManagerTest, DecodeBufferLimitWhileHeadersAreHeldIs413) {
  build(8);
  ScriptedFilter& a = addFilter("a");
  addFilter("b");
  setTerminal();
  info_.correlation_id = "cid-1";
  a.decode_headers_status = FilterHeadersStatus::StopIteration;
  fm_->decodeHeaders(request("POST"), false);
  decodeData("12345", false);
  EXPECT_EQ(stream_.headers_calls, 0);
  decodeData("67890", false);

  EXPECT_TRUE(fm_->localReplySent());
  EXPECT_EQ(stream_.headers.status, 413);
  EXPECT_TRUE(stream_.ended);
  EXPECT_EQ(*stream_.headers.headers.get("content-type"), "application/problem+json");
  const auto body = nlohmann::json::parse(stream_.body);
  EXPECT_EQ(body["status"], 413);
  EXPECT_EQ(body["correlation_id"], "cid-1");
  // Only "a" has seen the request, so only "a" encodes the reply; every filter hears of it.
  EXPECT_EQ(count("a:encodeHeaders:413"), 1);
  EXPECT_EQ(count("b:encodeHeaders:413"), 0);
  EXPECT_EQ(count("a:onLocalReply:413"), 1);
  EXPECT_EQ(count("b:onLocalReply:413"), 1);
  EXPECT_EQ(count("t:onLocalReply:413"), 1);

  // Later body and a late resume go nowhere.
  takeLog();
  decodeData("more", true);
  a.cb().continueDecoding();
  EXPECT_TRUE(log_.empty());
  EXPECT_EQ(stream_.headers_calls, 1);
}

TEST_F(FilterManagerTest, StopIterationAndBufferOverTheLimitIs413) {
  build(8);
  addFilter("a");
  ScriptedFilter& b = addFilter("b");
  addFilter("c");
  setTerminal();
  b.decode_data_statuses = {FilterDataStatus::StopIterationAndBuffer,
                            FilterDataStatus::StopIterationAndBuffer};
  fm_->decodeHeaders(request("POST"), false);
  decodeData("12345", false);
  EXPECT_EQ(stream_.headers_calls, 0);
  decodeData("67890", false);
  EXPECT_EQ(stream_.headers.status, 413);
  EXPECT_TRUE(stream_.ended);
  EXPECT_EQ(count("b:encodeHeaders:413"), 1);
  EXPECT_EQ(count("a:encodeHeaders:413"), 1);
  EXPECT_EQ(count("t:decodeData:1234567890"), 0);
}

TEST_F(FilterManagerTest, LocalReplyFromAFilter) {
  addFilter("a");
  ScriptedFilter& b = addFilter("b");
  addFilter("c");
  setTerminal();
  info_.correlation_id = "corr-123";
  b.on_decode_headers = [&b](bool) {
    LocalReply reply{429, "Too Many Requests", "slow down", {}};
    reply.headers.add("retry-after", "7");
    b.cb().sendLocalReply(std::move(reply));
  };
  fm_->decodeHeaders(request(), true);

  const std::string& body = stream_.body;
  EXPECT_EQ(takeLog(), (Log{
                           "a:decodeHeaders:end",
                           "b:decodeHeaders:end",
                           "a:onLocalReply:429",
                           "b:onLocalReply:429",
                           "c:onLocalReply:429",
                           "t:onLocalReply:429",
                           "b:encodeHeaders:429",
                           "a:encodeHeaders:429",
                           "wire:headers:429",
                           "b:encodeData:" + body + ":end",
                           "a:encodeData:" + body + ":end",
                           "wire:data:" + body + ":end",
                       }));

  const ResponseHeaders& h = stream_.headers;
  EXPECT_EQ(h.status, 429);
  EXPECT_EQ(*h.headers.get("content-type"), "application/problem+json");
  EXPECT_EQ(*h.headers.get("content-length"), std::to_string(body.size()));
  EXPECT_EQ(*h.headers.get("retry-after"), "7");
  EXPECT_EQ(h.headers.count("x-seen-by"), 4u);  // onLocalReply may add headers

  const auto json = nlohmann::json::parse(body);
  EXPECT_EQ(json["status"], 429);
  EXPECT_EQ(json["title"], "Too Many Requests");
  EXPECT_EQ(json["detail"], "slow down");
  EXPECT_EQ(json["correlation_id"], "corr-123");
  EXPECT_EQ(json["type"], "about:blank");

  EXPECT_TRUE(fm_->localReplySent());
  EXPECT_TRUE(fm_->responseComplete());
  EXPECT_TRUE(info_.local_reply);
  EXPECT_EQ(info_.response_code, 429);
  EXPECT_EQ(stream_.resets, 0);
}

TEST_F(FilterManagerTest, LocalReplyFromATimerAfterStopIteration) {
  addFilter("a");
  ScriptedFilter& b = addFilter("b");
  addFilter("c");
  setTerminal();
  b.decode_headers_status = FilterHeadersStatus::StopIteration;
  b.on_decode_headers = [&b](bool) {
    b.later(milliseconds(250), [&b] {
      b.cb().sendLocalReply({504, "Gateway Timeout", "too slow", {}});
    });
  };
  fm_->decodeHeaders(request(), true);
  EXPECT_EQ(takeLog(), (Log{"a:decodeHeaders:end", "b:decodeHeaders:end"}));
  dispatcher_.advance(milliseconds(250));
  EXPECT_EQ(stream_.headers.status, 504);
  EXPECT_EQ(count("b:encodeHeaders:504"), 1);
  EXPECT_EQ(count("a:encodeHeaders:504"), 1);
  EXPECT_EQ(count("c:encodeHeaders:504"), 0);
  EXPECT_EQ(count("c:decodeHeaders:end"), 0);
  EXPECT_EQ(count("t:decodeHeaders:end"), 0);
  EXPECT_EQ(nlohmann::json::parse(stream_.body)["detail"], "too slow");
}

TEST_F(FilterManagerTest, LocalReplyFromTheTerminalFilterRunsEveryEncodeFilter) {
  addFilter("a");
  addFilter("b");
  TerminalFilter& t = setTerminal();
  t.respond_on_end = false;
  t.on_decode_headers = [&t](bool) {
    t.cb().sendLocalReply({404, "Not Found", "no route matches the request path", {}});
  };
  fm_->decodeHeaders(request(), true);
  EXPECT_EQ(count("t:onLocalReply:404"), 1);
  EXPECT_EQ(count("b:encodeHeaders:404"), 1);
  EXPECT_EQ(count("a:encodeHeaders:404"), 1);
  EXPECT_EQ(stream_.headers.status, 404);
  EXPECT_TRUE(stream_.ended);
}

TEST_F(FilterManagerTest, LocalReplyBeforeAnyFilterSawTheRequest) {
  addFilter("a");
  setTerminal();
  fm_->sendLocalReply({400, "", "malformed request", {}});
  EXPECT_EQ(takeLog(), (Log{"a:onLocalReply:400", "t:onLocalReply:400", "wire:headers:400",
                            "wire:data:" + stream_.body + ":end"}));
  const auto json = nlohmann::json::parse(stream_.body);
  EXPECT_EQ(json["title"], "Bad Request");  // an empty title falls back to the reason phrase
  EXPECT_FALSE(json.contains("correlation_id"));
}

TEST_F(FilterManagerTest, LocalReplyAfterTheResponseStartedResetsTheStream) {
  ScriptedFilter& a = addFilter("a");
  TerminalFilter& t = setTerminal();
  t.respond_on_end = false;
  fm_->decodeHeaders(request(), true);
  t.sendHeaders(200, false);
  t.sendData("partial", false);
  EXPECT_TRUE(fm_->responseStarted());
  a.later(milliseconds(10), [&a] { a.cb().sendLocalReply({500, "", "late", {}}); });
  dispatcher_.advance(milliseconds(10));
  EXPECT_EQ(stream_.resets, 1);
  EXPECT_EQ(stream_.headers_calls, 1);
  EXPECT_EQ(stream_.headers.status, 200);
  EXPECT_EQ(stream_.body, "partial");
  EXPECT_FALSE(stream_.ended);
}

TEST_F(FilterManagerTest, LocalReplyAfterTheResponseCompletedDoesNothing) {
  ScriptedFilter& a = addFilter("a");
  setTerminal();
  fm_->decodeHeaders(request(), true);
  ASSERT_TRUE(fm_->responseComplete());
  takeLog();
  a.cb().sendLocalReply({500, "", "too late", {}});
  EXPECT_EQ(stream_.resets, 0);
  EXPECT_EQ(stream_.headers_calls, 1);
  EXPECT_TRUE(log_.empty());
}

// LocalReply's contract allows a local reply from the encode side: a filter that rejects the
// upstream response (here "b") replaces it, and the client sees exactly one response.
TEST_F(FilterManagerTest, LocalReplyFromEncodeHeadersReplacesTheUpstreamResponse) {
  addFilter("a");
  ScriptedFilter& b = addFilter("b");
  addFilter("c");
  setTerminal();
  b.on_encode_headers = [&b](ResponseHeaders& headers) {
    if (headers.status == 200) b.cb().sendLocalReply({502, "Bad Gateway", "rejected", {}});
  };
  fm_->decodeHeaders(request(), true);
  EXPECT_EQ(stream_.headers_calls, 1);
  EXPECT_EQ(count("wire:headers:200"), 0);
  EXPECT_EQ(count("wire:headers:502"), 1);
  EXPECT_EQ(stream_.headers.status, 502);
  EXPECT_TRUE(stream_.ended);
  EXPECT_EQ(stream_.resets, 0);
  ASSERT_NO_THROW(nlohmann::json::parse(stream_.body)) << stream_.body;
  EXPECT_EQ(nlohmann::json::parse(stream_.body)["detail"], "rejected");
  EXPECT_EQ(count("b:encodeHeaders:502"), 1);
  EXPECT_EQ(count("a:encodeHeaders:502"), 1);
  EXPECT_EQ(count("c:encodeHeaders:502"), 0);
  EXPECT_EQ(info_.response_code, 502);
}

TEST_F(FilterManagerTest, LocalReplyToHeadHasNoBody) {
  ScriptedFilter& a = addFilter("a");
  addFilter("b");
  setTerminal();
  a.on_decode_headers = [&a](bool) { a.cb().sendLocalReply({403, "Forbidden", "no", {}}); };
  fm_->decodeHeaders(request("HEAD"), true);
  EXPECT_EQ(takeLog(), (Log{
                           "a:decodeHeaders:end",
                           "a:onLocalReply:403",
                           "b:onLocalReply:403",
                           "t:onLocalReply:403",
                           "a:encodeHeaders:403:end",
                           "wire:headers:403:end",
                       }));
  EXPECT_TRUE(stream_.body.empty());
  EXPECT_TRUE(stream_.ended);
  EXPECT_TRUE(fm_->responseComplete());
}

TEST_F(FilterManagerTest, EncodeStopIterationHoldsResponseUntilContinueEncoding) {
  addFilter("a");
  ScriptedFilter& b = addFilter("b");
  setTerminal();
  b.encode_headers_status = FilterHeadersStatus::StopIteration;
  fm_->decodeHeaders(request(), true);
  EXPECT_EQ(takeLog(), (Log{"a:decodeHeaders:end", "b:decodeHeaders:end", "t:decodeHeaders:end",
                            "b:encodeHeaders:200"}));
  EXPECT_FALSE(fm_->responseStarted());

  b.later(milliseconds(30), [&b] { b.cb().continueEncoding(); });
  dispatcher_.advance(milliseconds(30));
  EXPECT_EQ(takeLog(), (Log{
                           "a:encodeHeaders:200",
                           "wire:headers:200",
                           "b:encodeData:resp:end",
                           "a:encodeData:resp:end",
                           "wire:data:resp:end",
                       }));
  EXPECT_TRUE(fm_->responseComplete());
}

TEST_F(FilterManagerTest, EncodeStopIterationAndBufferUntilContinueEncoding) {
  ScriptedFilter& a = addFilter("a");
  addFilter("b");
  TerminalFilter& t = setTerminal();
  t.respond_on_end = false;
  a.encode_data_statuses = {FilterDataStatus::StopIterationAndBuffer,
                            FilterDataStatus::StopIterationAndBuffer};
  fm_->decodeHeaders(request(), true);
  t.sendHeaders(200, false);
  t.sendData("ab", false);
  t.sendData("cd", true);
  EXPECT_EQ(stream_.headers_calls, 1);
  EXPECT_TRUE(stream_.body.empty());
  takeLog();
  a.cb().continueEncoding();
  EXPECT_EQ(takeLog(), (Log{"wire:data:abcd:end"}));
  EXPECT_TRUE(fm_->responseComplete());
}

// As on the decode side: the filters between the terminal and the one holding data still see
// every chunk.
TEST_F(FilterManagerTest, EncodeDataHeldByAnEarlierFilterStillRunsThroughTheFiltersAfterIt) {
  ScriptedFilter& a = addFilter("a");
  addFilter("b");
  addFilter("c");
  TerminalFilter& t = setTerminal();
  t.respond_on_end = false;
  a.encode_data_statuses = {FilterDataStatus::StopIterationAndBuffer,
                            FilterDataStatus::StopIterationAndBuffer};
  fm_->decodeHeaders(request(), true);
  t.sendHeaders(200, false);
  takeLog();
  t.sendData("ab", false);
  t.sendData("cd", true);
  EXPECT_EQ(takeLog(), (Log{
                           "c:encodeData:ab",
                           "b:encodeData:ab",
                           "a:encodeData:ab",
                           "c:encodeData:cd:end",
                           "b:encodeData:cd:end",
                           "a:encodeData:cd:end",
                       }));
  a.cb().continueEncoding();
  EXPECT_EQ(takeLog(), (Log{"wire:data:abcd:end"}));
}

TEST_F(FilterManagerTest, EncodeBufferLimitWhileHeadersAreHeldResetsTheStream) {
  build(8);
  addFilter("a");
  ScriptedFilter& b = addFilter("b");
  TerminalFilter& t = setTerminal();
  t.respond_on_end = false;
  b.encode_headers_status = FilterHeadersStatus::StopIteration;
  fm_->decodeHeaders(request(), true);
  t.sendHeaders(200, false);
  t.sendData("12345", false);
  EXPECT_EQ(stream_.resets, 0);
  t.sendData("67890", true);
  EXPECT_EQ(stream_.resets, 1);
  EXPECT_EQ(stream_.headers_calls, 0);
}

class RecordingWatermarks : public DownstreamWatermarkCallbacks {
 public:
  void onAboveWriteBufferHighWatermark() override { events.push_back("above"); }
  void onBelowWriteBufferLowWatermark() override { events.push_back("below"); }
  std::vector<std::string> events;
};

TEST_F(FilterManagerTest, DownstreamWatermarksReachTheTerminalFilter) {
  addFilter("a");
  TerminalFilter& t = setTerminal();
  RecordingWatermarks watermarks;
  fm_->onDownstreamAboveWriteBufferHighWatermark();
  // Registering while above the high watermark tells the new listener at once.
  t.cb().setDownstreamWatermarkCallbacks(&watermarks);
  EXPECT_EQ(watermarks.events, (std::vector<std::string>{"above"}));
  fm_->onDownstreamBelowWriteBufferLowWatermark();
  fm_->onDownstreamAboveWriteBufferHighWatermark();
  EXPECT_EQ(watermarks.events, (std::vector<std::string>{"above", "below", "above"}));
  t.cb().setDownstreamWatermarkCallbacks(nullptr);
  fm_->onDownstreamBelowWriteBufferLowWatermark();
  EXPECT_EQ(watermarks.events.size(), 3u);
}

TEST_F(FilterManagerTest, AHeldBackpressureReachesTheTerminalFilterWhenReleased) {
  ScriptedFilter& cache = addFilter("cache");
  TerminalFilter& t = setTerminal();
  RecordingWatermarks watermarks;
  t.cb().setDownstreamWatermarkCallbacks(&watermarks);
  cache.cb().holdDownstreamBackpressure(true);
  cache.cb().holdDownstreamBackpressure(true);  // holds nest
  fm_->onDownstreamAboveWriteBufferHighWatermark();
  fm_->onDownstreamBelowWriteBufferLowWatermark();
  fm_->onDownstreamAboveWriteBufferHighWatermark();
  EXPECT_TRUE(watermarks.events.empty());
  cache.cb().holdDownstreamBackpressure(false);
  EXPECT_TRUE(watermarks.events.empty());
  // The last release passes on the watermark that is still high.
  cache.cb().holdDownstreamBackpressure(false);
  EXPECT_EQ(watermarks.events, (std::vector<std::string>{"above"}));
  fm_->onDownstreamBelowWriteBufferLowWatermark();
  EXPECT_EQ(watermarks.events, (std::vector<std::string>{"above", "below"}));
  // A release without a hold, or below without above, changes nothing.
  cache.cb().holdDownstreamBackpressure(false);
  fm_->onDownstreamBelowWriteBufferLowWatermark();
  EXPECT_EQ(watermarks.events.size(), 2u);
  // Released while low: nothing to pass on.
  cache.cb().holdDownstreamBackpressure(true);
  fm_->onDownstreamAboveWriteBufferHighWatermark();
  fm_->onDownstreamBelowWriteBufferLowWatermark();
  cache.cb().holdDownstreamBackpressure(false);
  EXPECT_EQ(watermarks.events.size(), 2u);
}

TEST_F(FilterManagerTest, DestroyCallsOnDestroyOncePerFilter) {
  addFilter("a");
  addFilter("b");
  setTerminal();
  fm_->decodeHeaders(request(), true);
  takeLog();
  fm_->destroy();
  fm_->destroy();
  EXPECT_EQ(takeLog(), (Log{"a:onDestroy", "b:onDestroy", "t:onDestroy"}));
  fm_.reset();  // the destructor does not destroy the filters a second time
  EXPECT_TRUE(log_.empty());
}

TEST_F(FilterManagerTest, DestructorDestroysTheFilters) {
  addFilter("a");
  setTerminal();
  fm_.reset();
  EXPECT_EQ(takeLog(), (Log{"a:onDestroy", "t:onDestroy"}));
}

TEST_F(FilterManagerTest, NothingRunsAfterDestroy) {
  ScriptedFilter& a = addFilter("a");
  setTerminal();
  a.decode_headers_status = FilterHeadersStatus::StopIteration;
  fm_->decodeHeaders(request("POST"), false);
  fm_->destroy();
  takeLog();
  decodeData("late", true);
  a.cb().continueDecoding();
  a.cb().sendLocalReply({500, "", "", {}});
  EXPECT_TRUE(log_.empty());
  EXPECT_EQ(stream_.headers_calls, 0);
}

TEST_F(FilterManagerTest, CallbacksReachTheStream) {
  ScriptedFilter& a = addFilter("a");
  setTerminal();
  EXPECT_EQ(&a.cb().dispatcher(), &dispatcher_);
  EXPECT_EQ(&a.cb().random(), &random_);
  EXPECT_EQ(&a.cb().streamInfo(), &info_);
  EXPECT_TRUE(a.cb().requestHeaders().method.empty());  // before any request
  fm_->decodeHeaders(request("PUT"), false);
  EXPECT_EQ(a.cb().requestHeaders().method, "PUT");
  a.cb().requestBody();
  EXPECT_EQ(stream_.continues, 1);
  a.cb().onUpstreamAboveWriteBufferHighWatermark();
  EXPECT_TRUE(stream_.read_disabled);
  a.cb().onUpstreamBelowWriteBufferLowWatermark();
  EXPECT_FALSE(stream_.read_disabled);
}

TEST(FilterManagerProblemJsonTest, CarriesStatusTitleDetailAndCorrelationId) {
  const auto json = nlohmann::json::parse(problemJson(503, "Service Unavailable", "busy", "id-9"));
  EXPECT_EQ(json["type"], "about:blank");
  EXPECT_EQ(json["status"], 503);
  EXPECT_EQ(json["title"], "Service Unavailable");
  EXPECT_EQ(json["detail"], "busy");
  EXPECT_EQ(json["correlation_id"], "id-9");
}

TEST(FilterManagerProblemJsonTest, EmptyFieldsAreLeftOutOrDefaulted) {
  const auto json = nlohmann::json::parse(problemJson(431, "", "", ""));
  EXPECT_EQ(json["title"], "Request Header Fields Too Large");
  EXPECT_FALSE(json.contains("detail"));
  EXPECT_FALSE(json.contains("correlation_id"));
}

TEST(FilterManagerProblemJsonTest, EscapesSpecialCharacters) {
  const std::string title = "say \"hi\"";
  const std::string detail = "back\\slash, new\nline, tab\t, ctl\x01, caf\xc3\xa9, </script>";
  const std::string id = "id\"}{";
  const std::string raw = problemJson(400, title, detail, id);
  EXPECT_NE(raw.find(R"(say \"hi\")"), std::string::npos) << raw;
  EXPECT_NE(raw.find(R"(back\\slash)"), std::string::npos) << raw;
  EXPECT_NE(raw.find(R"(new\nline)"), std::string::npos) << raw;
  EXPECT_NE(raw.find(R"(\u0001)"), std::string::npos) << raw;
  EXPECT_EQ(raw.find('\n'), std::string::npos) << raw;
  const auto json = nlohmann::json::parse(raw);
  EXPECT_EQ(json["title"], title);
  EXPECT_EQ(json["detail"], detail);
  EXPECT_EQ(json["correlation_id"], id);
}

// ---- replaceResponse(), routeConfig() ----

// A response a filter makes in place of another.
ResponseHeadersPtr replacement(int status, std::string_view body) {
  auto headers = makeResponseHeaders();
  headers->status = status;
  headers->headers.add("content-length", std::to_string(body.size()));
  headers->headers.add("x-replaced", "yes");
  return headers;
}

TEST_F(FilterManagerTest, AFilterReplacesALocalReplyOfTheRouter) {
  addFilter("a");
  auto& b = addFilter("b");
  auto& t = setTerminal();
  t.respond_on_end = false;
  b.on_encode_headers = [&](ResponseHeaders& headers) {
    if (headers.status != 503) return;
    Buffer body("stale copy");
    b.cb().replaceResponse(replacement(200, "stale copy"), body);
  };
  fm_->decodeHeaders(request(), true);
  takeLog();
  t.cb().sendLocalReply({503, "Service Unavailable", "breaker open", {}});
  // `b` made the response; `a` (closer to the client) sees it as any other.
  EXPECT_EQ(takeLog(), (Log{"a:onLocalReply:503", "b:onLocalReply:503", "t:onLocalReply:503",
                            "b:encodeHeaders:503", "a:encodeHeaders:200", "wire:headers:200",
                            "a:encodeData:stale copy:end", "wire:data:stale copy:end"}));
  EXPECT_EQ(stream_.headers.status, 200);
  ASSERT_NE(stream_.headers.headers.get("x-replaced"), nullptr);
  EXPECT_EQ(*stream_.headers.headers.get("x-replaced"), "yes");
  EXPECT_EQ(stream_.body, "stale copy");
  EXPECT_TRUE(stream_.ended);
  EXPECT_FALSE(info_.local_reply);
  EXPECT_EQ(info_.response_code, 200);
}

TEST_F(FilterManagerTest, AnUpstreamResponseIsReplacedAndItsBodyDropped) {
  addFilter("a");
  auto& b = addFilter("b");
  auto& t = setTerminal();
  t.respond_on_end = false;
  b.encode_headers_status = FilterHeadersStatus::StopIteration;
  fm_->decodeHeaders(request(), true);
  t.sendHeaders(503, false);
  t.sendData("upstream error ", false);  // held with the headers
  takeLog();
  // Later (an answer from elsewhere, say), `b` replaces the held response and lets it go on.
  Buffer body("fallback");
  b.cb().replaceResponse(replacement(200, "fallback"), body);
  b.cb().continueEncoding();
  t.sendData("page", true);  // the rest of the old body goes nowhere
  EXPECT_EQ(takeLog(), (Log{"a:encodeHeaders:200", "wire:headers:200", "a:encodeData:fallback:end",
                            "wire:data:fallback:end"}));
  EXPECT_EQ(stream_.body, "fallback");
  EXPECT_TRUE(fm_->responseComplete());
}

TEST_F(FilterManagerTest, OnlyTheFilterHoldingTheHeadsMayReplaceItAndOnlyBeforeItLeft) {
  auto& a = addFilter("a");
  auto& b = addFilter("b");
  auto& t = setTerminal();
  t.respond_on_end = false;
  b.encode_headers_status = FilterHeadersStatus::StopIteration;
  fm_->decodeHeaders(request(), true);
  t.sendHeaders(500, true);
  Buffer body("x");
  a.cb().replaceResponse(replacement(200, "x"), body);  // `a` has not seen it: ignored
  b.cb().continueEncoding();
  EXPECT_EQ(stream_.headers.status, 500);
  Buffer late("y");
  b.cb().replaceResponse(replacement(200, "y"), late);  // already on the wire: ignored
  EXPECT_EQ(stream_.headers_calls, 1);
  EXPECT_EQ(stream_.headers.status, 500);
}

// A route's configuration of each filter, by position.
struct Labelled final : public RouteFilterConfig {
  explicit Labelled(std::string l) : label(std::move(l)) {}
  nlohmann::json toJson() const override { return label; }
  std::string label;
};

TEST_F(FilterManagerTest, EachFilterFindsItsRouteConfiguration) {
  auto& a = addFilter("a");
  auto& b = addFilter("b");
  auto& t = setTerminal();
  EXPECT_EQ(a.cb().routeConfig(), nullptr);  // not routed yet
  Labelled for_b("b's");
  const RouteFilterConfig* configs[] = {nullptr, &for_b};
  fm_->setRouteConfigs(configs);
  EXPECT_EQ(a.cb().routeConfig(), nullptr);
  EXPECT_EQ(b.cb().routeConfig(), &for_b);
  EXPECT_EQ(t.cb().routeConfig(), nullptr);  // the router takes none
}

}  // namespace
}  // namespace switchyard::http
