#include "filters/xml/xml_filter.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <expat.h>

#include "common/ascii.hpp"
#include "common/equal_bytes.hpp"
#include "common/markup_text.hpp"
#include "filters/transform.hpp"
#include "filters/xml/expat_parse.hpp"
#include "filters/xml/xml_external_entities.hpp"
#include "filters/xml/xml_record_parser.hpp"

// XML export filter: expat in namespace mode with triplets, so every name arrives as
// "uri SEP local SEP prefix" and is written back with the prefix it had; xmlns declarations
// arrive through the namespace handler and are written back on the element that made them.
//
// Contract details beyond record_filter.hpp:
// - spec.records is a path of local names from the root; every element at that path is a record.
//   Everything outside records (the envelope) is re-serialised unchanged in meaning. The
//   document ending without the records' parent element is `records_not_found`;
// - inside a record, a child element is a field named by its local name, nested elements give
//   dotted paths ("Account.Name") and attributes "@local" on the record, "child.@local" on a
//   child. Comments, processing instructions and non-whitespace text directly inside an element
//   that is filtered member by member are dropped;
// - stripped_fields counts, per path, every removed occurrence (kept and dropped records alike,
//   as the JSON filter counts); past 256 distinct names new ones count under "*";
// - any DOCTYPE or entity declaration is refused (dtd_refused); nothing external is ever opened;
// - with spec.strict_envelope (the proxy always sets it) nothing but the records and the vendors'
//   metadata leaves the document: the ancestors of the records path (and of a link field) pass
//   as written, but non-whitespace text directly inside them is dropped; another element outside
//   the records passes only if its local name is in envelope_metadata (a leaf: its child elements
//   are dropped, its attributes other than xsi:* too) or it is a link field; everything else
//   (soapenv:Header, a SOAP Fault, an element beside the records, comments, processing
//   instructions) is dropped whole and counted as "(envelope)<local name>";
// - the document must be UTF-8 (the parser is told so) and declare no other encoding;
// - a kept element at a transformed path (spec.transforms) is written with its text transformed,
//   or empty when the transform cannot read it (it has child elements, is xsi:nil, or is not
//   what the transform reads); its attributes other than xsi:nil are stripped. One the allow-list
//   only enters (an allowed member below it) is written empty. An attribute is transformed at
//   its own path ("@id", "phone.@ext"), or written empty.
namespace exportwall::filters {
namespace {

constexpr std::uint32_t no_transform = static_cast<std::uint32_t>(-1);

std::atomic<std::uint64_t> external_entity_requests{0};
std::atomic<std::uint64_t> fast_path_records{0};

constexpr char ns_separator = '\x01';  // never valid in an XML 1.0 document
constexpr std::string_view xsi_uri = "http://www.w3.org/2001/XMLSchema-instance";

// Envelope elements outside the records that pass under strict_envelope, by local name: the
// vendors' page metadata (Salesforce Partner SOAP query results: done, queryLocator, size;
// totalSize as the REST API names it). SOAP faults and headers are not metadata: a CRM error
// body is replaced by the proxy, and a header can carry anything.
constexpr std::array<std::string_view, 4> envelope_metadata{"done", "queryLocator", "size",
                                                            "totalSize"};
constexpr std::string_view envelope_prefix = "(envelope)";

// One expat name in triplet form, split.
struct xml_name {
    std::string_view uri;
    std::string_view local;
    std::string_view prefix;
};

xml_name split_name(const XML_Char* raw) {
    std::string_view s(raw);
    xml_name n;
    auto first = s.find(ns_separator);
    if (first == std::string_view::npos) {
        n.local = s;
        return n;
    }
    n.uri = s.substr(0, first);
    s.remove_prefix(first + 1);
    auto second = s.find(ns_separator);
    if (second == std::string_view::npos) {
        n.local = s;
    } else {
        n.local = s.substr(0, second);
        n.prefix = s.substr(second + 1);
    }
    return n;
}

void append_qname(std::string& out, const xml_name& n) {
    if (!n.prefix.empty()) {
        out.append(n.prefix);
        out.push_back(':');
    }
    out.append(n.local);
}

bool is_whitespace(std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
}

class xml_filter final : public record_filter {
  public:
    xml_filter(filter_spec spec, xml_path reader)
        : spec_(std::move(spec)),
          path_(reader),
          transformer_(spec_.transforms, &counters_.transformed_fields,
                       &counters_.transform_failed) {
        std::string_view path = spec_.records;
        while (!path.empty()) {
            auto slash = path.find('/');
            auto part = path.substr(0, slash);
            if (!part.empty()) record_path_.emplace_back(part);
            if (slash == std::string_view::npos) break;
            path.remove_prefix(slash + 1);
        }
        // Field paths are relative to field_root: prefix them once, strip the prefix when a
        // path is reported.
        if (!spec_.field_root.empty()) {
            root_prefix_ = spec_.field_root + ".";
            std::vector<std::string> allowed;
            for (const auto& p : spec_.allowed.paths()) allowed.push_back(root_prefix_ + p);
            spec_.allowed = field_set(std::move(allowed));
        }
        for (const auto& f : spec_.rules.needed_fields()) needed_.push_back(root_prefix_ + f);
        std::sort(needed_.begin(), needed_.end());
        // Transforms are looked up by element path like the allow-list (prefixed); an index
        // there is an index in spec_.transforms.
        transform_paths_ = spec_.transforms.under(root_prefix_);

        parser_ = XML_ParserCreateNS("UTF-8", ns_separator);
        if (parser_ == nullptr) return;
        XML_SetUserData(parser_, this);
        XML_SetReturnNSTriplet(parser_, 1);
        XML_SetParamEntityParsing(parser_, XML_PARAM_ENTITY_PARSING_NEVER);
        XML_SetElementHandler(parser_, &xml_filter::on_start, &xml_filter::on_end);
        XML_SetCharacterDataHandler(parser_, &xml_filter::on_text);
        XML_SetNamespaceDeclHandler(parser_, &xml_filter::on_namespace,
                                    &xml_filter::on_namespace_end);
        XML_SetCommentHandler(parser_, &xml_filter::on_comment);
        XML_SetProcessingInstructionHandler(parser_, &xml_filter::on_instruction);
        XML_SetXmlDeclHandler(parser_, &xml_filter::on_declaration);
        XML_SetStartDoctypeDeclHandler(parser_, &xml_filter::on_doctype);
        XML_SetEntityDeclHandler(parser_, &xml_filter::on_entity_declaration);
        XML_SetExternalEntityRefHandler(parser_, &xml_filter::on_external_entity);
    }

    ~xml_filter() override {
        if (parser_ != nullptr) XML_ParserFree(parser_);
    }
    xml_filter(const xml_filter&) = delete;
    xml_filter& operator=(const xml_filter&) = delete;

