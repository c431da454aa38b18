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
/// With `paced_bytes` > 0, writeback is started every `paced_bytes` and the chunk before is
/// waited for (sync_file_range), so a large file never has more than two chunks in flight to
/// the device: fdatasyncs of other files (the WAL) queue behind a chunk, not the whole file.
Status write_file_atomic(const std::string& path, const std::vector<std::string_view>& parts, bool fsync,
                         size_t paced_bytes = 0);
}  // namespace conclave::storage
