#pragma once

// The rollback state file: written atomically (a crash leaves either the old or the new file,
// never a torn one) and read back at start. The content is the manager's business; this only
// moves bytes safely.

#include <string>
#include <string_view>

#include "proxy/common/time.h"

namespace switchyard::rollback {

// Writes `content` to a temporary file in `path`'s directory, fsyncs it, renames it over `path`
// and fsyncs the directory, so the rename itself survives a power cut. On failure the temporary
// file is removed and `path` is untouched. Returns "" on success, else what failed.
std::string writeFileAtomically(const std::string& path, std::string_view content);

enum class ReadResult { Ok, Missing, Failed };
// Reads the whole file; Missing when it does not exist, Failed (with `error`) when it cannot be
// read.
ReadResult readWholeFile(const std::string& path, std::string& out, std::string& error);

// Renames a state file that cannot be used to "<path>.corrupt-<YYYYMMDDTHHMMSSZ>" (keeping it
// for a post-mortem, out of the way of the next write). Returns the new name, or "" when the
// rename failed (`error` says why).
std::string moveAside(const std::string& path, common::SystemTime now, std::string& error);

}  // namespace switchyard::rollback
