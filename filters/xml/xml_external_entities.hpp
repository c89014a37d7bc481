#pragma once
// Evidence for the XML filter's promise never to resolve an external entity: every request expat
// makes to open one (a file or a URL) is refused and counted here, process-wide. Tests assert
// that the count stays zero, because the filter refuses the DOCTYPE before expat could ask.

#include <cstdint>

namespace exportwall::filters {

// How many times, since the process started, an XML filter was asked to open an external entity.
[[nodiscard]] std::uint64_t xml_external_entity_requests() noexcept;

}  // namespace exportwall::filters
