#pragma once

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "proxy/accesslog/config.h"

namespace switchyard::accesslog {

// Writes access-log lines from its own thread, so a slow disk never stalls a worker.
//
// write() may be called from any thread: it takes a mutex to push onto a bounded queue and never
// waits for the disk; when `max_queue_lines` are already waiting the line is dropped and
// counted. The thread appends whole batches with write(2) to a file opened O_APPEND (several
// processes may share one file; each batch lands in one piece as far as the kernel allows), or
// to standard output for path "-".
//
// Log rotation: after the file has been renamed, reopen() makes the writer open a new file at
// the same path. Lines written before reopen() was called go to the old file, lines after it to
// the new one.
//
// Metric: switchyard_access_log_dropped_total{reason="queue_full"|"write_failed"|"shutdown"}.
class AccessLogWriter {
 public:
  // Opens (creating with mode 0644 if missing) the configured file and starts the thread. Returns
  // nullptr with `error` set ("cannot open <path>: <reason>") if the file cannot be opened.
  static std::unique_ptr<AccessLogWriter> open(const AccessLogConfig& config,
                                               prometheus::Registry& registry, std::string& error);
  // shutdown()
  ~AccessLogWriter();
  AccessLogWriter(const AccessLogWriter&) = delete;
  AccessLogWriter& operator=(const AccessLogWriter&) = delete;

  // Queues one line (without its newline; one is added). False (and counted) if dropped because
  // the queue is full or the writer has shut down. Any thread; never blocks on I/O.
  bool write(std::string line);

  // Asks the writer thread to reopen the file before writing any line queued after this call.
  // Any thread (the server calls it from its SIGUSR1 event, not from a signal handler). Does not
  // wait; a file that cannot be opened is logged and the old one kept. No effect on stdout.
  void reopen();

  // Waits up to `timeout` until every line queued before the call has been written (or counted
  // as failed). True if it got there in time.
  bool flush(std::chrono::milliseconds timeout);

  // Writes what is queued, stops the thread and closes the file. Later write() calls drop.
  // Idempotent; call from one thread.
  void shutdown();

 private:
  AccessLogWriter(const AccessLogConfig& config, int fd, prometheus::Registry& registry);
  void run();
  // Appends lines [begin, end) in one write sequence; on error counts them as failed.
  void writeLines(const std::vector<std::string>& lines, size_t begin, size_t end);
  void reopenFile();

  const AccessLogConfig config_;
  int fd_;  // touched only by the writer thread once it runs (and by the destructor after join)

  prometheus::Counter& dropped_queue_full_;
  prometheus::Counter& dropped_write_failed_;
  prometheus::Counter& dropped_shutdown_;

  std::mutex mutex_;
  std::condition_variable wake_;     // the writer waits here for lines, a reopen or a stop
  std::condition_variable written_;  // flush() waits here
  std::vector<std::string> queue_;
  uint64_t queued_seq_ = 0;   // lines accepted so far
  uint64_t written_seq_ = 0;  // lines handled by the writer so far
  bool reopen_pending_ = false;
  size_t reopen_index_ = 0;  // queue_ position where the new file starts
  bool stopping_ = false;

  bool write_failing_ = false;  // writer thread only: log a failing disk once, not per batch
  bool shut_down_ = false;
  std::thread thread_;
};

// Opens `path` for appending (O_WRONLY|O_CREAT|O_APPEND|O_CLOEXEC, mode 0644); -1 with errno set.
int openLogFile(const std::string& path);

}  // namespace switchyard::accesslog
