#pragma once
// Parser for llhttp's markdown request tests (../shared/testdata/llhttp/test/request/*.md): each
// "## title" section holds a meta comment, an ```http block with the raw request and a ```log block
// with what llhttp made of it. The http block is turned into bytes exactly as llhttp's
// test/md-test.ts does (newlines become CRLF; \r \n \t \f \xHH and octal escapes; a backslash at
// the end of a line joins it with the next). Test support only: throws std::runtime_error when the
// file cannot be read.

#include <string>
#include <vector>

namespace exportwall::test {

struct llhttp_sample {
    std::string title;             // the section heading
    std::string type;              // meta "type": request, request-lenient-headers, …
    std::string raw;               // the request bytes
    std::string log;               // llhttp's expected callback log
    bool uses_javascript = false;  // the block has ${…} (evaluated by llhttp's runner: skip it)

    // llhttp in its default (non-lenient) configuration parses the request to completion: the
    // sample is a plain "request" test and its log has no error line.
    [[nodiscard]] bool accepted_by_llhttp() const;
};

[[nodiscard]] std::vector<llhttp_sample> load_llhttp_samples(const std::string& path);

// The http-block transformation on its own (exposed for tests of the loader).
[[nodiscard]] std::string llhttp_block_to_bytes(std::string block);

}  // namespace exportwall::test
