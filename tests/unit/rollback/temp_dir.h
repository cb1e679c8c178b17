#pragma once

// A fresh directory under $TMPDIR (or /tmp) for one test, removed with its files afterwards.

#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <set>
#include <stdexcept>
#include <string>

namespace switchyard::rollback::test {

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                          "/switchyard-rollback-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    for (const std::string& name : entries()) {
      const std::string p = path_ + "/" + name;
      if (::unlink(p.c_str()) != 0) ::rmdir(p.c_str());
    }
    ::rmdir(path_.c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // Names in the directory, hidden ones (temporary files) included.
  std::set<std::string> entries() const {
    std::set<std::string> out;
    if (DIR* d = ::opendir(path_.c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name != "." && name != "..") out.insert(name);
      }
      ::closedir(d);
    }
    return out;
  }

 private:
  std::string path_;
};

}  // namespace switchyard::rollback::test
