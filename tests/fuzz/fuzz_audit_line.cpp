// libFuzzer target for the audit line reader (audit/serialize.hpp): `audit list/show/stats`,
// `audit verify --public-key` (checkpoint records) and the admin API parse lines of a trail that
// anyone with the files can edit. Properties: no crash; a line that parses prints back in the
// canonical form, and that form parses to the same record (its canonical bytes again) — whichever
// of the two readers (the canonical scanner, Boost.JSON) each pass takes.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <boost/json/parser.hpp>

#include "audit/serialize.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace exportwall::audit;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    static boost::json::parser parser;
    record first;
    if (parse_line(input, parser, first)) return 0;
    std::string line;
    append_line(first, line);
    if (line.empty() || line.back() != '\n') std::abort();
    record second;
    if (parse_line(std::string_view(line).substr(0, line.size() - 1), parser, second))
        std::abort();  // the writer's own form must parse
    std::string again;
    append_line(second, again);
    if (again != line) std::abort();  // and print the same bytes
    return 0;
}
