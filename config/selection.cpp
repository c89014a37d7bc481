#include "config/selection.hpp"

#include "common/percent.hpp"

namespace exportwall::config {

bool percent_decode(std::string_view in, std::string& out) {
    out.clear();
    return common::append_percent_decoded(out, in, common::plus_sign::space);
}

}  // namespace exportwall::config
