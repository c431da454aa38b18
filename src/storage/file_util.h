// POSIX file helpers shared by the WAL and snapshot files.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace conclave::storage {
Result<std::string> read_file(const std::string& path);
Status write_all(int fd, std::string_view data);
Status fsync_dir(const std::string& dir);
/// Writes `data` to `path` atomically: temp file, fsync, rename, fsync of the directory.
Status write_file_atomic(const std::string& path, std::string_view data, bool fsync);
/// The same for a file made of several pieces, written one after the other without joining them.
Status write_file_atomic(const std::string& path, std::initializer_list<std::string_view> parts, bool fsync);
Status write_file_atomic(const std::string& path, const std::vector<std::string_view>& parts, bool fsync);
}  // namespace conclave::storage
