// libFuzzer target for the HTTP hygiene checks: any bytes through find_head_end,
// check_request_head and normalise_target never crash, and what passes is stable:
// - find_head_end resumed byte by byte finds the same end as in one call;
// - a passing head, rebuilt from what the check reported (fields and origin-form target),
//   passes again with the same method, target, version and framing;
// - a normalised path normalises to itself.
// Invariant violations abort via __builtin_trap so libFuzzer records the input.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/http/request_head.hpp"
#include "proxy/http/target.hpp"

namespace {

using exportwall::proxy::check_request_head;
using exportwall::proxy::find_head_end;
using exportwall::proxy::normalise_target;
using exportwall::proxy::normalised_target;
using exportwall::proxy::request_head;

constexpr std::size_t max_head = 16 * 1024;

void require(bool condition) {
    if (!condition) __builtin_trap();
}

void check_find_head_end(std::string_view input) {
    const auto whole = find_head_end(input);
    require(whole <= input.size());
    // Resumed in steps of 7 bytes (every step size would make the target quadratic).
    std::size_t searched = 0;
    std::size_t found = 0;
    for (std::size_t size = 0; size < input.size() && found == 0;) {
        size = size + 7 < input.size() ? size + 7 : input.size();
        found = find_head_end(input.substr(0, size), searched);
        searched = size;
    }
    require(found == whole);
}

void check_normalisation(std::string_view target) {
    normalised_target once;
    if (normalise_target(target, once)) return;
    require(!once.path.empty() && once.path.front() == '/');
    normalised_target twice;
    require(!normalise_target(once.path, twice));
    require(twice.path == once.path);
}

std::string rebuild(const request_head& head) {
    std::string raw;
    raw.append(head.method).append(" ").append(head.target);
    raw.append(head.version == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
    for (const auto& field : head.headers) {
        raw.append(field.name).append(": ").append(field.value).append("\r\n");
    }
    raw.append("\r\n");
    return raw;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    check_find_head_end(input);
    check_normalisation(input);

    request_head head;
    const auto end = find_head_end(input);
    const auto raw = end != 0 ? input.substr(0, end) : input;
    if (check_request_head(raw, max_head, head)) return 0;

    check_normalisation(head.target);

    request_head again;
    const auto rebuilt = rebuild(head);
    require(!check_request_head(rebuilt, max_head * 2, again));
    require(again.method == head.method);
    require(again.target == head.target);
    require(again.version == head.version);
    require(again.framing == head.framing);
    require(again.content_length == head.content_length);
    require(again.keep_alive == head.keep_alive);
    require(again.headers.size() == head.headers.size());
    return 0;
}
