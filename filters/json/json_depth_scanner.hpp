#pragma once
// Finds the byte offsets where JSON containers at one nesting depth open and close, so the JSON
// filter knows the raw size of each record (basic_parser reports events, not positions). It only
// tracks strings and brackets: it relies on basic_parser to refuse malformed input, and is exact
// on every prefix the parser accepts.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "filters/blocks.hpp"

namespace exportwall::filters {

class json_depth_scanner {
  public:
    // How whole 64-byte blocks are read (filters/blocks.hpp).
    using kernel = blocks::kernel;
    // Whether this build and this CPU can run `k`.
    static bool supported(kernel k);

    // `depth` 1 is the top-level container. `k` other than `best` is for tests and benchmarks,
    // and must be supported().
    explicit json_depth_scanner(std::size_t depth, kernel k = kernel::best);

    // Scans the next bytes of the document, which start at stream offset `offset`. Appends to
    // `marks`, in order, the offset of every '{' or '[' that opens a container at the target
    // depth and of every '}' or ']' that closes one.
    void scan(std::string_view bytes, std::uint64_t offset, std::vector<std::uint64_t>& marks);

    // Picks up at a byte the caller knows to lie outside any string with `depth` containers
    // open (between two records: the bytes up to it were parsed, not scanned).
    void resume_at(std::size_t depth) {
        depth_ = depth;
        in_string_ = false;
        escaped_ = false;
    }

  private:
    template <class Blocks>
    friend const char* scan_blocks(json_depth_scanner& s, const char* p, const char* end,
                                   const char* begin, std::uint64_t offset,
                                   std::vector<std::uint64_t>& marks);

    // Byte by byte over [p, end); `begin` is where `offset` points.
    void scan_bytes(const char* p, const char* end, const char* begin, std::uint64_t offset,
                    std::vector<std::uint64_t>& marks);
    void open(const char* p, const char* begin, std::uint64_t offset,
              std::vector<std::uint64_t>& marks) {
        if (++depth_ == target_) marks.push_back(offset + static_cast<std::uint64_t>(p - begin));
    }
    void close(const char* p, const char* begin, std::uint64_t offset,
               std::vector<std::uint64_t>& marks) {
        if (depth_ == target_) marks.push_back(offset + static_cast<std::uint64_t>(p - begin));
        if (depth_ > 0) --depth_;
    }

    std::size_t target_;
    kernel kernel_;
    std::size_t depth_ = 0;
    bool in_string_ = false;
    bool escaped_ = false;
};

}  // namespace exportwall::filters
