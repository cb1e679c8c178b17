#include "proxy/upstream/health_checker.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "proxy/common/duration.h"
#include "proxy/http/codec.h"
#include "proxy/http/headers.h"

namespace switchyard::upstream {

using std::chrono::milliseconds;

const char* probeResultName(ProbeResult result) {
  switch (result) {
    case ProbeResult::Success:
      return "success";
    case ProbeResult::FailureStatus:
      return "failure_status";
    case ProbeResult::FailureConnect:
      return "failure_connect";
    case ProbeResult::Timeout:
      return "timeout";
  }
  return "unknown";
}

ProbeResult classifyProbe(const ProbeResponse& response, const HealthCheckConfig& config) {
  switch (response.kind) {
    case ProbeResponse::Kind::Responded:
      return config.isExpectedStatus(response.status) ? ProbeResult::Success
                                                      : ProbeResult::FailureStatus;
    case ProbeResponse::Kind::ConnectFailed:
      return ProbeResult::FailureConnect;
    case ProbeResponse::Kind::TimedOut:
      return ProbeResult::Timeout;
  }
  return ProbeResult::FailureConnect;
}

// One probe: connect, send the request, read the response head, close. Every end goes through
// finish(), once.
class HttpProber::Probe final : public event::ConnectionCallbacks,
                                public http::ResponseCallbacks,
                                public event::DeferredDeletable {
 public:
  Probe(HttpProber& owner, ProbeId id, const ProbeRequest& request, Done done)
      : owner_(owner),
        id_(id),
        timeout_(request.timeout),
        done_(std::move(done)),
        parser_(http::Http1Parser::Kind::Response, http::CodecLimits{}) {
    parser_.setResponseCallbacks(this);
    timer_ = owner.dispatcher_.createTimer([this] { onTimer(); });
  }

  void start(const ProbeRequest& request) {
    // A failure while starting (a refused connect, a failed write) is reported from the loop,
    // never from inside probe().
    starting_ = true;
    timer_->enable(timeout_);
    std::string error;
    transport_ =
        owner_.connector_.connect(request.address.host, request.address.port, *this, error);
    if (transport_ == nullptr) {
      finish({ProbeResponse::Kind::ConnectFailed, 0, "connect failed: " + error});
    } else {
      http::RequestHeaders head;
      head.method = "GET";
      head.path = request.path;
      head.headers.add("host", request.host);
      head.headers.add("user-agent", UserAgent);
      head.headers.add("connection", "close");
      transport_->writeWith([&](http::Buffer& out) { http::encodeRequestHead(head, out); });
    }
    starting_ = false;
  }

  // Ends the probe without a callback.
  void abandon() {
    finished_ = true;
    close();
  }

  // event::ConnectionCallbacks
  void onReadReady(http::Buffer& input) override {
    if (finished_) {
      input.drain(input.length());
      return;
    }
    parser_.dispatch(input);
  }
  void onClosed(event::CloseReason reason) override {
    if (finished_) return;
    if (reason == event::CloseReason::ConnectFailed) {
      const int error = errno != 0 ? errno : ECONNREFUSED;
      finish({ProbeResponse::Kind::ConnectFailed, 0,
              std::string("connect failed: ") + strerror(error)});
      return;
    }
    // A truncated head is reported by the parser as an invalid answer; nothing at all is a
    // connection that failed.
    if (reason == event::CloseReason::RemoteClose) parser_.onEof();
    if (finished_) return;
    finish({ProbeResponse::Kind::ConnectFailed, 0,
            reason == event::CloseReason::Reset ? "connection reset before a response"
                                                : "connection closed before a response"});
  }

  // http::ResponseCallbacks
  void onResponseHeaders(http::ResponseHeadersPtr headers, bool) override {
    finish({ProbeResponse::Kind::Responded, headers->status,
            "status " + std::to_string(headers->status)});
  }
  void onBody(http::Buffer& data, bool) override { data.drain(data.length()); }
  void onCodecError(const http::CodecError& error) override {
    finish({ProbeResponse::Kind::Responded, 0, "invalid response: " + error.detail});
  }

 private:
  void onTimer() {
    if (pending_) {
      ProbeResponse r = std::move(*pending_);
      pending_.reset();
      finish(std::move(r));
      return;
    }
    finish({ProbeResponse::Kind::TimedOut, 0,
            "no response within " + common::formatDuration(timeout_)});
  }

  void close() {
    timer_->disable();
    parser_.stop();
    if (transport_ != nullptr) transport_->close(event::Transport::CloseType::NoFlush);
  }

  void finish(ProbeResponse response) {
    if (finished_) return;
    if (starting_) {
      pending_ = std::move(response);
      timer_->enable(milliseconds(0));
      return;
    }
    finished_ = true;
    close();
    Done done = std::move(done_);
    // Still alive until the current callback returns: the dispatcher deletes it after.
    owner_.retire(id_);
    done(response);
  }

  HttpProber& owner_;
  const ProbeId id_;
  const milliseconds timeout_;
  Done done_;
  std::unique_ptr<event::Transport> transport_;
  http::Http1Parser parser_;
  event::TimerPtr timer_;
  std::optional<ProbeResponse> pending_;
  bool starting_ = false;
  bool finished_ = false;
};

HttpProber::HttpProber(event::Dispatcher& dispatcher, event::Connector& connector)
    : dispatcher_(dispatcher), connector_(connector) {}

HttpProber::~HttpProber() {
  for (auto& [id, probe] : probes_) probe->abandon();
}

ProbeId HttpProber::probe(const ProbeRequest& request, Done done) {
  const ProbeId id = next_id_++;
  auto owned = std::make_unique<Probe>(*this, id, request, std::move(done));
  Probe& p = *owned;
  probes_.emplace(id, std::move(owned));
  p.start(request);
  return id;
}

void HttpProber::cancel(ProbeId id) {
  auto it = probes_.find(id);
  if (it == probes_.end()) return;
  it->second->abandon();
  retire(id);
}

void HttpProber::retire(ProbeId id) {
  auto it = probes_.find(id);
  if (it == probes_.end()) return;
  dispatcher_.deferredDelete(std::move(it->second));
  probes_.erase(it);
}

bool HealthStateMachine::onResult(bool success, uint32_t healthy_threshold,
                                  uint32_t unhealthy_threshold) {
  const ActiveHealth before = state_;
  if (success) {
    failures_ = 0;
    if (successes_ < UINT32_MAX) ++successes_;
    // An endpoint not probed before needs one success; one that was taken out, the threshold.
    if (state_ == ActiveHealth::Unknown ||
        (state_ == ActiveHealth::Unhealthy && successes_ >= healthy_threshold)) {
      state_ = ActiveHealth::Healthy;
    }
  } else {
    successes_ = 0;
    if (failures_ < UINT32_MAX) ++failures_;
    if (state_ != ActiveHealth::Unhealthy && failures_ >= unhealthy_threshold) {
      state_ = ActiveHealth::Unhealthy;
    }
  }
  return state_ != before;
}

milliseconds nextProbeDelay(const HealthCheckConfig& config, common::Random& random) {
  const auto span = static_cast<uint64_t>(static_cast<double>(config.interval.count()) *
                                          std::clamp(config.jitter, 0.0, 1.0));
  const milliseconds early(static_cast<int64_t>(random.uniform(span + 1)));
  return std::max(config.interval - early, milliseconds(1));
}

milliseconds firstProbeDelay(const HealthCheckConfig& config, common::Random& random) {
  const auto span = static_cast<uint64_t>(static_cast<double>(config.interval.count()) *
                                          std::clamp(config.jitter, 0.0, 1.0));
  return milliseconds(static_cast<int64_t>(random.uniform(span + 1)));
}

HealthChecker::HealthChecker(event::Dispatcher& dispatcher, common::Random& random, Prober& prober,
                             const HealthCheckConfig& config,
                             std::vector<HealthCheckTarget> targets,
                             std::shared_ptr<EndpointHealth> health, Callbacks callbacks)
    : dispatcher_(dispatcher),
      random_(random),
      prober_(prober),
      config_(config),
      health_(std::move(health)),
      callbacks_(std::move(callbacks)) {
  for (size_t i = 0; i < targets.size(); ++i) {
    endpoints_.push_back(makeEndpoint(std::move(targets[i]), i));
  }
}

HealthChecker::~HealthChecker() {
  for (auto& e : endpoints_) {
    if (e->in_flight) prober_.cancel(e->probe);
  }
}

std::unique_ptr<HealthChecker::Endpoint> HealthChecker::makeEndpoint(HealthCheckTarget target,
                                                                     size_t index) {
  auto e = std::make_unique<Endpoint>();
  e->target = std::move(target);
  e->index = index;
  e->machine = HealthStateMachine(health_->activeHealth(index));
  Endpoint* raw = e.get();
  e->timer = dispatcher_.createTimer([this, raw] { startProbe(*raw); });
  e->timer->enable(firstProbeDelay(config_, random_));
  return e;
}

void HealthChecker::setEndpoints(std::vector<HealthCheckTarget> targets,
                                 std::shared_ptr<EndpointHealth> health,
                                 const std::vector<size_t>& previous_index) {
  health_ = std::move(health);
  std::vector<std::unique_ptr<Endpoint>> next;
  next.reserve(targets.size());
  for (size_t j = 0; j < targets.size(); ++j) {
    const size_t i = j < previous_index.size() ? previous_index[j] : NewEndpoint;
    if (i != NewEndpoint && i < endpoints_.size() && endpoints_[i] != nullptr) {
      std::unique_ptr<Endpoint> kept = std::move(endpoints_[i]);
      kept->target = std::move(targets[j]);
      kept->index = j;
      next.push_back(std::move(kept));
    } else {
      next.push_back(makeEndpoint(std::move(targets[j]), j));
    }
  }
  for (auto& removed : endpoints_) {
    if (removed != nullptr && removed->in_flight) prober_.cancel(removed->probe);
  }
  endpoints_ = std::move(next);
}

bool HealthChecker::allUnhealthy() const {
  return !endpoints_.empty() &&
         std::all_of(endpoints_.begin(), endpoints_.end(),
                     [](const auto& e) { return e->machine.state() == ActiveHealth::Unhealthy; });
}

void HealthChecker::startProbe(Endpoint& e) {
  ProbeRequest request;
  request.address = e.target.address;
  request.host = !config_.host.empty()         ? config_.host
                 : !e.target.authority.empty() ? e.target.authority
                                               : e.target.address.text;
  request.path = config_.path;
  request.timeout = config_.timeout;
  e.in_flight = true;
  const ProbeId id = prober_.probe(
      request, [this, ep = &e](const ProbeResponse& response) { onProbeDone(*ep, response); });
  // A prober that answered before returning has already cleared in_flight.
  if (e.in_flight) e.probe = id;
}

void HealthChecker::onProbeDone(Endpoint& e, const ProbeResponse& response) {
  e.in_flight = false;
  e.probe = 0;
  const ProbeResult result = classifyProbe(response, config_);
  counts_[static_cast<size_t>(result)].fetch_add(1, std::memory_order_relaxed);
  const ActiveHealth before = e.machine.state();
  const bool success = result == ProbeResult::Success;
  const bool changed =
      e.machine.onResult(success, config_.healthy_threshold, config_.unhealthy_threshold);
  if (changed) health_->setActiveHealth(e.index, e.machine.state());
  e.timer->enable(nextProbeDelay(config_, random_));

  // Callbacks last, with copies: nothing of `e` is touched once they run.
  const size_t index = e.index;
  std::optional<HealthTransition> transition;
  if (changed) {
    transition = HealthTransition{
        index,
        e.target.address.text,
        before,
        e.machine.state(),
        result,
        response.detail,
        success ? e.machine.consecutiveSuccesses() : e.machine.consecutiveFailures()};
  }
  if (callbacks_.on_probe) callbacks_.on_probe(index, result);
  if (transition && callbacks_.on_transition) callbacks_.on_transition(*transition);
}

}  // namespace switchyard::upstream
