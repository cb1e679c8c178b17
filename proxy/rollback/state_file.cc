#include "proxy/rollback/state_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>

#include "proxy/common/rfc3339.h"

namespace switchyard::rollback {
namespace {

std::string errnoText(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

std::string directoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

std::string writeFileAtomically(const std::string& path, std::string_view content) {
  const std::string dir = directoryOf(path);
  size_t slash = path.rfind('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  std::string temp = dir + "/." + base + ".tmp-XXXXXX";
  int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) return errnoText(("create a temporary file in " + dir).c_str());
  auto fail = [&](const std::string& error) {
    if (fd >= 0) ::close(fd);
    ::unlink(temp.c_str());
    return error;
  };
  size_t written = 0;
  while (written < content.size()) {
    ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(errnoText("write"));
    written += static_cast<size_t>(n);
  }
  // mkostemp makes the file 0600; the state carries no secret but nobody else needs to write it.
  if (::fchmod(fd, 0640) != 0) return fail(errnoText("fchmod"));
  if (::fsync(fd) != 0) return fail(errnoText("fsync"));
  if (::close(fd) != 0) {
    fd = -1;
    return fail(errnoText("close"));
  }
  fd = -1;
  if (::rename(temp.c_str(), path.c_str()) != 0) return fail(errnoText("rename"));
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return errnoText(("open directory " + dir).c_str());
  int rc = ::fsync(dir_fd);
  std::string error = rc != 0 ? errnoText(("fsync directory " + dir).c_str()) : "";
  ::close(dir_fd);
  return error;
}

ReadResult readWholeFile(const std::string& path, std::string& out, std::string& error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return ReadResult::Missing;
    error = errnoText("open");
    return ReadResult::Failed;
  }
  out.clear();
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = errnoText("read");
      ::close(fd);
      return ReadResult::Failed;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return ReadResult::Ok;
}

std::string moveAside(const std::string& path, common::SystemTime now, std::string& error) {
  std::string target = path + ".corrupt-" + common::formatCompactUtc(now);
  // Two bad files within a second keep both.
  for (int i = 1; ::access(target.c_str(), F_OK) == 0 && i < 100; ++i) {
    target = path + ".corrupt-" + common::formatCompactUtc(now) + "-" + std::to_string(i);
  }
  if (::rename(path.c_str(), target.c_str()) != 0) {
    error = errnoText("rename");
    return "";
  }
  return target;
}

}  // namespace switchyard::rollback
