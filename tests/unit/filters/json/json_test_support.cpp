#include "tests/unit/filters/json/json_test_support.hpp"

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>

#include <gtest/gtest.h>
#include <boost/json/basic_parser_impl.hpp>

namespace exportwall::filters::testing {
namespace {

std::string describe(const std::vector<std::size_t>& cuts) {
    std::string s = "cuts at";
    for (std::size_t i = 0; i < cuts.size() && i < 12; ++i) s += " " + std::to_string(cuts[i]);
    if (cuts.size() > 12) s += " ... (" + std::to_string(cuts.size()) + " cuts)";
    return s;
}

bool same_counters(const filter_counters& a, const filter_counters& b) {
    return a.records_in == b.records_in && a.records_out == b.records_out &&
           a.dropped == b.dropped && a.stripped_fields == b.stripped_fields &&
           a.transformed_fields == b.transformed_fields &&
           a.transform_failed == b.transform_failed && a.bytes_in == b.bytes_in &&
           a.bytes_out == b.bytes_out && a.links_rewritten == b.links_rewritten &&
           a.links_removed == b.links_removed;
}

// Collects number lexemes (parts and final piece) from basic_parser events.
struct lexeme_handler {
    static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
    static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
    static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);
    static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
    using ec_t = boost::system::error_code;
    using sv_t = boost::json::string_view;

    std::vector<std::string> lexemes;
    std::string current;

    bool on_document_begin(ec_t&) { return true; }
    bool on_document_end(ec_t&) { return true; }
    bool on_object_begin(ec_t&) { return true; }
    bool on_object_end(std::size_t, ec_t&) { return true; }
    bool on_array_begin(ec_t&) { return true; }
    bool on_array_end(std::size_t, ec_t&) { return true; }
    bool on_key_part(sv_t, std::size_t, ec_t&) { return true; }
    bool on_key(sv_t, std::size_t, ec_t&) { return true; }
    bool on_string_part(sv_t, std::size_t, ec_t&) { return true; }
    bool on_string(sv_t, std::size_t, ec_t&) { return true; }
    bool on_number_part(sv_t s, ec_t&) {
        current.append(s.data(), s.size());
        return true;
    }
    bool end_number(sv_t s) {
        current.append(s.data(), s.size());
        lexemes.push_back(std::move(current));
        current.clear();
        return true;
    }
    bool on_int64(std::int64_t, sv_t s, ec_t&) { return end_number(s); }
    bool on_uint64(std::uint64_t, sv_t s, ec_t&) { return end_number(s); }
    bool on_double(double, sv_t s, ec_t&) { return end_number(s); }
    bool on_bool(bool, ec_t&) { return true; }
    bool on_null(ec_t&) { return true; }
    bool on_comment_part(sv_t, ec_t&) { return true; }
    bool on_comment(sv_t, ec_t&) { return true; }
};

}  // namespace

run_result run_chunks(const filter_spec& spec, std::string_view body,
                      const std::vector<std::size_t>& cuts) {
    run_result r;
    auto filter = make_filter(spec);
    std::size_t at = 0;
    auto feed_to = [&](std::size_t end) {
        if (r.error || end <= at) return;
        r.error = filter->feed(body.substr(at, end - at), r.output);
        at = end;
    };
    for (std::size_t cut : cuts) feed_to(std::min(cut, body.size()));
    feed_to(body.size());
    if (!r.error) r.error = filter->finish(r.output);
    r.counters = filter->counters();
    return r;
}

run_result run_whole(const filter_spec& spec, std::string_view body) {
    return run_chunks(spec, body, {});
}

std::vector<std::vector<std::size_t>> chunkings(std::size_t body_size, int random_runs) {
    std::vector<std::vector<std::size_t>> all;
    std::vector<std::size_t> bytes;
    for (std::size_t i = 1; i < body_size; ++i) bytes.push_back(i);
    all.push_back(bytes);
    for (std::size_t i = 1; i < body_size; ++i) all.push_back({i});
    std::mt19937_64 rng(20261129);
    for (int run = 0; run < random_runs && body_size > 1; ++run) {
        std::uniform_int_distribution<std::size_t> pick(1, body_size - 1);
        std::uniform_int_distribution<std::size_t> count(2, std::min<std::size_t>(body_size, 64));
        std::vector<std::size_t> cuts(count(rng));
        for (auto& c : cuts) c = pick(rng);
        std::sort(cuts.begin(), cuts.end());
        cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
        all.push_back(std::move(cuts));
    }
    return all;
}

run_result run_every_chunking(const filter_spec& spec, std::string_view body) {
    run_result whole = run_whole(spec, body);
    for (const auto& cuts : chunkings(body.size())) {
        run_result r = run_chunks(spec, body, cuts);
        if (r.error != whole.error) {
            ADD_FAILURE() << describe(cuts) << ": error " << r.error.message() << " vs "
                          << whole.error.message();
            return whole;
        }
        if (r.error) continue;  // where an error stops the output may depend on the chunking
        if (r.output != whole.output) {
            ADD_FAILURE() << describe(cuts) << ": output differs\n  chunked: " << r.output
                          << "\n  whole:   " << whole.output;
            return whole;
        }
        if (!same_counters(r.counters, whole.counters)) {
            ADD_FAILURE() << describe(cuts) << ": counters differ";
            return whole;
        }
    }
    return whole;
}

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string shared_testdata() { return EXPORTWALL_SHARED_TESTDATA; }

field_set fields(std::vector<std::string> paths) { return field_set(std::move(paths)); }

std::optional<std::vector<std::string>> number_lexemes(std::string_view json) {
    boost::json::parse_options opt;
    opt.max_depth = 10000;
    boost::json::basic_parser<lexeme_handler> p(opt);
    boost::system::error_code ec;
    const std::size_t n = p.write_some(false, json.data(), json.size(), ec);
    if (ec || n != json.size()) return std::nullopt;
    return std::move(p.handler().lexemes);
}

}  // namespace exportwall::filters::testing
