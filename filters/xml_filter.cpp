#include "filters/xml_filter.hpp"

// Placeholder until the xml filter lands: refuses every body (fail closed).
namespace exportwall::filters {
namespace {
class refusing_xml_filter final : public record_filter {
public:
    boost::system::error_code feed(std::string_view, std::string&) override { return filter_error::malformed; }
    boost::system::error_code finish(std::string&) override { return filter_error::malformed; }
    const filter_counters& counters() const override { return counters_; }
private:
    filter_counters counters_;
};
}  // namespace
std::unique_ptr<record_filter> make_xml_filter(filter_spec) { return std::make_unique<refusing_xml_filter>(); }
}  // namespace exportwall::filters