    boost::system::error_code feed(std::string_view in, std::string& out) override {
        if (error_) return error_;
        if (finished_ || parser_ == nullptr) return fail(filter_error::malformed);
        if (record_path_.empty()) return fail(filter_error::records_not_found);
        counters_.bytes_in += in.size();
        // Expat detects UTF-16 from a BOM or a NUL in the first bytes even when told the body is
        // UTF-8, and would turn it into UTF-8 output under the upstream's UTF-16 label. No
        // UTF-8 XML holds a NUL, 0xFE or 0xFF: refuse them (a NUL where it occurs, so the
        // first fault in the body is the one reported, however the body is cut).
        if (fed_ == 0 && !in.empty() && static_cast<unsigned char>(in.front()) >= 0xFE) {
            return fail(filter_error::malformed);
        }
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
        if (nul != nullptr || path_ != xml_path::fast) {
            // A record held back for the fast path goes to expat before what follows it.
            if (!carry_.empty()) {
                ec = to_expat(carry_);
                carry_.clear();
            }
            if (!ec) ec = to_expat(in);
        } else {
            // The fast path feeds expat parts of the piece; what expat holds is judged against
            // max-record-bytes once the whole piece is in, as when expat is fed the piece whole
            // (a '>' inside an attribute value or a comment is no place to judge it).
            piecewise_ = true;
            ec = feed_fast(in);
            piecewise_ = false;
            if (!ec) ec = parse({}, false);
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
        if (record_path_.empty()) return fail(filter_error::records_not_found);
        const std::size_t out_before = out.size();
        out_ = &out;
        // A record the fast path held back, and what came after it: read as in feed(), but the
        // body ends here (a record still cut goes to expat, which finds it truncated).
        boost::system::error_code ec;
        if (!carry_.empty()) {
            carry_scanned_ = 0;  // looked at once more, whatever its size
            std::string_view nothing;
            ec = continue_carry(nothing);
            if (!ec && !carry_.empty()) ec = to_expat(carry_);
            carry_.clear();
        }
        if (!ec) ec = parse({}, true);
        if (!ec && !parent_seen_) ec = filter_error::records_not_found;
        flush_strip_counts();
        counters_.bytes_out += out.size() - out_before;
        out_ = nullptr;
        finished_ = true;
        return ec ? fail(ec) : ec;
    }

    const filter_counters& counters() const override { return counters_; }
    void set_record_marks(std::vector<record_mark>* marks) override { marks_ = marks; }

  private:
    enum class mode : std::uint8_t {
        envelope,   // outside every record: written to the output as it comes
        keep,       // a kept field (or inside one): written to the record buffer whole
        descend,    // a record or a field with allowed members: filtered member by member
        hidden,     // stripped: not written; still read when a condition needs a value below it
        discarded,  // outside the records and not allowed (strict_envelope): neither written nor
                    // read, whole subtree
    };

    struct frame {
        std::size_t abs_len = 0;        // abs_path_ length before this element
        std::size_t rel_len = 0;        // rel_path_ length before this element
        std::size_t collect_begin = 0;  // where this element's text starts in collect_buf_
        mode m = mode::envelope;
        bool matched = false;  // this element extends the match of the record path
        bool record = false;   // this element is a record
        // A child of the records' parent that is not a record: it passes as envelope only while
        // it holds text (done, size, queryLocator). One with child elements is refused: it may be
        // records under another name, and those must never pass unfiltered.
        bool record_sibling = false;
        bool tracked = false;     // rel_path_ is maintained for this element (inside a record)
        bool collecting = false;  // its text is the value of a field a condition reads
        bool structured = false;  // collecting, and a child element was seen (marked once)
        bool link = false;        // its text is a pagination link
        bool token = false;       // ... or a paging token to seal (queryLocator)
        bool nil = false;         // xsi:nil="true"
        // strict_envelope: an ancestor of the records or of a link field. Its tags pass; text
        // directly inside it is held until the next markup and passes only if whitespace.
        bool ancestor = false;
        bool metadata = false;  // strict_envelope: an allowed metadata leaf (envelope_metadata)
        bool flag = false;      // ... `done`: its text must be true or false
        bool count = false;     // ... `size`, `totalSize`: its text must be a count
        // Inside a record, kept: a transform's path lies below (its members and attributes are
        // looked up); or it is at one (`transformed`: its text is held in transform_value_ until
        // it ends, and open_transform_ names the transform; such elements never nest).
        bool transform_below = false;
        bool transformed = false;
        bool transform_failed = false;  // transformed, and a child element was seen
    };

    [[nodiscard]] boost::system::error_code fail(boost::system::error_code ec) {
        error_ = ec;
        return ec;
    }

    [[nodiscard]] boost::system::error_code parse(std::string_view in, bool final) {
        // While the fast path feeds a piece in parts, what expat holds is not judged (feed()
        // judges it after the last part).
        const std::uint64_t held_limit =
            piecewise_ ? std::numeric_limits<std::uint64_t>::max() : spec_.max_record_bytes;
        return expat_parse(parser_, in, final, fed_, held_limit, pending_error_);
    }

    // `in` through expat (XML_Parse takes an int length).
    [[nodiscard]] boost::system::error_code to_expat(std::string_view in) {
        boost::system::error_code ec;
        while (!in.empty() && !ec) {
            const std::size_t n = std::min<std::size_t>(in.size(), INT_MAX / 2);
            ec = parse(in.substr(0, n), false);
            in.remove_prefix(n);
        }
        return ec;
    }

    // --- the fast path (xml_record_parser.hpp) ---------------------------------------------------
    // Expat reads everything but the records it would read as the fast path does: at the records'
    // parent, with expat holding no unfinished token, a record that lies whole in the bytes fed
    // (or, cut by the end of a piece, in carry_ with the next piece's first bytes) and keeps to
    // the parser's subset is read by xml_record_parser and its events are replayed into the same
    // handlers (fast_ set); any other record, and everything else, is fed to expat. Expat never
    // sees the records read here: they are whole elements, so its view of the nesting holds.

    // True when the next byte is expat's to read at the records' parent: the innermost open
    // element is the records' parent, no record is open, and expat holds nothing back.
    [[nodiscard]] bool at_records_level() const {
        return record_path_.size() >= 2 && !in_record_ && !pending_error_ && !frames_.empty() &&
               frames_.size() + 1 == record_path_.size() && matched_ == frames_.size() &&
               frames_.back().matched &&
               XML_GetCurrentByteIndex(parser_) == static_cast<XML_Index>(fed_);
    }

    // Whether `bytes` ('<' first) starts a start tag whose local name is the records': yes, no,
    // or not known from so few bytes (a piece ended inside the name).
    enum class record_start : std::uint8_t { yes, no, undecided };
    [[nodiscard]] record_start starts_record(std::string_view bytes) const {
        const std::string_view local = record_path_.back();
        const std::size_t end = bytes.find_first_of(":> \t\n/", 1);
        if (end == std::string_view::npos)
            return bytes.size() <= 1024 ? record_start::undecided : record_start::no;
        std::size_t at = 1;
        if (bytes[end] == ':') at = end + 1;
        const std::string_view name = bytes.substr(at);
        if (name.size() <= local.size())
            return local.substr(0, name.size()) == name ? record_start::undecided
                                                        : record_start::no;
        if (name.substr(0, local.size()) != local) return record_start::no;
        const char next = name[local.size()];
        return next == '>' || next == '/' || next == ' ' || next == '\t' || next == '\n'
                   ? record_start::yes
                   : record_start::no;
    }

    [[nodiscard]] boost::system::error_code feed_fast(std::string_view in) {
        while (!carry_.empty()) {
            if (auto ec = continue_carry(in)) return ec;
            if (in.empty()) return {};  // still cut: `in` is all in carry_
        }
        // Pieces to expat while looking for the records' parent: up to each '>' (a start tag
        // ends there), a bounded number of them per feed.
        int steps = 64;
        while (!in.empty()) {
            if (!at_records_level()) {
                if (steps-- <= 0) return to_expat(in);
                const std::size_t gt = in.find('>');
                const std::size_t n = gt == std::string_view::npos ? in.size() : gt + 1;
                if (auto ec = to_expat(in.substr(0, n))) return ec;
                in.remove_prefix(n);
                continue;
            }
            std::size_t ws = 0;
            while (ws < in.size() &&
                   (in[ws] == ' ' || in[ws] == '\t' || in[ws] == '\n' || in[ws] == '\r'))
                ++ws;
            const std::string_view rest = in.substr(ws);
            if (rest.empty() || rest[0] != '<') return to_expat(in);
            const record_start starts =
                rest.size() < 2 ? record_start::undecided : starts_record(rest);
            if (starts == record_start::no) {
                // A sibling element (done, size, …): expat reads it whole, then the records may
                // go on. The parent's end tag, a comment, a processing instruction: expat reads
                // up to the next '>', and the records may go on (under this parent, or, after
                // its end, under the next one — the steps above find it).
                if (rest[1] == '/' || rest[1] == '!' || rest[1] == '?') {
                    const std::size_t gt = rest.find('>');
                    if (gt == std::string_view::npos) return to_expat(in);
                    if (auto ec = to_expat(in.substr(0, ws + gt + 1))) return ec;
                    in.remove_prefix(ws + gt + 1);
                    continue;
                }
                const xml_fast::element_span e = xml_fast::element_end(rest);
                if (e.result != xml_fast::span::found) return to_expat(in);
                if (auto ec = to_expat(in.substr(0, ws + e.size))) return ec;
                in.remove_prefix(ws + e.size);
                continue;
            }
            if (ws != 0) {
                if (auto ec = to_expat(in.substr(0, ws))) return ec;
                in.remove_prefix(ws);
                // A carriage return last: expat holds it (it may start a CR LF pair), and the
                // record must not be read ahead of it. The steps above go on.
                if (!at_records_level()) continue;
            }
            if (starts == record_start::yes) {
                // Most records: read in one pass, their size known from reading them.
                const std::size_t n = reader_.parse(in, names_);
                if (n != 0 && n <= spec_.max_record_bytes) {
                    if (auto ec = replay()) return ec;
                    in.remove_prefix(n);
                    continue;
                }
            }
            const xml_fast::element_span e = starts == record_start::yes
                                                 ? xml_fast::element_end(in)
                                                 : xml_fast::element_span{xml_fast::span::cut, 0};
            if (e.result == xml_fast::span::unsupported) return to_expat(in);
            if (e.result == xml_fast::span::cut) {
                if (in.size() > spec_.max_record_bytes) return to_expat(in);
                carry_.assign(in);
                carry_scanned_ = carry_.size();
                return {};
            }
            // Outside the subset, or longer than the limit: expat's.
            if (auto ec = to_expat(in.substr(0, e.size))) return ec;
            in.remove_prefix(e.size);
        }
        return {};
    }

    // carry_ holds a record's first bytes (or what may be: a piece ended inside the name of
    // a start tag at the records' parent); `in` goes on from them. Joins as much of `in` as
    // the record needs, in doubling steps, and reads the record once element_end() finds its
    // end, leaving `in` past it; while it is still cut, all of `in` stays in carry_ (`in` left
    // empty). The span is looked for again only once carry_ has grown by an eighth since the
    // last look, so a record arriving a byte at a time costs linear time, not quadratic. A record
    // past the limit, one whose structure element_end() does not follow, or a start tag that turns
    // out not to be a record's goes to expat, which reports it as it would have: whether and when
    // the end is looked for never changes the answer, only who reads it.
    [[nodiscard]] boost::system::error_code continue_carry(std::string_view& in) {
        const std::size_t held = carry_.size();
        std::size_t taken = 0;
        std::size_t step = std::max<std::size_t>(held, 4096);
        for (;;) {
            const std::size_t n = std::min(in.size() - taken, step);
            carry_.append(in.substr(taken, n));
            taken += n;
            step *= 2;
            // A piece that ended inside the start tag's name: is it a record's?
            const record_start starts =
                carry_.size() < 2 ? record_start::undecided : starts_record(carry_);
            if (starts == record_start::undecided && taken < in.size()) continue;
            xml_fast::span result =
                starts == record_start::no ? xml_fast::span::unsupported : xml_fast::span::cut;
            if (starts == record_start::yes &&
                carry_.size() >= carry_scanned_ + carry_scanned_ / 8 + 1) {
                const xml_fast::element_span e = xml_fast::element_end(carry_);
                result = e.result;
                carry_scanned_ = carry_.size();
                if (e.result == xml_fast::span::found) {
                    if (auto ec = read_record(std::string_view(carry_).substr(0, e.size)))
                        return ec;
                    if (e.size >= held) {
                        in.remove_prefix(e.size - held);
                        carry_.clear();
                        return {};
                    }
                    // The record ended in bytes held from an earlier piece (looked at only now):
                    // what followed it there goes through the fast path ahead of `in`, which is
                    // left whole.
                    const std::string after = carry_.substr(e.size, held - e.size);
                    carry_.clear();
                    return feed_fast(after);
                }
            }
            if (result == xml_fast::span::cut && carry_.size() <= spec_.max_record_bytes) {
                if (taken < in.size()) continue;
                in = {};
                return {};
            }
            auto ec = to_expat(carry_);
            carry_.clear();
            in.remove_prefix(taken);
            return ec;
        }
    }

    // One record's whole span: read here if it keeps to the subset, else by expat.
    [[nodiscard]] boost::system::error_code read_record(std::string_view span) {
        if (span.size() > spec_.max_record_bytes || reader_.parse(span, names_) != span.size())
            return to_expat(span);
        return replay();
    }

    // The events of the record reader_ has just read, into the handlers expat calls.
    [[nodiscard]] boost::system::error_code replay() {
        fast_path_records.fetch_add(1, std::memory_order_relaxed);
        fast_ = true;
        for (const xml_fast::xml_event& e : reader_.events()) {
            switch (e.k) {
                case xml_fast::xml_event::kind::start:
                    fast_event_bytes_ = 0;
                    start(e.name, reader_.attributes_of(e));
                    break;
                case xml_fast::xml_event::kind::end:
                    end(e.name);
                    break;
                case xml_fast::xml_event::kind::text:
                    fast_event_bytes_ = e.text.size();
                    text(e.text);
                    break;
            }
            if (pending_error_) break;
        }
        fast_ = false;
        return pending_error_;
    }

    // The namespace bindings in scope, for the fast path's names: expat's triplets, made once
    // per name while the bindings stay (they change only outside the records).
    class binding_names final : public xml_fast::name_resolver {
      public:
        void bind(std::string_view prefix, std::string_view uri) {
            bindings_.emplace_back(prefix, uri);
            forget();
        }
        void unbind(std::string_view prefix) {
            for (auto it = bindings_.rbegin(); it != bindings_.rend(); ++it) {
                if (it->first == prefix) {
                    bindings_.erase(std::next(it).base());
                    break;
                }
            }
            forget();
        }
        const char* triplet(std::string_view qname, bool attribute) override {
            // A record repeats a few dozen names: most are found in `recent_` by a hash of
            // their length and first and last bytes, one comparison each.
            recent& r = recent_[slot(qname, attribute)];
            if (r.size == qname.size() && r.attribute == attribute && r.key != nullptr &&
                common::equal_bytes(std::string_view(r.key, r.size), qname)) {
                remember_split(*r.made);
                return r.made->triplet.c_str();
            }
            auto& cache = attribute ? attribute_cache_ : cache_;
            auto it = cache.find(qname);
            if (it == cache.end()) {
                // A body can choose its names (and the envelope its namespaces): past the
                // bounds, in number and in bytes, expat reads them.
                if (cache.size() >= max_names || qname.size() > max_name_bytes) return nullptr;
                made_name m;
                if (!make(qname, attribute, m.triplet)) return nullptr;
                const std::size_t weight = qname.size() + m.triplet.size();
                if (held_bytes_ + weight > max_held_bytes) return nullptr;
                held_bytes_ += weight;
                it = cache.emplace(std::string(qname), std::move(m)).first;
                it->second.split = split_name(it->second.triplet.c_str());
            }
            r = {it->first.data(), &it->second, qname.size(), attribute};
            remember_split(it->second);
            return it->second.triplet.c_str();
        }

        // A triplet triplet() returned, split as split_name() splits it: from a table of the
        // recent ones by address (a record's names were all returned while it was read), else
        // split again.
        [[nodiscard]] xml_name split(const char* raw) const {
            const split_slot& s = splits_[split_slot_of(raw)];
            return s.triplet == raw ? s.name : split_name(raw);
        }

      private:
        static constexpr std::size_t max_names = 1024;
        static constexpr std::size_t max_name_bytes = 256;
        static constexpr std::size_t max_held_bytes = 256 * 1024;  // names and triplets
        std::size_t held_bytes_ = 0;
        std::uint64_t generation_ = 1;
        struct made_name {
            std::string triplet;
            xml_name split;  // views into `triplet`
        };
        struct recent {
            const char* key = nullptr;  // the cache's own key (stable: node-based)
            const made_name* made = nullptr;
            std::size_t size = 0;
            bool attribute = false;
        };
        struct split_slot {
            const char* triplet = nullptr;
            xml_name name;
        };
        static constexpr std::size_t recent_slots = 256;

        [[nodiscard]] static std::size_t split_slot_of(const char* raw) {
            const auto at = reinterpret_cast<std::uintptr_t>(raw);
            return static_cast<std::size_t>((at >> 4) ^ (at >> 12)) % recent_slots;
        }
        void remember_split(const made_name& m) {
            split_slot& s = splits_[split_slot_of(m.triplet.c_str())];
            s.triplet = m.triplet.c_str();
            s.name = m.split;
        }

        [[nodiscard]] static std::size_t slot(std::string_view q, bool attribute) {
            std::uint64_t h = q.size() * 0x9E3779B97F4A7C15ull + (attribute ? 0x51u : 0u);
            if (q.size() >= 8) {
                std::uint64_t head = 0;
                std::uint64_t tail = 0;
                std::memcpy(&head, q.data(), 8);
                std::memcpy(&tail, q.data() + q.size() - 8, 8);
                h ^= head * 0xC2B2AE3D27D4EB4Full;
                h ^= tail * 0x165667B19E3779F9ull;
            } else {
                for (const char c : q) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001B3ull;
            }
            return static_cast<std::size_t>((h ^ (h >> 29) ^ (h >> 47)) % recent_slots);
        }

        // expat's triplet for `qname` under the bindings in scope; false when its prefix is not
        // bound (expat refuses the document).
        [[nodiscard]] bool make(std::string_view qname, bool attribute, std::string& made) const {
            const std::size_t colon = qname.find(':');
            if (colon == std::string_view::npos) {
                const std::string* uri = attribute ? nullptr : bound("");
                if (uri != nullptr && !uri->empty()) made.append(*uri).push_back(ns_separator);
                made.append(qname);
                return true;
            }
            const std::string* uri = bound(qname.substr(0, colon));
            if (uri == nullptr || uri->empty()) return false;
            made.append(*uri).push_back(ns_separator);
            made.append(qname.substr(colon + 1)).push_back(ns_separator);
            made.append(qname.substr(0, colon));
            return true;
        }

        [[nodiscard]] std::uint64_t generation() const override { return generation_; }

        void forget() {
            ++generation_;
            held_bytes_ = 0;
            cache_.clear();
            attribute_cache_.clear();
            recent_.fill(recent{});
            splits_.fill(split_slot{});
        }

        [[nodiscard]] const std::string* bound(std::string_view prefix) const {
            for (std::size_t i = bindings_.size(); i-- > 0;) {
                if (bindings_[i].first == prefix) return &bindings_[i].second;
            }
            return nullptr;
        }
        struct name_hash {
            using is_transparent = void;
            std::size_t operator()(std::string_view s) const noexcept {
                return std::hash<std::string_view>{}(s);
            }
        };
        std::vector<std::pair<std::string, std::string>> bindings_;  // innermost last
        // Node-based: a key's data() and a triplet's c_str() stay where they are as the map
        // grows (a key of up to 15 bytes lives in its node).
        std::unordered_map<std::string, made_name, name_hash, std::equal_to<>> cache_;
        std::unordered_map<std::string, made_name, name_hash, std::equal_to<>> attribute_cache_;
        std::array<recent, recent_slots> recent_{};
        std::array<split_slot, recent_slots> splits_{};
    };

    // A name the handlers were given, split: while a record read by the fast path is replayed,
    // its triplets are binding_names' own, split once when made.
    [[nodiscard]] xml_name name_of(const XML_Char* raw) const {
        return fast_ ? names_.split(raw) : split_name(raw);
    }

    void stop(filter_error e) {
        if (pending_error_) return;
        pending_error_ = e;
        if (!fast_) XML_StopParser(parser_, XML_FALSE);  // a replay stops at the error itself
    }

    std::string& sink() { return in_record_ ? record_buf_ : *out_; }

    void close_pending(std::string& s) {
        if (pending_open_) {
            s.push_back('>');
            pending_open_ = false;
        }
    }

    // A single token larger than the record limit (a start tag with its attributes, a text node
    // however expat splits it, a comment, a processing instruction) is refused wherever it is.
    // parse() refuses an unfinished one expat is holding; this refuses a complete one, so the
    // answer does not depend on how the body was cut.
    [[nodiscard]] bool token_within_limit(std::uint64_t bytes) {
        if (bytes <= spec_.max_record_bytes) return true;
        stop(filter_error::record_too_large);
        return false;
    }
    [[nodiscard]] std::uint64_t event_bytes() const {
        if (fast_) return fast_event_bytes_;
        const int n = XML_GetCurrentByteCount(parser_);
        return n > 0 ? static_cast<std::uint64_t>(n) : 0;
    }

    [[nodiscard]] bool record_within_limit() {
        if (fast_) return true;  // the fast path reads only records within the limit
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

    // True when a needed field lies below `path` ("" is the record itself).
    [[nodiscard]] bool needed_below(std::string_view path) const {
        if (path.empty()) return !needed_.empty();
        auto it = std::lower_bound(needed_.begin(), needed_.end(), path);
        for (; it != needed_.end() && std::string_view(*it).substr(0, path.size()) == path; ++it) {
            if (it->size() > path.size() && (*it)[path.size()] == '.') return true;
        }
        return false;
    }

    [[nodiscard]] std::string_view reported(std::string_view path) const {
        if (!root_prefix_.empty() && path.substr(0, root_prefix_.size()) == root_prefix_) {
            path.remove_prefix(root_prefix_.size());
        }
        return path;
    }

    // The id of a stripped path's reported name. Upstream bodies choose element names, so the
    // table is capped: past the cap every new name is counted under one overflow name.
    std::uint32_t strip_id(std::string_view path) {
        std::string name(reported(path));
        if (auto it = strip_ids_.find(name); it != strip_ids_.end()) return it->second;
        if (strip_names_.size() >= max_strip_names) name = "*";
        auto [it, inserted] =
            strip_ids_.emplace(std::move(name), static_cast<std::uint32_t>(strip_names_.size()));
        if (inserted) {
            strip_names_.push_back(it->first);
            strip_counts_.push_back(0);
        }
        return it->second;
    }

    // Every removed occurrence counts, in kept and dropped records alike (as in the JSON filter).
    void note_stripped(std::uint32_t id) { ++strip_counts_[id]; }

    void flush_strip_counts() {
        for (std::size_t id = 0; id < strip_counts_.size(); ++id) {
            if (strip_counts_[id] == 0) continue;
            auto it = counters_.stripped_fields.find(strip_names_[id]);
            if (it == counters_.stripped_fields.end()) {
                it = counters_.stripped_fields.emplace(strip_names_[id], 0).first;
            }
            it->second += strip_counts_[id];
            strip_counts_[id] = 0;
        }
    }

    // What happens to a member of a member-by-member element, by path; cached because every
    // record repeats the same paths (the cache is capped like the strip table).
    struct member_decision {
        mode m = mode::hidden;
        bool tracked = false;
        bool transform_below = false;
        bool transform_failed = false;  // at a transform's path, entered (not kept): written empty
        std::uint32_t strip = 0;
        std::uint32_t transform = no_transform;
    };

    member_decision decide_member(std::string_view path) {
        if (auto it = decisions_.find(path); it != decisions_.end()) return it->second;
        member_decision d;
        if (spec_.allowed.keeps(path)) {
            d.m = mode::keep;
            d.tracked = true;
        } else if (spec_.allowed.descends(path)) {
            d.m = mode::descend;
            d.tracked = true;
        }
        if (d.tracked && !transform_paths_.empty()) transform_decision(d, path);
        if (!d.tracked) {
            d.m = mode::hidden;
            d.tracked = is_needed(path) || needed_below(path);
            d.strip = strip_id(path);
        }
        if (decisions_.size() < max_cached_paths) decisions_.emplace(std::string(path), d);
        return d;
    }

    // A kept or entered member's transforms (decide_member): a field at a transformed path is
    // one value, whatever the allow-list says below it; one only entered for allowed members is
    // not kept, so its text is not written.
    [[gnu::noinline]] void transform_decision(member_decision& d, std::string_view path) {
        if (transform_paths_.above(path)) {
            // Below a transformed path (an element name with a dot): part of that value.
            d.m = mode::hidden;
            d.strip = strip_id(path);
            return;
        }
        const std::size_t t = transform_paths_.index_of(path);
        if (t != transform_set::npos) {
            d.transform_failed = d.m == mode::descend;
            d.m = mode::keep;
            d.transform = static_cast<std::uint32_t>(t);
        } else {
            d.transform_below = transform_paths_.below(path);
        }
    }

    [[nodiscard]] bool is_link(std::string_view abs_path) const {
        return std::find(spec_.link_fields.begin(), spec_.link_fields.end(), abs_path) !=
               spec_.link_fields.end();
    }

    // Writes "<qname xmlns…  attributes" (the closing '>' waits: "/>" if the element is empty).
    // `tracked` reads needed attribute values; `filtered` drops attributes the allow-list does
    // not keep; an envelope metadata leaf keeps only xsi:* attributes (nil, type). Namespace
    // declarations are not data and always stay.
    void write_start(std::string& s, const xml_name& n, const XML_Char* const* atts, bool write,
                     bool tracked, bool filtered, frame& f) {
        if (write) {
            close_pending(s);
            s.push_back('<');
            append_qname(s, n);
            for (const auto& [prefix, uri] : ns_decls_) {
                s.append(prefix.empty() ? " xmlns" : " xmlns:");
                s.append(prefix);
                s.append("=\"");
                common::append_xml_attribute(s, uri);
                s.push_back('"');
            }
        }
        for (std::size_t i = 0; atts[i] != nullptr; i += 2) {
            const xml_name a = name_of(atts[i]);
            const std::string_view value(atts[i + 1]);
            if (a.uri == xsi_uri && a.local == "nil") f.nil = value == "true" || value == "1";
            bool keep = write;
            // Outside the records an attribute is no field any allow-list names: on the records'
            // ancestors, a metadata leaf or a link only xsi:* (nil, type) passes.
            if ((f.metadata || f.ancestor || (f.link && !in_record_)) && a.uri != xsi_uri) {
                keep = false;
                note_envelope_strip(n.local, a.local);
            }
            if (tracked || (write && filtered)) {
                attr_path_.assign(rel_path_);
                if (!attr_path_.empty()) attr_path_.push_back('.');
                attr_path_.push_back('@');
                attr_path_.append(a.local);
                if (tracked && is_needed(attr_path_)) {
                    fields_.add(reported(attr_path_), value);
                }
                if (write && filtered && !spec_.allowed.keeps(attr_path_)) {
                    keep = false;
                    note_stripped(strip_id(attr_path_));
                }
            }
            if (!keep) continue;
            std::string_view written = value;
            if (tracked && (f.transformed || f.transform_below)) {
                if (!transformed_attribute(a, value, f, written)) continue;
            }
            s.push_back(' ');
            append_qname(s, a);
            s.append("=\"");
            common::append_xml_attribute(s, written);
            s.push_back('"');
        }
        if (write) pending_open_ = true;
    }

    // An attribute of a kept element with transforms at or below it (attr_path_ names it): false
    // when it is stripped (of a transformed element: it may repeat the value), else `written` is
    // what to write.
    [[gnu::noinline]] [[nodiscard]] bool transformed_attribute(const xml_name& a,
                                                               std::string_view value,
                                                               const frame& f,
                                                               std::string_view& written) {
        if (f.transformed) {
            if (a.uri == xsi_uri && a.local == "nil") return true;
            note_stripped(strip_id(attr_path_));
            return false;
        }
        const std::size_t t = transform_paths_.index_of(attr_path_);
        if (t == transform_set::npos) return true;
        transform_text_.clear();
        if (!transformer_.apply(t, value, transform_text_)) transform_text_.clear();
        written = transform_text_;
        return true;
    }

    // Text of a transformed element: held until it ends (bounded by the record's limit).
    [[gnu::noinline]] void hold_transformed(std::string_view s) { transform_value_.append(s); }

    // A transformed element ends: its text, transformed, or nothing.
    [[gnu::noinline]] void write_transformed(const frame& f) {
        transform_text_.clear();
        if (f.transform_failed || (f.nil && transform_value_.empty())) {
            transformer_.count_failed(open_transform_);
        } else if (transformer_.apply(open_transform_, transform_value_, transform_text_) &&
                   !transform_text_.empty()) {
            close_pending(record_buf_);
            common::append_xml_text(record_buf_, transform_text_);
        }
        transform_value_.clear();
    }

    void write_end(std::string& s, const XML_Char* raw) {
        if (pending_open_) {
            s.append("/>");
            pending_open_ = false;
            return;
        }
        s.append("</");
        append_qname(s, name_of(raw));
        s.push_back('>');
    }

    // Whitespace directly inside a member-by-member element is kept only before something that
    // is written, so stripped fields leave no blank lines behind.
    void flush_whitespace(bool write) {
        if (write && !whitespace_.empty() && is_whitespace(whitespace_)) {
            close_pending(record_buf_);
            common::append_xml_text(record_buf_, whitespace_);
        }
        whitespace_.clear();
    }

    // A `done` passes as true or false, a `size` / `totalSize` as a count (blanks around
    // either); anything else there is no page metadata, and is counted as stripped.
    void write_metadata(std::string& s, const frame& f, const XML_Char* raw) {
        std::string_view v = metadata_buf_;
        while (!v.empty() &&
               (v.front() == ' ' || v.front() == '\t' || v.front() == '\n' || v.front() == '\r'))
            v.remove_prefix(1);
        while (!v.empty() &&
               (v.back() == ' ' || v.back() == '\t' || v.back() == '\n' || v.back() == '\r'))
            v.remove_suffix(1);
        const bool ok = f.flag ? v == "true" || v == "false" || v == "1" || v == "0"
                               : !v.empty() && v.size() <= 20 &&
                                     std::all_of(v.begin(), v.end(),
                                                 [](char c) { return c >= '0' && c <= '9'; });
        if (ok) {
            close_pending(s);
            common::append_xml_text(s, metadata_buf_);
        } else if (!metadata_buf_.empty()) {
            note_envelope_strip(split_name(raw).local);
        }
        metadata_buf_.clear();
    }

    void write_link(std::string& s, bool token) {
        if (link_buf_.empty()) return;
        std::optional<std::string> rewritten;
        const link_rewriter& rewrite = token ? spec_.seal_token : spec_.rewrite_link;
        if (rewrite) rewritten = rewrite(link_buf_);
        if (rewritten) {
            close_pending(s);
            common::append_xml_text(s, *rewritten);
            ++counters_.links_rewritten;
        } else {
            ++counters_.links_removed;
        }
        link_buf_.clear();
    }

    void begin_record(const xml_name& n, const XML_Char* const* atts, frame& f) {
        close_pending(*out_);
        in_record_ = true;
        ++counters_.records_in;
        const XML_Index at = fast_ ? -1 : XML_GetCurrentByteIndex(parser_);
        record_start_ = at >= 0 ? static_cast<std::uint64_t>(at) : fed_;
        record_buf_.clear();
        whitespace_.clear();
        collect_buf_.clear();
        fields_.clear();
        rel_path_.clear();
        f.record = true;
        f.tracked = true;
        f.rel_len = 0;
        f.m = spec_.allowed.keeps("") ? mode::keep : mode::descend;
        f.transform_below = !transform_paths_.empty();
        f.collecting = is_needed("");
        write_start(record_buf_, n, atts, true, true, f.m == mode::descend, f);
    }

    void end_record() {
        in_record_ = false;
        if (!spec_.rules.empty()) {
            if (auto reason = evaluate(spec_.rules, fields_)) {
                ++counters_.dropped[static_cast<std::size_t>(*reason)];
                if (!transform_paths_.empty()) transformer_.end_record(false);
                spec_.rules.report(fields_, false);
                return;
            }
        }
        if (spec_.max_records != 0 && counters_.records_out >= spec_.max_records) {
            stop(filter_error::record_limit_exceeded);
            return;
        }
        spec_.rules.report(fields_, true);
        if (!transform_paths_.empty()) transformer_.end_record(true);
        ++counters_.records_out;
        out_->append(record_buf_);
        if (marks_ != nullptr) marks_->push_back({out_->size(), counters_.records_out});
    }

    [[nodiscard]] bool is_link_ancestor(std::string_view abs_path) const {
        return std::any_of(
            spec_.link_fields.begin(), spec_.link_fields.end(), [abs_path](std::string_view link) {
                return link.size() > abs_path.size() &&
                       link.substr(0, abs_path.size()) == abs_path && link[abs_path.size()] == '/';
            });
    }

    [[nodiscard]] static bool is_envelope_metadata(std::string_view local) {
        return std::find(envelope_metadata.begin(), envelope_metadata.end(), local) !=
               envelope_metadata.end();
    }

    // Counts what strict_envelope dropped outside the records, by name only:
    // "(envelope)Header", "(envelope)size.@note".
    void note_envelope_strip(std::string_view element, std::string_view attribute = {}) {
        std::string name(envelope_prefix);
        name.append(element);
        if (!attribute.empty()) name.append(".@").append(attribute);
        note_stripped(strip_id(name));
    }

    // Text held directly inside an envelope ancestor ends at the next markup: whitespace passes
    // (if `write`: not before a dropped element), anything else is data outside the records.
    // Deciding on the whole text node, not on expat's pieces of it, keeps the output the same
    // however the body is cut.
    void flush_envelope_text(bool write) {
        if (envelope_text_.empty()) return;
        if (!is_whitespace(envelope_text_)) {
            note_envelope_strip("#text");
        } else if (write) {
            close_pending(*out_);
            common::append_xml_text(*out_, envelope_text_);
        }
        envelope_text_.clear();
    }

    // A comment or processing instruction outside the records under strict_envelope: dropped
    // (counted unless it sits inside an already dropped element).
    void drop_envelope_markup(std::string_view what) {
        flush_envelope_text(true);
        if (frames_.empty() || frames_.back().m != mode::discarded) note_envelope_strip(what);
    }

    // An element outside every record: an ancestor of the records, a record, or envelope.
    void start_outside(const xml_name& n, const XML_Char* const* atts, frame& f,
                       std::size_t depth) {
        const frame* parent = frames_.empty() ? nullptr : &frames_.back();
        if (parent != nullptr && parent->record_sibling) {
            return stop(filter_error::records_not_found);
        }
        const bool strict = spec_.strict_envelope;
        if (strict && parent != nullptr && (parent->m == mode::discarded || parent->metadata)) {
            // Inside a dropped subtree nothing is read; a child of a metadata leaf is dropped.
            f.m = mode::discarded;
            if (parent->m != mode::discarded) note_envelope_strip(n.local);
            flush_envelope_text(false);
            return;
        }
        if (matched_ == depth && depth < record_path_.size() && n.local == record_path_[depth]) {
            ++matched_;
            f.matched = true;
            if (matched_ + 1 == record_path_.size()) parent_seen_ = true;
        }
        if (f.matched && matched_ == record_path_.size()) {
            if (record_path_.size() == 1) parent_seen_ = true;
            flush_envelope_text(true);
            begin_record(n, atts, f);
            return;
        }
        f.m = mode::envelope;
        f.link = !spec_.link_fields.empty() && is_link(abs_path_);
        const bool link_ancestor =
            strict && !spec_.link_fields.empty() && is_link_ancestor(abs_path_);
        // Under strict_envelope a link field's ancestor beside the records ("paging") is known
        // envelope: its other children are dropped, so it need not be refused.
        f.record_sibling = record_path_.size() >= 2 && matched_ + 1 == record_path_.size() &&
                           depth + 1 == record_path_.size() && !link_ancestor;
        if (strict && !f.link) {
            if (f.matched || link_ancestor) {
                f.ancestor = true;
            } else if (is_envelope_metadata(n.local)) {
                f.metadata = true;
                // Salesforce's queryLocator continues the query on the CRM: the client gets it
                // sealed (filter_spec::token_fields), never as the CRM wrote it.
                if (n.local == "queryLocator") f.link = f.token = true;
                f.flag = n.local == "done";
                f.count = n.local == "size" || n.local == "totalSize";
            } else {
                f.m = mode::discarded;
                note_envelope_strip(n.local);
                flush_envelope_text(false);
                return;
            }
        }
        flush_envelope_text(true);
        write_start(*out_, n, atts, true, false, false, f);
    }

    void start(const XML_Char* raw, const XML_Char* const* atts) {
        if (pending_error_) return;
        text_run_ = 0;
        if (!token_within_limit(event_bytes())) return;
        if (frames_.size() >= spec_.max_depth) return stop(filter_error::too_deep);
        if (!frames_.empty() && frames_.back().link) return stop(filter_error::malformed);
        if (in_record_ && frames_.back().m == mode::hidden && !frames_.back().tracked) {
            // Inside a stripped subtree nothing is read: only depth and size matter.
            if (!record_within_limit()) return;
            frame f;
            f.m = mode::hidden;
            f.abs_len = abs_path_.size();
            f.rel_len = rel_path_.size();
            frames_.push_back(f);
            ns_decls_.clear();
            return;
        }
        const xml_name n = name_of(raw);
        const std::size_t depth = frames_.size();
        frame f;
        f.abs_len = abs_path_.size();
        if (!spec_.link_fields.empty()) {
            abs_path_.push_back('/');
            abs_path_.append(n.local);
        }
        if (!in_record_) {
            start_outside(n, atts, f, depth);
            if (pending_error_) return;
            frames_.push_back(f);
            ns_decls_.clear();
            return;
        }
        if (!record_within_limit()) return;
        frame& parent = frames_.back();
        if (parent.collecting && !parent.structured) {
            // A field the rules read as a scalar has child elements: rel_path_ still names it.
            parent.structured = true;
            fields_.mark_structured(reported(rel_path_));
        }
        if (parent.tracked) {
            f.rel_len = rel_path_.size();
            if (!rel_path_.empty()) rel_path_.push_back('.');
            rel_path_.append(n.local);
        }
        switch (parent.transformed ? mode::hidden : parent.m) {
            case mode::keep:
                f.m = mode::keep;
                f.tracked = true;
                if (parent.transform_below) transform_kept_child(f);
                break;
            case mode::descend: {
                const member_decision d = decide_member(rel_path_);
                f.m = d.m;
                f.tracked = d.tracked;
                f.transform_below = d.transform_below;
                if (d.transform != no_transform)
                    open_transformed(f, d.transform, d.transform_failed);
                if (d.m == mode::hidden) note_stripped(d.strip);
                break;
            }
            case mode::envelope:  // unreachable inside a record
            case mode::discarded:
            case mode::hidden:
                // Also the content of a transformed element: not written; the element is empty.
                if (parent.transformed) parent.transform_failed = true;
                f.m = mode::hidden;
                f.tracked = parent.tracked && (is_needed(rel_path_) || needed_below(rel_path_));
                break;
        }
        if (!f.tracked && parent.tracked) rel_path_.resize(f.rel_len);
        const bool write = f.m != mode::hidden;
        if (parent.m == mode::descend) flush_whitespace(write);
        if (f.tracked) {
            f.collecting = is_needed(rel_path_);
            f.collect_begin = collect_buf_.size();
        }
        f.link = f.m == mode::keep && !spec_.link_fields.empty() && is_link(abs_path_);
        if (f.link) f.transformed = false;  // a link is rewritten, never transformed
        if (write || f.tracked) {
            write_start(record_buf_, n, atts, write, f.tracked, f.m == mode::descend, f);
        }
        frames_.push_back(f);
        ns_decls_.clear();
    }

    // A child of a kept element with transforms below (rel_path_ names it).
    [[gnu::noinline]] void transform_kept_child(frame& f) {
        if (transform_paths_.above(rel_path_)) {
            // Below a transformed path (an element name with a dot): part of that value.
            f.m = mode::hidden;
            f.tracked = is_needed(rel_path_) || needed_below(rel_path_);
            note_stripped(strip_id(rel_path_));
            return;
        }
        const std::size_t t = transform_paths_.index_of(rel_path_);
        if (t != transform_set::npos) {
            open_transformed(f, static_cast<std::uint32_t>(t), false);
        } else {
            f.transform_below = transform_paths_.below(rel_path_);
        }
    }

    // The element starting is at transform `t`'s path (`failed`: it is written empty whatever it
    // holds).
    [[gnu::noinline]] void open_transformed(frame& f, std::uint32_t t, bool failed) {
        f.transformed = true;
        f.transform_failed = failed;
        open_transform_ = t;
        transform_value_.clear();
    }

    void end(const XML_Char* raw) {
        if (pending_error_) return;
        text_run_ = 0;
        if (in_record_ && !record_within_limit()) return;
        // Held text belongs to the innermost open element, which this closes.
        flush_envelope_text(true);
        const frame f = frames_.back();
        frames_.pop_back();
        switch (f.m) {
            case mode::envelope:
            case mode::keep:
                if (f.link) write_link(sink(), f.token);
                if (f.flag || f.count) write_metadata(sink(), f, raw);
                if (f.transformed) write_transformed(f);
                write_end(sink(), raw);
                break;
            case mode::descend:
                flush_whitespace(true);
                write_end(record_buf_, raw);
                break;
            case mode::hidden:
            case mode::discarded:
                break;
        }
        if (f.collecting) {
            std::string value = collect_buf_.substr(f.collect_begin);
            if (f.nil && value.empty()) value = "null";
            fields_.add(reported(rel_path_), value);
            collect_buf_.resize(f.collect_begin);
        }
        if (f.tracked && !f.record) rel_path_.resize(f.rel_len);
        abs_path_.resize(f.abs_len);
        if (f.matched) --matched_;
        if (f.record) end_record();
    }

    void text(std::string_view s) {
        if (pending_error_ || frames_.empty()) return;
        text_run_ += event_bytes();
        if (!token_within_limit(text_run_)) return;
        const frame& f = frames_.back();
        if (in_record_ && !record_within_limit()) return;
        if (f.collecting) collect_buf_.append(s);
        if (f.link) {
            link_buf_.append(s);
            if (link_buf_.size() > spec_.max_record_bytes) stop(filter_error::record_too_large);
            return;
        }
        if (f.transformed) return hold_transformed(s);
        if (f.flag || f.count) {
            // Held until the element ends: it passes only as what its name says it is.
            if (metadata_buf_.size() <= max_metadata_text) metadata_buf_.append(s);
            return;
        }
        switch (f.m) {
            case mode::envelope:
                if (f.ancestor) {
                    envelope_text_.append(s);
                    break;
                }
                [[fallthrough]];
            case mode::keep:
                close_pending(sink());
                common::append_xml_text(sink(), s);
                break;
            case mode::descend:
                whitespace_.append(s);
                break;
            case mode::hidden:
            case mode::discarded:
                break;
        }
    }

    void comment(std::string_view s) {
        if (pending_error_) return;
        text_run_ = 0;
        if (!token_within_limit(event_bytes()) || in_record_) return;  // not fields in a record
        if (spec_.strict_envelope) return drop_envelope_markup("#comment");
        close_pending(*out_);
        out_->append("<!--");
        out_->append(s);
        out_->append("-->");
    }

    void instruction(std::string_view target, std::string_view data) {
        if (pending_error_) return;
        text_run_ = 0;
        if (!token_within_limit(event_bytes()) || in_record_) return;
        if (spec_.strict_envelope) return drop_envelope_markup("#processing-instruction");
        close_pending(*out_);
        out_->append("<?");
        out_->append(target);
        if (!data.empty()) {
            out_->push_back(' ');
            out_->append(data);
        }
        out_->append("?>");
    }

    void declaration(const XML_Char* version, const XML_Char* encoding, int standalone) {
        if (pending_error_ || version == nullptr) return;
        // The parser reads UTF-8 whatever the declaration says; a body declared in another
        // encoding would reach the client mislabelled, so it is refused.
        if (encoding != nullptr && !common::iequals_ascii(encoding, "UTF-8") &&
            !common::iequals_ascii(encoding, "US-ASCII")) {
            return stop(filter_error::malformed);
        }
        out_->append("<?xml version=\"");
        common::append_xml_attribute(*out_, version);
        out_->push_back('"');
        if (encoding != nullptr) {
            out_->append(" encoding=\"");
            common::append_xml_attribute(*out_, encoding);
            out_->push_back('"');
        }
        if (standalone != -1)
            out_->append(standalone == 1 ? " standalone=\"yes\"" : " standalone=\"no\"");
        out_->append("?>\n");
    }

    static xml_filter& self(void* user) { return *static_cast<xml_filter*>(user); }

    static void XMLCALL on_start(void* user, const XML_Char* name, const XML_Char** atts) {
        self(user).start(name, atts);
    }
    static void XMLCALL on_end(void* user, const XML_Char* name) { self(user).end(name); }
    static void XMLCALL on_text(void* user, const XML_Char* s, int len) {
        self(user).text(std::string_view(s, static_cast<std::size_t>(len)));
    }
    static void XMLCALL on_namespace(void* user, const XML_Char* prefix, const XML_Char* uri) {
        auto& f = self(user);
        f.names_.bind(prefix != nullptr ? prefix : "", uri != nullptr ? uri : "");
        if (f.pending_error_) return;
        f.ns_decls_.emplace_back(prefix != nullptr ? prefix : "", uri != nullptr ? uri : "");
    }
    static void XMLCALL on_namespace_end(void* user, const XML_Char* prefix) {
        self(user).names_.unbind(prefix != nullptr ? prefix : "");
    }
    static void XMLCALL on_comment(void* user, const XML_Char* data) { self(user).comment(data); }
    static void XMLCALL on_instruction(void* user, const XML_Char* target, const XML_Char* data) {
        self(user).instruction(target, data != nullptr ? data : "");
    }
    static void XMLCALL on_declaration(void* user, const XML_Char* version,
                                       const XML_Char* encoding, int standalone) {
        self(user).declaration(version, encoding, standalone);
    }
    // A DOCTYPE is where entity bombs, external entities and external DTDs live: refuse it
    // before its internal subset is read.
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
        external_entity_requests.fetch_add(1, std::memory_order_relaxed);
        return XML_STATUS_ERROR;
    }

    filter_spec spec_;
    xml_path path_;
    filter_counters counters_;
    boost::system::error_code error_;
    boost::system::error_code pending_error_;  // set by a handler, returned by parse()
    bool finished_ = false;
    XML_Parser parser_ = nullptr;
    std::string* out_ = nullptr;  // the caller's output during feed() and finish()
    std::uint64_t fed_ = 0;       // bytes handed to expat
    // The caller's record marks (set_record_marks), or null.
    std::vector<record_mark>* marks_ = nullptr;

    std::vector<std::string> record_path_;  // local names from the root
    std::string root_prefix_;               // field_root + "." or ""
    std::vector<std::string> needed_;       // fields conditions read, prefixed, sorted
    std::size_t matched_ = 0;               // leading record_path_ names matched by open elements
    bool parent_seen_ = false;

    std::vector<frame> frames_;
    std::vector<std::pair<std::string, std::string>> ns_decls_;  // of the next start tag
    std::string abs_path_;  // "/Envelope/Body/…" (maintained only with link fields)
    std::string rel_path_;  // the current element's path inside its record
    std::string attr_path_;
    bool pending_open_ = false;  // a start tag waits for its '>'

    bool in_record_ = false;
    std::uint64_t record_start_ = 0;
    std::uint64_t text_run_ = 0;  // bytes of the text node being read (token_within_limit)
    std::string record_buf_;
    std::string whitespace_;
    std::string collect_buf_;
    std::string link_buf_;
    std::string metadata_buf_;  // the text of an open done / size / totalSize
    static constexpr std::size_t max_metadata_text = 64;
    std::string envelope_text_;  // text directly inside an envelope ancestor (strict_envelope)
    record_fields fields_ = record_fields::reading_for(spec_.rules);

    transform_set transform_paths_;  // spec_.transforms' paths, prefixed like the allow-list
    field_transformer transformer_;
    std::uint32_t open_transform_ = no_transform;  // the transform of the element being read
    std::string transform_value_;                  // the text of the transformed element being read
    std::string transform_text_;                   // a transformed value before it is escaped

    // Transparent hashing: look names up by string_view without building a string.
    struct name_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    static constexpr std::size_t max_strip_names = 256;  // then "*", as in the JSON filter
    static constexpr std::size_t max_cached_paths = 4096;
    std::unordered_map<std::string, std::uint32_t, name_hash, std::equal_to<>> strip_ids_;
    std::vector<std::string> strip_names_;
    std::vector<std::uint64_t> strip_counts_;  // not yet added to counters_
    std::unordered_map<std::string, member_decision, name_hash, std::equal_to<>> decisions_;

    // The fast path's state.
    bool fast_ = false;                   // a record read by the fast path is being replayed
    bool piecewise_ = false;              // feed_fast() is feeding expat parts of a piece
    std::uint64_t fast_event_bytes_ = 0;  // event_bytes() meanwhile: a text event's length
    std::string carry_;                   // a record's first bytes, cut by the end of a piece
    std::size_t carry_scanned_ = 0;       // carry_'s size when element_end() last saw it cut
    xml_fast::xml_record_parser reader_;
    binding_names names_;
};

}  // namespace

std::uint64_t xml_external_entity_requests() noexcept {
    return external_entity_requests.load(std::memory_order_relaxed);
}

std::uint64_t xml_fast_path_records() noexcept {
    return fast_path_records.load(std::memory_order_relaxed);
}

std::unique_ptr<record_filter> make_xml_filter(filter_spec spec, xml_path path) {
    return std::make_unique<xml_filter>(std::move(spec), path);
}

}  // namespace exportwall::filters
