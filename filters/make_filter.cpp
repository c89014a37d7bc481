// make_filter: the format's filter for a spec, behind envelope_guard where the spec asks for a
// strict envelope. Apart from record_filter.cpp (the contract's error codes) so that the contract
// includes none of the concrete filters built on it.
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "filters/csv/csv_filter.hpp"
#include "filters/json/json_filter.hpp"
#include "filters/record_filter.hpp"
#include "filters/xml/xml_filter.hpp"
#include "filters/xml/xmlrpc_filter.hpp"

namespace exportwall::filters {
namespace {

// Holds a JSON or XML filter's output until the records are reached. A document whose records
// never appear — a single object instead of a list, a SOAP `retrieve` instead of a `query`, an API
// that moved its records — is data outside the place the policy filters; without the hold its
// envelope would stream to the client before the filter could tell (records_not_found at the
// end). Held bytes are bounded like a record: past max_record_bytes without a record, the export
// is refused.
class envelope_guard final : public record_filter {
  public:
    envelope_guard(std::unique_ptr<record_filter> inner, std::size_t limit)
        : inner_(std::move(inner)), limit_(limit) {}

    boost::system::error_code feed(std::string_view in, std::string& out) override {
        if (released_) return inner_->feed(in, out);
        auto ec = inner_->feed(in, held_);
        if (ec) return fail(ec);
        // Nested records (side-loaded before the main ones) do not release the hold.
        const filter_counters& c = inner_->progress();
        if (c.records_in > c.nested_in) return release(out);
        if (held_.size() > limit_) return fail(make_error_code(filter_error::records_not_found));
        return {};
    }

    boost::system::error_code finish(std::string& out) override {
        if (released_) return inner_->finish(out);
        // A complete document with its records location present but empty (a page of zero
        // records) passes; the inner filter refuses one without it.
        auto ec = inner_->finish(held_);
        if (ec) return fail(ec);
        return release(out);
    }

    // Until the hold is released the inner filter marks its records against the held bytes;
    // release() moves those marks to where the held bytes land in the caller's output.
    void set_record_marks(std::vector<record_mark>* marks) override {
        marks_ = marks;
        held_marks_.clear();
        inner_->set_record_marks(released_ || marks == nullptr ? marks : &held_marks_);
    }

    // Until the hold is released nothing was sent: bytes_out says so (the inner filter counted
    // what it wrote into the hold).
    const filter_counters& counters() const override {
        if (released_) return inner_->counters();
        withheld_ = inner_->counters();
        withheld_.bytes_out = 0;
        return withheld_;
    }
    const filter_counters& progress() const override {
        return released_ ? inner_->progress() : counters();
    }

    // The hold changes no decision: what the inner filter learnt is handed on as it is.
    std::unique_ptr<filter_memory> take_memory() override { return inner_->take_memory(); }

  private:
    boost::system::error_code fail(boost::system::error_code ec) {
        held_.clear();
        held_.shrink_to_fit();
        held_marks_.clear();
        return ec;
    }
    boost::system::error_code release(std::string& out) {
        // `out` may already hold earlier bytes of the caller's: held offsets start after them.
        const std::size_t base = out.size();
        out += held_;
        held_.clear();
        held_.shrink_to_fit();
        released_ = true;
        if (marks_ != nullptr) {
            for (const record_mark& m : held_marks_) marks_->push_back({base + m.end, m.records});
            inner_->set_record_marks(marks_);
        }
        held_marks_.clear();
        held_marks_.shrink_to_fit();
        return {};
    }

    std::unique_ptr<record_filter> inner_;
    std::size_t limit_;
    std::string held_;
    std::vector<record_mark>* marks_ = nullptr;  // the caller's (set_record_marks)
    std::vector<record_mark> held_marks_;        // the inner filter's, against held_
    bool released_ = false;
    mutable filter_counters withheld_;
};

}  // namespace

std::unique_ptr<record_filter> make_filter(filter_spec spec) {
    return make_filter(std::move(spec), nullptr);
}

std::unique_ptr<record_filter> make_filter(filter_spec spec,
                                           std::unique_ptr<filter_memory> memory) {
    bool guard = spec.strict_envelope;
    std::size_t limit = spec.max_record_bytes;
    switch (spec.format) {
        case body_format::json: {
            auto f = make_json_filter(std::move(spec), json_path::fast, std::move(memory));
            if (!guard) return f;
            return std::make_unique<envelope_guard>(std::move(f), limit);
        }
        case body_format::xml: {
            auto f = make_xml_filter(std::move(spec));
            if (!guard) return f;
            return std::make_unique<envelope_guard>(std::move(f), limit);
        }
        case body_format::xmlrpc: {
            auto f = make_xmlrpc_filter(std::move(spec));
            if (!guard) return f;
            return std::make_unique<envelope_guard>(std::move(f), limit);
        }
        case body_format::ndjson:
            return make_ndjson_filter(std::move(spec), json_path::fast, std::move(memory));
        case body_format::csv:
            return make_csv_filter(std::move(spec), csv_path::fast);
    }
    return make_json_filter(std::move(spec));
}

}  // namespace exportwall::filters
