#pragma once
// Following an audit trail by byte offset, as the syslog forwarder does: the whole, committed
// lines of its files in order — rotated files oldest first, then the active file as the writer
// commits to it — across rotations, from a position (audit/trail_marks.hpp) that survives a
// restart. Never a torn tail, never a line a failed write is about to cut off.
//
// One thread uses a cursor; the trail's files may be written, rotated and pruned meanwhile.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <boost/system/error_code.hpp>

#include "audit/file_writer.hpp"
#include "audit/trail_marks.hpp"

namespace exportwall::audit {

// The line of `fd` that ends just before `offset` (its '\n' at offset - 1), without the '\n',
// read backwards in doubling pieces; nullopt when there is none (offset 0, no '\n' there, a
// read error). For the last record of a trail file (the cursor, retention).
[[nodiscard]] std::optional<std::string> line_ending_at(int fd, std::uint64_t offset);

class trail_cursor {
  public:
    // `committed`: the writer's committed position (file_writer::committed()); empty when no
    // writer runs in this process, and then every whole line of the active file counts.
    trail_cursor(std::string active_path, std::function<committed_position()> committed);
    ~trail_cursor();
    trail_cursor(const trail_cursor&) = delete;
    trail_cursor& operator=(const trail_cursor&) = delete;

    // Moves to just after `p` (a default position: the start of the trail). When p's file no
    // longer holds the line p names (p.seq, p.hash): to just after that line wherever it is;
    // failing that, to the start of the trail — the trail was pruned past p, or is not the one p
    // was taken in. Returns a sentence saying which, or "" when p was found as it is.
    [[nodiscard]] std::string seek(const trail_position& p);

    // Passes the next whole committed lines (without '\n'), about `max_bytes` of them but at
    // least one when one is there, to `each` with the position just after it, and moves past
    // them. Moves on to the next file once the current one was rotated and is read to its end.
    // Returns the lines passed; an error when a file cannot be read (the position stays).
    using line_handler = std::function<void(std::string_view line, const trail_position& after)>;
    [[nodiscard]] std::size_t read(std::size_t max_bytes, const line_handler& each,
                                   boost::system::error_code& ec);

    [[nodiscard]] const trail_position& position() const { return pos_; }

  private:
    // Opens `path` and positions at `offset` of it; false when it cannot be opened.
    bool open(const std::string& path, std::uint64_t first_seq, std::uint64_t offset);
    void close();
    // Bytes of the open file that are whole committed lines at most (an upper bound: the reader
    // still stops at the last '\n').
    [[nodiscard]] std::uint64_t readable_limit(std::uint64_t size) const;
    // Whether the open file is no longer the active file (rotated: it gets no more lines).
    [[nodiscard]] bool rotated_away() const;
    // Opens the file after the open one (or the oldest when none is open); false when there is
    // none yet.
    bool advance();

    std::string active_path_;
    std::function<committed_position()> committed_;
    int fd_ = -1;
    std::uint64_t device_ = 0, inode_ = 0;  // of the open file
    trail_position pos_;
    std::string buf_;
};

}  // namespace exportwall::audit
