#pragma once
// `exportwall test-policy`'s runner as library code: an operator's policy test cases
// (<cases><case …><expect …/></case></cases>, docs/policy-guide.md) each decided under a loaded
// configuration and compared with what the case expects.

#include <string>
#include <vector>

#include <pugixml.hpp>

#include "config/decide.hpp"
#include "config/loader.hpp"

namespace exportwall::config {

// A cases file says exactly what its author meant: an attribute or element test-policy does not
// read, or an expectation no decision can have, is a usage error, never a case that silently
// checks less than it seems to. Returns one "file:line: message" per problem, in document order;
// empty when `root` (the <cases> element of `file`, whose text is `text`) is sound.
[[nodiscard]] std::vector<std::string> check_cases(const pugi::xml_node& root,
                                                   const std::string& file,
                                                   const std::string& text);

// One case decided.
struct case_result {
    std::string name;                   // its name attribute, "(unnamed)" without one
    std::vector<std::string> problems;  // every expectation the decision does not meet
    decision verdict;

    [[nodiscard]] bool passed() const { return problems.empty(); }
};

// Decides the request of one <case> (`cs`) under `config` and compares it with its <expect>.
[[nodiscard]] case_result run_case(const configuration& config, const pugi::xml_node& cs);

}  // namespace exportwall::config
