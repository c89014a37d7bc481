#include "config/selection.hpp"

#include <algorithm>
#include <cctype>

namespace exportwall::config {
namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

void encode_into(std::string_view s, char keep, std::string& out) {
    static constexpr char digits[] = "0123456789ABCDEF";
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~' || c == '$' ||
            c == keep) {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back(digits[u >> 4]);
            out.push_back(digits[u & 0xf]);
        }
    }
}

}  // namespace

bool percent_decode(std::string_view in, std::string& out) {
    out.clear();
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '+') {
            out.push_back(' ');
        } else if (c == '%') {
            if (i + 2 >= in.size()) return false;
            int hi = hex_value(in[i + 1]);
            int lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0) return false;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else {
            out.push_back(c);
        }
    }
    return true;
}

selection resolve_selection(std::string_view raw_query, std::string_view param, char separator,
                            const filters::field_set& allowed,
                            const std::vector<std::string>& rule_fields) {
    selection out;
    if (param.empty()) {
        out.query = std::string(raw_query);
        out.kept = allowed.paths();
        return out;
    }
    // Pass 1: find the parameter, refuse it twice or undecodable.
    std::string name;
    std::string value;
    std::size_t select_at = std::string_view::npos;  // offset of the parameter in raw_query
    std::size_t select_len = 0;
    for (std::size_t pos = 0; pos <= raw_query.size();) {
        auto amp = raw_query.find('&', pos);
        if (amp == std::string_view::npos) amp = raw_query.size();
        std::string_view pair = raw_query.substr(pos, amp - pos);
        auto eq = pair.find('=');
        std::string_view raw_name = pair.substr(0, eq);
        if (!pair.empty()) {
            if (!percent_decode(raw_name, name)) {
                out.invalid = true;
                out.detail = "a query parameter name has a malformed percent-escape";
                return out;
            }
            if (iequals(name, param)) {
                if (out.present) {
                    out.invalid = true;
                    out.detail = "the field-selection parameter '" + std::string(param) +
                                 "' appears more than once";
                    return out;
                }
                out.present = true;
                select_at = pos;
                select_len = pair.size();
                std::string_view raw_value =
                    eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
                if (!percent_decode(raw_value, value)) {
                    out.invalid = true;
                    out.detail = "the field-selection parameter has a malformed percent-escape";
                    return out;
                }
            }
        }
        pos = amp + 1;
    }
    if (out.present) {
        std::string_view rest = value;
        while (true) {
            auto sep = rest.find(separator);
            auto item = trim(rest.substr(0, sep));
            if (!item.empty()) out.requested.emplace_back(item);
            if (sep == std::string_view::npos) break;
            rest.remove_prefix(sep + 1);
        }
    }
    if (out.present && !out.requested.empty()) {
        for (const auto& f : out.requested) {
            auto& into = allowed.keeps(f) ? out.kept : out.stripped;
            if (std::find(into.begin(), into.end(), f) == into.end()) into.push_back(f);
        }
    }
    // Nothing (usable) asked for: every allowed field, so the CRM never returns its default set.
    if (out.kept.empty()) out.kept = allowed.paths();
    out.sent = out.kept;
    for (const auto& f : rule_fields)
        if (std::find(out.sent.begin(), out.sent.end(), f) == out.sent.end()) out.sent.push_back(f);

    std::string rebuilt;
    if (!out.sent.empty()) {
        encode_into(param, '\0', rebuilt);
        rebuilt.push_back('=');
        for (std::size_t i = 0; i < out.sent.size(); ++i) {
            if (i != 0) encode_into(std::string_view(&separator, 1), separator, rebuilt);
            encode_into(out.sent[i], '\0', rebuilt);
        }
    }
    if (select_at != std::string_view::npos) {
        out.query.reserve(raw_query.size() + rebuilt.size());
        out.query.append(raw_query.substr(0, select_at));
        out.query.append(rebuilt);
        out.query.append(raw_query.substr(select_at + select_len));
        // Removing the parameter entirely must not leave "&&" or a leading/trailing '&'.
        if (rebuilt.empty()) {
            std::string cleaned;
            for (std::size_t i = 0; i < out.query.size(); ++i) {
                if (out.query[i] == '&' && (cleaned.empty() || cleaned.back() == '&')) continue;
                cleaned.push_back(out.query[i]);
            }
            if (!cleaned.empty() && cleaned.back() == '&') cleaned.pop_back();
            out.query = std::move(cleaned);
        }
    } else {
        out.query = std::string(raw_query);
        if (!rebuilt.empty()) {
            if (!out.query.empty()) out.query.push_back('&');
            out.query.append(rebuilt);
        }
    }
    return out;
}

}  // namespace exportwall::config
