#include "filters/xml/xmlrpc_filter.hpp"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <expat.h>

#include "common/ascii.hpp"
#include "common/markup_text.hpp"
#include "filters/transform.hpp"
#include "filters/xml/expat_parse.hpp"

// XML-RPC answer filter. Contract beyond record_filter.hpp and xmlrpc_filter.hpp:
// - the document is exactly methodResponse/params/param/value/array/data/value*; each value of
//   that data holds one struct: a record. Whitespace may stand between elements; anything else
//   (another element, text, an attribute, a namespace prefix, a comment, a processing
//   instruction) is `malformed`. A methodResponse holding a <fault> (Odoo's answer to a bad login
//   or a failed call, HTTP 200) or a result that is no list of structs is `records_not_found`:
//   nothing of it is read or written;
// - inside a record, a member's field path is its <name>, below a struct member "parent.name";
//   the elements of an array share the array's path (a many2one [id, "name"] is one field). A
//   member is written whole when the allow-list keeps its path, entered (an array or a struct,
//   member by member) when an allowed path lies below, and dropped otherwise; a name with a dot
//   passes only when the allow-list names it exactly. A struct repeating a member name is
//   `duplicate_key`; an empty name is `malformed`;
// - values: string (and an untyped <value>), int, i4, i8, boolean, double, dateTime.iso8601,
//   base64, nil, array, struct; a scalar's text is checked against its type (`malformed`). The
//   rules read strings as they are, booleans as true / false (Odoo writes false for an empty
//   field), numbers as their lexeme, nil as null; an array or struct where a rule reads a value
//   makes it unreadable (record_fields::mark_structured);
// - the output is written afresh from the parsed form: an XML declaration, the envelope, the
//   kept records and members, compact (no whitespace between elements); an untyped value is
//   written as <string>;
// - a kept value at a transformed path is written as a <string> of its transformed form, or as
//   Odoo's "nothing" (<boolean>0</boolean>) when the transform cannot read it (an array, a
//   struct); a nil stays nil;
// - stripped_fields counts every removed occurrence, in kept and dropped records alike; past 256
//   distinct names new ones count under "*";
// - any DOCTYPE or entity declaration is refused (dtd_refused); nothing external is ever opened;
//   the body must be UTF-8 and declare no other encoding.
namespace exportwall::filters {
namespace {

constexpr std::size_t max_strip_names = 256;  // then "*", as in the JSON and XML filters

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool all_space(std::string_view s) { return std::all_of(s.begin(), s.end(), is_space); }

bool only(std::string_view s, std::string_view allowed) {
    return s.find_first_not_of(allowed) == std::string_view::npos;
}

// The elements of the answer, by where they stand.
enum class kind : std::uint8_t {
    method_response,
    params,
    param,
    result_value,  // the param's value: the result
    result_array,
    result_data,
    record_value,  // a value of the result's data: one record
    value,         // a value inside a record (a member's, or an array element)
    structure,     // <struct>
    member,
    name,
    array,
    data,  // inside a record's array
    scalar,
    nil,
};

// What happens to a value (and everything below it) inside a record.
enum class mode : std::uint8_t {
    keep,     // written whole
    descend,  // an array or struct written member by member (a scalar here is stripped)
    strip,    // not written; counted as stripped where it is decided
    hidden,   // not written, inside something not written (not counted again)
};

// The XML-RPC scalar types and how their text is checked.
enum class scalar_type : std::uint8_t { string, integer, boolean, real, date_time, base64 };

bool scalar_of(std::string_view name, scalar_type& t) {
    if (name == "string") {
        t = scalar_type::string;
    } else if (name == "int" || name == "i4" || name == "i8") {
        t = scalar_type::integer;
    } else if (name == "boolean") {
        t = scalar_type::boolean;
    } else if (name == "double") {
        t = scalar_type::real;
    } else if (name == "dateTime.iso8601") {
        t = scalar_type::date_time;
    } else if (name == "base64") {
        t = scalar_type::base64;
    } else {
        return false;
    }
    return true;
}

bool valid_scalar(scalar_type t, std::string_view s) {
    switch (t) {
        case scalar_type::string:
            return true;
        case scalar_type::integer: {
            const std::size_t sign = !s.empty() && (s.front() == '+' || s.front() == '-') ? 1 : 0;
            return s.size() > sign && only(s.substr(sign), "0123456789");
        }
        case scalar_type::boolean:
            return s == "0" || s == "1";
        case scalar_type::real:
            return !s.empty() && only(s, "0123456789+-.eE");
        case scalar_type::date_time:
            return !s.empty() && only(s, "0123456789T:+-.Z");
        case scalar_type::base64:
            return only(s,
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \t\r\n");
    }
    return false;
}

class xmlrpc_filter final : public record_filter {
  public:
    explicit xmlrpc_filter(filter_spec spec)
        : spec_(std::move(spec)),
          transformer_(spec_.transforms, &counters_.transformed_fields,
                       &counters_.transform_failed) {
        needed_ = spec_.rules.needed_fields();
        parser_ = XML_ParserCreate("UTF-8");
        if (parser_ == nullptr) return;
        XML_SetUserData(parser_, this);
        XML_SetParamEntityParsing(parser_, XML_PARAM_ENTITY_PARSING_NEVER);
        XML_SetElementHandler(parser_, &xmlrpc_filter::on_start, &xmlrpc_filter::on_end);
        XML_SetCharacterDataHandler(parser_, &xmlrpc_filter::on_text);
        XML_SetCommentHandler(parser_, &xmlrpc_filter::on_comment);
        XML_SetProcessingInstructionHandler(parser_, &xmlrpc_filter::on_instruction);
        XML_SetXmlDeclHandler(parser_, &xmlrpc_filter::on_declaration);
        XML_SetStartDoctypeDeclHandler(parser_, &xmlrpc_filter::on_doctype);
        XML_SetEntityDeclHandler(parser_, &xmlrpc_filter::on_entity_declaration);
        XML_SetExternalEntityRefHandler(parser_, &xmlrpc_filter::on_external_entity);
    }

    ~xmlrpc_filter() override {
        if (parser_ != nullptr) XML_ParserFree(parser_);
    }
    xmlrpc_filter(const xmlrpc_filter&) = delete;
    xmlrpc_filter& operator=(const xmlrpc_filter&) = delete;

    boost::system::error_code feed(std::string_view in, std::string& out) override {
        if (error_) return error_;
        if (finished_ || parser_ == nullptr) return fail(filter_error::malformed);
        counters_.bytes_in += in.size();
        // As in the XML filter: expat would read a UTF-16 body (a BOM or a NUL in the first
        // bytes) whatever it is told; no UTF-8 XML holds a NUL, 0xFE or 0xFF.
        if (fed_ == 0 && !in.empty() && static_cast<unsigned char>(in.front()) >= 0xFE)
            return fail(filter_error::malformed);
        const auto* nul = static_cast<const char*>(std::memchr(in.data(), '\0', in.size()));
        if (nul != nullptr) {
            in = in.substr(0, static_cast<std::size_t>(nul - in.data()));
            // Expat (2.6's reparse deferral, in Debian 12's security updates) may hold back
            // bytes until more arrive; before the NUL ends the body it must parse all it holds,
            // so that a fault before the NUL is reported first whatever the chunking (found by
            // fuzz_xml). The export fails here either way: no quadratic reparsing to fear.
            XML_SetReparseDeferralEnabled(parser_, XML_FALSE);
        }
        const std::size_t out_before = out.size();
        out_ = &out;
        boost::system::error_code ec;
        while (!in.empty() && !ec) {
            const std::size_t n = std::min<std::size_t>(in.size(), INT_MAX / 2);
            ec = parse(in.substr(0, n), false);
            in.remove_prefix(n);
        }
        if (!ec && nul != nullptr) {
            // The body ends at the NUL: what expat still holds (an unfinished token) is read as
            // its end, so a fault in it is reported first; otherwise the NUL is the fault.
            ec = parse({}, true);
            if (!ec || ec == filter_error::truncated) ec = filter_error::malformed;
        }
        flush_strip_counts();
        counters_.bytes_out += out.size() - out_before;
        out_ = nullptr;
        return ec ? fail(ec) : ec;
    }

    boost::system::error_code finish(std::string& out) override {
        if (error_) return error_;
        if (finished_ || parser_ == nullptr) return fail(filter_error::malformed);
        const std::size_t out_before = out.size();
        out_ = &out;
        boost::system::error_code ec = parse({}, true);
        if (!ec && !complete_) ec = filter_error::truncated;
        flush_strip_counts();
        counters_.bytes_out += out.size() - out_before;
        out_ = nullptr;
        finished_ = true;
        return ec ? fail(ec) : ec;
    }

    const filter_counters& counters() const override { return counters_; }
    void set_record_marks(std::vector<record_mark>* marks) override { marks_ = marks; }

  private:
    struct frame {
        kind k = kind::method_response;
        mode m = mode::hidden;       // inside a record: what happens to this element's content
        std::uint32_t elements = 0;  // element children so far
        std::size_t path_len = 0;    // path_'s length to restore when this element ends
        bool written = false;        // its start tag is in the record buffer
        bool transformed = false;    // a value at a transformed path (its index in transform_)
        bool replaced = false;       // a value written as <boolean>0</boolean>, content hidden
        scalar_type type = scalar_type::string;
        std::size_t transform = transform_set::npos;
    };

    [[nodiscard]] boost::system::error_code fail(boost::system::error_code ec) {
        error_ = ec;
        return ec;
    }

    [[nodiscard]] boost::system::error_code parse(std::string_view in, bool final) {
        return expat_parse(parser_, in, final, fed_, spec_.max_record_bytes, pending_error_);
    }

    void stop(filter_error e) {
        if (pending_error_) return;
        pending_error_ = e;
        XML_StopParser(parser_, XML_FALSE);
    }

    [[nodiscard]] bool record_within_limit() {
        if (!in_record_) return true;
        const XML_Index at = XML_GetCurrentByteIndex(parser_);
        if (at >= 0 && static_cast<std::uint64_t>(at) - record_start_ > spec_.max_record_bytes) {
            stop(filter_error::record_too_large);
            return false;
        }
        return true;
    }

    [[nodiscard]] bool is_needed(std::string_view path) const {
        return std::binary_search(needed_.begin(), needed_.end(), path);
    }
    [[nodiscard]] bool needed_below(std::string_view path) const {
        auto it = std::lower_bound(needed_.begin(), needed_.end(), path);
        for (; it != needed_.end() && std::string_view(*it).substr(0, path.size()) == path; ++it)
            if (it->size() > path.size() && (*it)[path.size()] == '.') return true;
        return false;
    }

    void note_stripped(std::string_view path) {
        auto it = strip_counts_.find(path);
        if (it == strip_counts_.end()) {
            std::string name(path);
            if (strip_counts_.size() >= max_strip_names) name = "*";
            it = strip_counts_.emplace(std::move(name), 0).first;
        }
        ++it->second;
    }
    void flush_strip_counts() {
        for (auto& [name, n] : strip_counts_) {
            if (n == 0) continue;
            counters_.stripped_fields[name] += n;
            n = 0;
        }
    }

    // --- elements -----------------------------------------------------------------------------

    void start(const XML_Char* raw, const XML_Char** atts) {
        if (pending_error_) return;
        if (!record_within_limit()) return;
        if (frames_.size() >= spec_.max_depth) return stop(filter_error::too_deep);
        if (atts[0] != nullptr) return stop(filter_error::malformed);  // XML-RPC has none
        const std::string_view name(raw);
        if (frames_.empty()) {
            if (name != "methodResponse") return stop(filter_error::malformed);
            return push(kind::method_response);
        }
        frame& parent = frames_.back();
        if (!all_space(text_)) return stop(filter_error::malformed);  // text beside an element
        text_.clear();
        const std::uint32_t nth = parent.elements++;
        switch (parent.k) {
            case kind::method_response:
                if (nth == 0 && name == "fault") return stop(filter_error::records_not_found);
                if (nth != 0 || name != "params") return stop(filter_error::malformed);
                return push(kind::params);
            case kind::params:
                if (nth != 0 || name != "param") return stop(filter_error::malformed);
                return push(kind::param);
            case kind::param:
                if (nth != 0 || name != "value") return stop(filter_error::malformed);
                return push(kind::result_value);
            case kind::result_value:
                if (nth != 0) return stop(filter_error::malformed);
                // A search_count's int, a read_group's or fields_get's answer: no records.
                if (name != "array") return stop(filter_error::records_not_found);
                return push(kind::result_array);
            case kind::result_array:
                if (nth != 0 || name != "data") return stop(filter_error::malformed);
                out_->append(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodResponse><params><param>"
                    "<value><array><data>");
                return push(kind::result_data);
            case kind::result_data:
                if (name != "value") return stop(filter_error::malformed);
                begin_record();
                return push(kind::record_value);
            case kind::record_value:
                // A list of ids or names (search, name_search) is no list of records.
                if (nth != 0 || name != "struct") return stop(filter_error::records_not_found);
                return start_record_struct();
            case kind::structure:
                if (name != "member") return stop(filter_error::malformed);
                return push_member(parent);
            case kind::member:
                if (nth == 0 && name == "name") return push_inner(kind::name, parent.m);
                if (nth == 1 && name == "value") return start_member_value();
                return stop(filter_error::malformed);
            case kind::array:
                if (nth != 0 || name != "data") return stop(filter_error::malformed);
                if (parent.written) record_buf_.append("<data>");
                return push_inner(kind::data, parent.m, parent.written);
            case kind::data:
                if (name != "value") return stop(filter_error::malformed);
                return start_element_value(parent);
            case kind::value:
                if (nth != 0) return stop(filter_error::malformed);
                return start_typed(name);
            case kind::name:
            case kind::scalar:
            case kind::nil:
                return stop(filter_error::malformed);
        }
    }

    void push(kind k) {
        frame f;
        f.k = k;
        f.path_len = path_.size();
        frames_.push_back(f);
    }
    void push_inner(kind k, mode m, bool written = false) {
        frame f;
        f.k = k;
        f.m = m;
        f.written = written;
        f.path_len = path_.size();
        frames_.push_back(f);
    }

    void begin_record() {
        in_record_ = true;
        ++counters_.records_in;
        const XML_Index at = XML_GetCurrentByteIndex(parser_);
        record_start_ = at >= 0 ? static_cast<std::uint64_t>(at) : fed_;
        record_buf_.assign("<value>");
        fields_.clear();
        path_.clear();
        struct_depth_ = 0;
    }

    void start_record_struct() {
        const mode m = spec_.allowed.keeps("") ? mode::keep : mode::descend;
        record_buf_.append("<struct>");
        open_struct();
        push_inner(kind::structure, m, true);
    }

    void open_struct() {
        if (names_.size() <= struct_depth_) names_.emplace_back();
        names_[struct_depth_].clear();
        ++struct_depth_;
    }

    // A <member> of a struct: its mode is the struct's until its name is read.
    void push_member(const frame& structure) { push_inner(kind::member, structure.m); }

    // The member's <name> ended: its path, and what happens to its value.
    void end_name() {
        frame& member = frames_.back();  // the name frame was popped
        if (text_.empty()) return stop(filter_error::malformed);
        auto& names = names_[struct_depth_ - 1];
        if (!names.insert(text_).second) return stop(filter_error::duplicate_key);
        member_name_ = text_;
        if (!path_.empty()) path_.push_back('.');
        path_.append(text_);
        text_.clear();
        switch (member.m) {
            case mode::keep:
            case mode::hidden:
                break;  // a kept struct keeps its members; a hidden one writes none
            case mode::descend:
            case mode::strip: {
                const bool dotted = member_name_.find('.') != std::string::npos;
                if (dotted) {
                    // Not a nested path: only an exact entry lets it through.
                    const auto& paths = spec_.allowed.paths();
                    member.m = std::binary_search(paths.begin(), paths.end(), path_) ? mode::keep
                                                                                     : mode::strip;
                } else if (spec_.allowed.keeps(path_)) {
                    member.m = mode::keep;
                } else if (spec_.allowed.descends(path_)) {
                    member.m = mode::descend;
                } else {
                    member.m = mode::strip;
                }
                break;
            }
        }
        member_pending_ = true;
        pending_member_ = frames_.size() - 1;
    }

    // A member's <value>: written (with the member's start) once its content is known.
    void start_member_value() { push_inner(kind::value, frames_.back().m); }

    // An element of an array (its path is the array's).
    void start_element_value(const frame& data) {
        push_inner(kind::value, data.m);
        member_pending_ = false;
    }

    // The first element inside a record's <value>: its type decides what is written.
    void start_typed(std::string_view name) {
        frame& value = frames_.back();
        scalar_type t = scalar_type::string;
        if (name == "array" || name == "struct") {
            const bool is_array = name == "array";
            // A structure where a rule reads a value; a list on the way to one too.
            if (is_needed(path_) || (is_array && needed_below(path_)))
                fields_.mark_structured(path_);
            resolve(value, true);
            if (is_array) {
                if (value.written && !value.replaced) record_buf_.append("<array>");
                push_inner(kind::array, value.replaced ? mode::hidden : value.m,
                           value.written && !value.replaced);
            } else {
                if (value.written && !value.replaced) record_buf_.append("<struct>");
                open_struct();
                push_inner(kind::structure, value.replaced ? mode::hidden : value.m,
                           value.written && !value.replaced);
            }
            return;
        }
        if (name == "nil") {
            resolve(value, false);
            push_inner(kind::nil, value.m, value.written);
            return;
        }
        if (!scalar_of(name, t)) return stop(filter_error::malformed);
        resolve(value, false);
        push_inner(kind::scalar, value.m, value.written);
        frames_.back().type = t;
        tag_.assign(name);
    }

    // Decides whether `value` (at path_) is written, now that its content is known to be a
    // container or a scalar; writes the pending member start and <value> when it is.
    void resolve(frame& value, bool container) {
        mode m = value.m;
        if (m == mode::descend && !container) m = mode::strip;  // an allowed path lies below
        if (m == mode::strip) {
            note_stripped(path_);
            m = mode::hidden;
        }
        value.m = m;
        value.written = m == mode::keep || m == mode::descend;
        if (value.written && !spec_.transforms.empty()) {
            const std::size_t t = spec_.transforms.index_of(path_);
            if (spec_.transforms.above(path_)) {
                // Part of a transformed value (a name with a dot): never written as received.
                note_stripped(path_);
                value.m = mode::hidden;
                value.written = false;
            } else if (t != transform_set::npos) {
                value.transformed = true;
                value.transform = t;
                if (container) {
                    transformer_.count_failed(t);
                    value.replaced = true;
                }
            }
        }
        if (value.written) {
            if (member_pending_) {
                record_buf_.append("<member><name>");
                common::append_xml_text(record_buf_, member_name_);
                record_buf_.append("</name>");
                frames_[pending_member_].written = true;
            }
            record_buf_.append("<value>");
            if (value.replaced) record_buf_.append("<boolean>0</boolean>");
        }
        member_pending_ = false;
    }

    void end(const XML_Char* /*raw*/) {
        if (pending_error_) return;
        if (!record_within_limit()) return;
        frame f = frames_.back();
        frames_.pop_back();
        const bool text_ok =
            f.k == kind::name || f.k == kind::scalar || (f.k == kind::value && f.elements == 0);
        if (!text_ok && !all_space(text_)) return stop(filter_error::malformed);
        switch (f.k) {
            case kind::method_response:
                if (f.elements != 1) return stop(filter_error::malformed);
                out_->append("</data></array></value></param></params></methodResponse>\n");
                complete_ = true;
                break;
            case kind::params:
            case kind::param:
            case kind::result_array:
                if (f.elements != 1) return stop(filter_error::malformed);
                break;
            case kind::result_value:
                // An untyped (string) result.
                if (f.elements != 1) return stop(filter_error::records_not_found);
                break;
            case kind::result_data:
                break;
            case kind::record_value:
                if (f.elements != 1) return stop(filter_error::records_not_found);
                record_buf_.append("</value>");
                end_record();
                break;
            case kind::structure:
                --struct_depth_;
                if (f.written) record_buf_.append("</struct>");
                break;
            case kind::member:
                if (f.elements != 2) return stop(filter_error::malformed);
                if (f.written) record_buf_.append("</member>");
                path_.resize(f.path_len);
                break;
            case kind::name:
                end_name();
                break;
            case kind::array:
                if (f.elements != 1) return stop(filter_error::malformed);
                if (f.written) record_buf_.append("</array>");
                break;
            case kind::data:
                if (f.written) record_buf_.append("</data>");
                break;
            case kind::value:
                if (f.elements == 0) {
                    // An untyped value: a string.
                    resolve(f, false);
                    scalar(f, scalar_type::string, text_, "string");
                }
                text_.clear();
                if (f.written) record_buf_.append("</value>");
                break;
            case kind::scalar: {
                if (!valid_scalar(f.type, text_)) return stop(filter_error::malformed);
                const frame& value = frames_.back();
                frame at = f;
                at.transformed = value.transformed;
                at.transform = value.transform;
                scalar(at, f.type, text_, tag_);
                text_.clear();
                break;
            }
            case kind::nil: {
                if (!text_.empty()) return stop(filter_error::malformed);
                if (is_needed(path_)) fields_.add(path_, "null");
                const frame& value = frames_.back();
                if (value.transformed) transformer_.count_failed(value.transform);
                if (f.written) record_buf_.append("<nil/>");
                break;
            }
        }
    }

    // A scalar's value ends: the rules read it; it is written (transformed) when kept.
    void scalar(const frame& f, scalar_type type, std::string_view text, std::string_view tag) {
        std::string_view value = text;
        if (type == scalar_type::boolean) value = text == "1" ? "true" : "false";
        if (is_needed(path_)) fields_.add(path_, value);
        if (!f.written) return;
        if (f.transformed) {
            transform_text_.clear();
            if (transformer_.apply(f.transform, value, transform_text_)) {
                record_buf_.append("<string>");
                common::append_xml_text(record_buf_, transform_text_);
                record_buf_.append("</string>");
            } else {
                record_buf_.append("<boolean>0</boolean>");
            }
            return;
        }
        record_buf_.push_back('<');
        record_buf_.append(tag);
        record_buf_.push_back('>');
        common::append_xml_text(record_buf_, text);
        record_buf_.append("</");
        record_buf_.append(tag);
        record_buf_.push_back('>');
    }

    void end_record() {
        in_record_ = false;
        path_.clear();
        if (!spec_.rules.empty()) {
            if (auto reason = evaluate(spec_.rules, fields_)) {
                ++counters_.dropped[static_cast<std::size_t>(*reason)];
                if (!spec_.transforms.empty()) transformer_.end_record(false);
                spec_.rules.report(fields_, false);
                return;
            }
        }
        if (spec_.max_records != 0 && counters_.records_out >= spec_.max_records)
            return stop(filter_error::record_limit_exceeded);
        spec_.rules.report(fields_, true);
        if (!spec_.transforms.empty()) transformer_.end_record(true);
        ++counters_.records_out;
        out_->append(record_buf_);
        if (marks_ != nullptr) marks_->push_back({out_->size(), counters_.records_out});
    }

    void text(std::string_view s) {
        if (pending_error_ || frames_.empty()) return;
        if (!record_within_limit()) return;
        const frame& f = frames_.back();
        const bool holds_text = f.k == kind::name || f.k == kind::scalar || f.k == kind::value;
        if (!holds_text || (f.k == kind::value && f.elements != 0)) {
            // Between elements only whitespace stands; it is not kept (the output is compact).
            // A string where the result or a record should be is no list of records.
            const bool result = f.k == kind::result_value || f.k == kind::record_value;
            if (!all_space(s))
                stop(result && f.elements == 0 ? filter_error::records_not_found
                                               : filter_error::malformed);
            return;
        }
        text_.append(s);
    }

    // --- handlers -----------------------------------------------------------------------------

    static xmlrpc_filter& self(void* user) { return *static_cast<xmlrpc_filter*>(user); }

    static void XMLCALL on_start(void* user, const XML_Char* name, const XML_Char** atts) {
        self(user).start(name, atts);
    }
    static void XMLCALL on_end(void* user, const XML_Char* name) { self(user).end(name); }
    static void XMLCALL on_text(void* user, const XML_Char* s, int len) {
        self(user).text(std::string_view(s, static_cast<std::size_t>(len)));
    }
    // XML-RPC has no comments or processing instructions; a CRM that writes them is not
    // understood.
    static void XMLCALL on_comment(void* user, const XML_Char*) {
        self(user).stop(filter_error::malformed);
    }
    static void XMLCALL on_instruction(void* user, const XML_Char*, const XML_Char*) {
        self(user).stop(filter_error::malformed);
    }
    static void XMLCALL on_declaration(void* user, const XML_Char* version,
                                       const XML_Char* encoding, int) {
        // The parser reads UTF-8 whatever the declaration says.
        if (version != nullptr && encoding != nullptr &&
            !common::iequals_ascii(encoding, "UTF-8") &&
            !common::iequals_ascii(encoding, "US-ASCII"))
            self(user).stop(filter_error::malformed);
    }
    static void XMLCALL on_doctype(void* user, const XML_Char*, const XML_Char*, const XML_Char*,
                                   int) {
        self(user).stop(filter_error::dtd_refused);
    }
    static void XMLCALL on_entity_declaration(void* user, const XML_Char*, int, const XML_Char*,
                                              int, const XML_Char*, const XML_Char*,
                                              const XML_Char*, const XML_Char*) {
        self(user).stop(filter_error::dtd_refused);
    }
    static int XMLCALL on_external_entity(XML_Parser, const XML_Char*, const XML_Char*,
                                          const XML_Char*, const XML_Char*) {
        return XML_STATUS_ERROR;
    }

    // Transparent hashing: look names up by string_view.
    struct name_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };

    filter_spec spec_;
    filter_counters counters_;
    field_transformer transformer_;
    boost::system::error_code error_;
    boost::system::error_code pending_error_;  // set by a handler, returned by parse()
    bool finished_ = false;
    bool complete_ = false;  // </methodResponse> was read
    XML_Parser parser_ = nullptr;
    std::string* out_ = nullptr;  // the caller's output during feed() and finish()
    std::uint64_t fed_ = 0;
    std::vector<record_mark>* marks_ = nullptr;

    std::vector<std::string> needed_;  // fields the rules read, sorted
    std::vector<frame> frames_;
    std::string text_;                // the text of the innermost name, scalar or value being read
    std::string tag_;                 // the open scalar's element name
    std::string path_;                // the field path of the member being read, inside its record
    std::string member_name_;         // the member whose start waits for its value's content
    bool member_pending_ = false;     // its start is not written yet
    std::size_t pending_member_ = 0;  // its frame
    std::vector<std::unordered_set<std::string>> names_;  // member names per open struct
    std::size_t struct_depth_ = 0;

    bool in_record_ = false;
    std::uint64_t record_start_ = 0;
    std::string record_buf_;
    record_fields fields_ = record_fields::reading_for(spec_.rules);
    std::string transform_text_;
    std::unordered_map<std::string, std::uint64_t, name_hash, std::equal_to<>> strip_counts_;
};

}  // namespace

std::unique_ptr<record_filter> make_xmlrpc_filter(filter_spec spec) {
    return std::make_unique<xmlrpc_filter>(std::move(spec));
}

}  // namespace exportwall::filters
