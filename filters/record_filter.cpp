#include "filters/record_filter.hpp"

#include "filters/csv_filter.hpp"
#include "filters/json_filter.hpp"
#include "filters/xml_filter.hpp"

namespace exportwall::filters {
namespace {

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

std::unique_ptr<record_filter> make_filter(filter_spec spec) {
    switch (spec.format) {
        case body_format::json:
            return make_json_filter(std::move(spec));
        case body_format::ndjson:
            return make_ndjson_filter(std::move(spec));
        case body_format::csv:
            return make_csv_filter(std::move(spec));
        case body_format::xml:
            return make_xml_filter(std::move(spec));
    }
    return make_json_filter(std::move(spec));
}

}  // namespace exportwall::filters
