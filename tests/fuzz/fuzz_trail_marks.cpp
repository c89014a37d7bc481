// libFuzzer target for the files beside the audit trail (audit/trail_marks.hpp): the syslog
// forwarder reads its state file at every start, and `audit verify` the pruning anchor; both can
// be edited by whoever holds the directory. Properties: no crash; a line that parses prints
// back as the same line (a trailing '\n' added), and that line parses to the same value.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "audit/trail_marks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace exportwall::audit;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::string_view line =
        !input.empty() && input.back() == '\n' ? input.substr(0, input.size() - 1) : input;
    if (const auto p = parse_syslog_state(input)) {
        const std::string text = format_syslog_state(*p);
        if (text != std::string(line) + "\n") std::abort();
        if (parse_syslog_state(text) != p) std::abort();
    }
    if (const auto a = parse_pruned_anchor(input)) {
        const std::string text = format_pruned_anchor(*a);
        if (text != std::string(line) + "\n") std::abort();
        if (parse_pruned_anchor(text) != a) std::abort();
    }
    return 0;
}
