#pragma once
// Where the cells of CSV text end, found 64 bytes at a time for the CSV filter's fast path
// (filters/csv/csv_filter.cpp, issue 20). A cell ends at a delimiter, CR or LF outside quotes;
// which bytes lie inside quotes is the running parity of the quote characters (a doubled quote
// inside a quoted cell flips it twice), computed for a whole block at once. The filter then takes
// the cells' ends one bit at a time instead of scanning each cell for its end: no cell waits on
// the scan of the one before.

#include <cstddef>
#include <cstdint>

#include "filters/blocks.hpp"

namespace exportwall::filters::csv_blocks {

// One 64-byte block: bit i describes byte i.
struct word {
    std::uint64_t quotes;  // the quote character
    std::uint64_t ends;    // the delimiter, CR or LF, outside quotes
};

// How whole blocks are read (filters/blocks.hpp).
using kernel = blocks::kernel;
using blocks::supported;

// Marks [p, end) into out[0 .. (end - p + 63) / 64), the last block's bits past `end` zero.
// `inside` says whether p lies inside quotes, and is updated to whether `end` does. `k` other
// than `best` is for tests and benchmarks, and must be supported().
void mark(const char* p, const char* end, char delimiter, char quote, bool& inside, word* out,
          kernel k = kernel::best);

}  // namespace exportwall::filters::csv_blocks
