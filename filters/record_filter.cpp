#include "filters/record_filter.hpp"

namespace exportwall::filters {
namespace {

// NOLINTNEXTLINE(*-virtual-class-destructor): final; error_category's destructor is protected.
class filter_category_impl final : public boost::system::error_category {
  public:
    const char* name() const noexcept override { return "exportwall.filter"; }
    std::string message(int ev) const override {
        switch (static_cast<filter_error>(ev)) {
            case filter_error::malformed:
                return "body is not well-formed";
            case filter_error::record_too_large:
                return "record exceeds the size limit";
            case filter_error::too_deep:
                return "nesting exceeds the depth limit";
            case filter_error::duplicate_key:
                return "object repeats a key";
            case filter_error::dtd_refused:
                return "DOCTYPE or entity declaration refused";
            case filter_error::ragged_row:
                return "row has a different number of cells";
            case filter_error::records_not_found:
                return "record location not found";
            case filter_error::record_limit_exceeded:
                return "more records than allowed";
            case filter_error::truncated:
                return "body ended before the document was complete";
        }
        return "unknown filter error";
    }
};

}  // namespace

const boost::system::error_category& filter_category() noexcept {
    static const filter_category_impl category;
    return category;
}

boost::system::error_code make_error_code(filter_error e) noexcept {
    return {static_cast<int>(e), filter_category()};
}

}  // namespace exportwall::filters
