#pragma once
// The JSON filter's handler: json_rewriter receives Boost.JSON basic_parser's events (or
// json_record_parser's, the same) for one document or one NDJSON line and writes the filtered
// text. Included by filters/json/json_filter.cpp only.
//
// How the JSON filter works. Boost.JSON's basic_parser reports events; json_rewriter (its
// handler) keeps a stack of open containers, each with a mode that says where its contents go:
// the envelope is written to the output as it arrives, a record is written to a record buffer
// that is emitted or discarded once the record's conditions are known, and stripped values are
// parsed (so the whole body is validated) but written nowhere. Keys are written only when their
// value starts, because the decision for `descends` fields depends on the value's type.
//
// Records repeat the same members, so every path inside a record is a node of a path table
// (bounded; paths past the bound take the slow path). A node remembers, per kind of value, the
// plan decided the first time (keep, strip, descend, collect for the conditions), its escaped
// member text, and the scope of the object that last used its key: a second use in the same
// object is a duplicate key. Records list their members in the same order, so a key is first
// compared with the member that followed the previous one last time, and hashed only when that
// guess fails. In steady state a member costs that comparison and a replayed plan: no path
// string, no allocation; a stripped scalar nobody reads is dropped at its value event; a string
// read straight from the input (it had no escapes) is copied, not re-escaped.
//
// Nested record sets (filter_spec::nested) stay off that path. The container at a set's path is a
// `nested_set` frame; each of its elements is copied whole and compact (an `element` frame, then
// `keep`) into the record buffer — the main record's own buffer is parked meanwhile — while the
// element's discriminator member is read. When the element closes, the set it belongs to is
// known, and the copy is run through that set's own filter (a JSON filter whose single record is
// the document root); its output, or nothing, takes the element's place. The main record's path
// plans are never cached for a nested path, so records without nested sets replay theirs as
// before.
//
// Field transforms (filter_spec::transforms) are part of a path's plan: a kept scalar at a
// transformed path is read into the value buffer instead of the record buffer, and written
// transformed when it ends; a container there is written as null and skipped. A kept container
// with transforms below it has its children's paths named, so they are looked up once. Such a
// plan has a mode of its own and is replayed by begin_value_slow (cached, not `valid` for the
// inlined replay), and a transformed scalar ends through the branch a link takes: the inlined
// replay of every other value has no code for transforms.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "filters/filter_shelf.hpp"
#include "filters/json/envelope_vocabulary.hpp"
#include "filters/json/json_key_set.hpp"
#include "filters/json/json_record_parser.hpp"
#include "filters/json/path_table.hpp"
#include "filters/json/text.hpp"
#include "filters/record_filter.hpp"
#include "filters/transform.hpp"

namespace exportwall::filters::json_detail {

// Distinct stripped field names counted one by one; further names count as `*`. A filter
// started from a memory (json_memory) counts the names it carries (at most 64) toward the cap:
// an export with more than ~192 new names may count some under `*` that a fresh filter names.
constexpr std::size_t max_stripped_names = 256;
constexpr std::string_view other_stripped_name = "*";

// What the allow-list, the record rules and the transforms say about one path (relative to
// field_root).
struct path_facts {
    bool keeps = false;                      // allowed, or below an allowed path
    bool descends = false;                   // an allowed path lies below
    bool exact = false;                      // allowed literally
    bool needed = false;                     // the record rules read it
    bool needed_below = false;               // the record rules read a path below it
    bool transform_below = false;            // a transform's path lies below it
    bool transform_above = false;            // ... or above it (transform_set::above)
    std::uint32_t transform = no_transform;  // the transform at this path (transform_set index)
    std::uint64_t* stripped = nullptr;       // its stripped counter, once counted
};

// Heterogeneous lookup for the path cache (find by string_view without a copy).
struct path_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using facts_map = std::unordered_map<std::string, path_facts, path_hash, std::equal_to<>>;
using stripped_map = std::map<std::string, std::uint64_t, std::less<>>;

struct frame {
    mode m = mode::skip;
    bool object = false;
    bool collect = false;          // a field the record rules read may lie below: track paths
    bool chain = false;            // on the way from the record to spec.field_root
    bool ptr = false;              // a records or link pointer may lie below: track ptr_
    bool side = false;             // envelope: leads only to nested sets (others are stripped)
    bool xform = false;            // kept whole, with transforms below: children are looked up
    std::uint16_t group = 0;       // nested_set: its nested_group
    std::uint32_t emitted = 0;     // members or elements written (for commas)
    std::uint64_t index = 0;       // next element index of an array (for ptr_)
    std::uint64_t scope = 0;       // identity for duplicate-key checks
    std::size_t keys_mark = 0;     // envelope objects: where their keys start
    std::size_t path_len = 0;      // length of path_ naming this container (record-relative)
    std::size_t base = 0;          // where the children's paths, relative to field_root, start
    std::size_t ptr_len = 0;       // length of ptr_ naming this container
    std::uint32_t node = no_node;  // inside a record: this container's path node
    std::uint32_t last_member = no_node;  // the node of the member read last (objects)
    bool ptr_stable = false;  // ptr_ is a function of the path (no array index on the way)
};

// What a main JSON or NDJSON filter hands to the next filter of an equal spec
// (filters/filter_shelf.hpp): its path table with the plans decided in it, the facts of each
// path, and the stripped-field counters the plans point into (their values are the new filter's
// to count from zero). Bounded: a filter that learnt more than this hands on nothing.
struct json_memory final : filter_memory {
    static constexpr std::size_t max_paths = 512;
    static constexpr std::size_t max_stripped = 64;
    bool ndjson = false;
    std::vector<std::string> needed;  // record_rules::needed_fields() of the spec
    path_table paths;
    facts_map facts;
    stripped_map stripped;
    std::uint64_t scopes = 0;  // path nodes' stamps are below it: the next scopes start above
    stripped_map report;       // the last export's counters().stripped_fields: nodes to reuse
    // The last filter's buffers, emptied (their storage only, when small): a small export
    // otherwise grows each of them from nothing.
    std::vector<frame> frames;
    json_key_set envelope_keys;
    json_key_set record_keys;
    std::string record;
    std::string value;
    record_fields fields;
    std::vector<std::uint64_t> marks;
    static constexpr std::size_t max_buffer_bytes = 16 * 1024;
};

// The nested record sets of one path, in the order the spec lists them.
struct nested_group {
    std::string path;  // JSON pointer (document) or dotted path (in a record)
    bool in_record = false;
    bool map = false;
    bool discard_only = true;                 // no set of the path is kept
    std::vector<std::size_t> sets;            // into filter_spec::nested
    std::vector<std::string> discriminators;  // distinct member names the sets compare
};

class json_filter;
struct json_filter_deleter {
    void operator()(json_filter* f) const;
};
using nested_filter_ptr = std::unique_ptr<json_filter, json_filter_deleter>;
// How a nested set's own filter differs from a main filter.
struct nested_options {
    std::string keep_member;           // the record's member kept whatever the allow-list says
    stripped_map* stripped = nullptr;  // where stripped fields are counted (the main filter's)
    stripped_map* transformed = nullptr;       // ... transformed ones
    stripped_map* transform_failed = nullptr;  // ... and those a transform could not read
    // A record nested in a main record: its transforms count with that record (when written).
    field_transformer* outer_transformer = nullptr;
    std::string strip_prefix;  // before each stripped or transformed name ("included[people].")
};

// Filters one nested record: `text` is the whole element. Appends the filtered record to `out`
// and leaves `dropped` empty, or sets `dropped` to why the set's rules dropped it.
error_code filter_nested(json_filter& f, std::string_view text, std::string& out,
                         std::optional<drop_reason>& dropped);
nested_filter_ptr make_nested_filter(filter_spec spec, nested_options options);

// A nested set's filter and the discriminator it compares (index into its group's list).
struct nested_runner {
    nested_filter_ptr filter;  // null when the set is not kept
    std::size_t discriminator = 0;
};
constexpr std::size_t no_slot = static_cast<std::size_t>(-1);

// The basic_parser handler: rewrites one JSON document (or one NDJSON line) event by event.
class json_rewriter {
  public:
    static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
    static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
    static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);
    static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);

    json_rewriter(filter_spec&& spec, bool ndjson, nested_options options = {},
                  std::unique_ptr<filter_memory> memory = nullptr)
        : spec_(std::move(spec)),
          ndjson_(ndjson),
          single_(!ndjson && spec_.single_record),
          single_root_(single_ && spec_.records.empty()),
          shell_(usable(std::move(memory), spec_, ndjson, options.stripped == nullptr)),
          needed_(shell_ ? std::move(shell_->needed) : spec_.rules.needed_fields()),
          record_depth_(ndjson ? 0 : pointer_depth(spec_.records) + (spec_.single_record ? 1 : 2)),
          frames_(shell_ ? std::move(shell_->frames) : std::vector<frame>{}),
          envelope_keys_(shell_ ? std::move(shell_->envelope_keys) : json_key_set{}),
          record_keys_(shell_ ? std::move(shell_->record_keys) : json_key_set{}),
          scopes_(shell_ ? shell_->scopes : 0),
          facts_(shell_ ? std::move(shell_->facts) : facts_map{}),
          record_(shell_ ? std::move(shell_->record) : std::string{}),
          value_(shell_ ? std::move(shell_->value) : std::string{}),
          fields_(shell_ ? std::move(shell_->fields) : record_fields{}),
          marks_(shell_ ? std::move(shell_->marks) : std::vector<std::uint64_t>{}),
          paths_(shell_ ? std::move(shell_->paths) : path_table()),
          keep_member_(std::move(options.keep_member)),
          strip_prefix_(std::move(options.strip_prefix)),
          stripped_(options.stripped),
          own_stripped_(shell_ ? std::move(shell_->stripped) : stripped_map{}),
          spare_report_(shell_ ? std::move(shell_->report) : stripped_map{}),
          has_transforms_(!spec_.transforms.empty()),
          transformed_(options.transformed != nullptr ? options.transformed
                                                      : &counters_.transformed_fields),
          transform_failed_(options.transform_failed != nullptr ? options.transform_failed
                                                                : &counters_.transform_failed),
          transformer_(spec_.transforms, transformed_, transform_failed_, strip_prefix_,
                       options.outer_transformer),
          settle_transforms_(has_transforms_) {
        if (stripped_ == nullptr) stripped_ = &own_stripped_;
        fields_.read_for(spec_.rules);
        if (!ndjson_ && !spec_.records.empty()) targets_.push_back(spec_.records);
        targets_.insert(targets_.end(), spec_.link_fields.begin(), spec_.link_fields.end());
        targets_.insert(targets_.end(), spec_.token_fields.begin(), spec_.token_fields.end());
        targets_.insert(targets_.end(), spec_.envelope_fields.begin(), spec_.envelope_fields.end());
        frames_.reserve(std::min<std::size_t>(spec_.max_depth, 1024) + 1);
        build_nested_groups();
        // A memory's counters are the last export's: this one counts from zero; its buffers
        // hold the last export's bytes: emptied.
        for (auto& entry : own_stripped_) entry.second = 0;
        frames_.clear();
        envelope_keys_.clear();
        record_keys_.clear();
        record_.clear();
        value_.clear();
        fields_.clear();
        marks_.clear();
    }

    // What this filter learnt, for the next one of an equal spec (record_filter::take_memory);
    // null for a nested set's filter and past json_memory's bounds. The rewriter is spent after.
    std::unique_ptr<json_memory> take_memory() {
        if (stripped_ != &own_stripped_ || paths_.size() > json_memory::max_paths ||
            facts_.size() > json_memory::max_paths ||
            own_stripped_.size() > json_memory::max_stripped) {
            return nullptr;
        }
        std::unique_ptr<json_memory> m = std::move(shell_);
        if (!m) {
            m = std::make_unique<json_memory>();
            m->spec = decisions_only(spec_);
            m->ndjson = ndjson_;
        }
        m->needed = std::move(needed_);
        m->paths = std::move(paths_);
        m->facts = std::move(facts_);
        m->stripped = std::move(own_stripped_);
        m->scopes = scopes_;
        m->report = std::move(counters_.stripped_fields);
        const auto keep = [](auto& from, auto& to, std::size_t bytes) {
            if (bytes <= json_memory::max_buffer_bytes) to = std::move(from);
        };
        keep(frames_, m->frames, frames_.capacity() * sizeof(frame));
        keep(envelope_keys_, m->envelope_keys, envelope_keys_.capacity_bytes());
        keep(record_keys_, m->record_keys, record_keys_.capacity_bytes());
        keep(record_, m->record, record_.capacity());
        keep(value_, m->value, value_.capacity());
        keep(fields_, m->fields, fields_.capacity_bytes());
        keep(marks_, m->marks, marks_.capacity() * sizeof(std::uint64_t));
        m->weight = m->paths.size() + m->facts.size();
        return m;
    }

    // counters().stripped_fields, from the counters the plans bump (names at zero are ones an
    // earlier filter of the same memory counted): when counters() is read after a feed() or
    // finish(). Both maps are in name order and the report's names are among the counters', so
    // one pass places each. The first report of an export starts from the last export's (its
    // names, which an export of the same spec mostly strips again): a name counted again only
    // has its count set, one not counted (yet) goes back to the spare nodes, a new one takes a
    // spare node (no allocation) while there are any. Starting from nothing cost a node
    // extracted, renamed and inserted per name and export (~4,700 instructions for 12 names).
    void report_stripped() {
        if (stripped_ != &own_stripped_) return;
        auto& report = counters_.stripped_fields;
        if (report.empty()) report.swap(spare_report_);
        const auto to_spare = [this, &report](stripped_map::iterator it) {
            const auto next = std::next(it);
            spare_report_.insert(report.extract(it));
            return next;
        };
        auto at = report.begin();
        for (const auto& [name, n] : own_stripped_) {
            int order = 1;  // at's name against `name`: < 0 before it, 0 the same, > 0 after
            while (at != report.end() && (order = at->first.compare(name)) < 0) at = to_spare(at);
            if (at == report.end()) order = 1;
            if (n == 0) {
                if (order == 0) at = to_spare(at);
                continue;
            }
            if (order != 0) {
                if (spare_report_.empty()) {
                    at = report.try_emplace(at, name, n);
                } else {
                    auto node = spare_report_.extract(spare_report_.begin());
                    node.key().assign(name);
                    at = report.insert(at, std::move(node));
                }
            }
            at->second = n;
            ++at;
        }
        while (at != report.end()) at = to_spare(at);
    }

    // --- basic_parser events -----------------------------------------------------------------
    bool on_document_begin(error_code&) { return true; }
    bool on_document_end(error_code&) { return true; }
    bool on_object_begin(error_code& ec) {
        if (stand_in_ != 0) return stand_in(ec);
        return begin_value(value_kind::object, ec);
    }
    bool on_object_end(std::size_t, error_code& ec) {
        if (stand_in_ != 0) return stand_in(ec);
        return close(ec);
    }
    bool on_array_begin(error_code& ec) { return begin_value(value_kind::array, ec); }
    bool on_array_end(std::size_t, error_code& ec) { return close(ec); }

    bool on_key_part(json_sv s, std::size_t, error_code& ec) {
        if (!key_parts_) {
            key_.clear();
            key_parts_ = true;
        }
        key_lazy_ = false;
        key_.append(s.data(), s.size());
        return key_.size() <= spec_.max_record_bytes || fail(ec, filter_error::record_too_large);
    }
    // Inlined into the parser's key loop: a member key's usual cost is this guess.
    [[gnu::always_inline]] bool on_key(json_sv s, std::size_t, error_code& ec) {
        if (!key_parts_ && in_record_) {
            // The usual case: this record's member is the one that followed the previous member
            // in an earlier record.
            frame& f = frames_.back();
            if (f.node != no_node) {
                const std::uint32_t guess =
                    f.last_member != no_node ? paths_[f.last_member].next : paths_[f.node].first;
                if (guess != no_node) {
                    path_node& n = paths_[guess];
                    // A repeated key goes the slow way, which refuses it.
                    if (n.stamp != f.scope && same_key(n.key, sv(s))) {
                        n.stamp = f.scope;
                        f.last_member = guess;
                        key_node_ = guess;
                        key_lazy_ = true;
                        return true;
                    }
                }
            }
        }
        return on_key_slow(s, ec);
    }

    // Asked by json_record_parser before it reads a key: the key on_key would guess, as compact
    // JSON writes it (`"key":`), when it may be the next member; null when there is no guess, the
    // key was used in this object already (the slow way refuses the repeat), or it can be
    // written in more than one way. When the input holds exactly these bytes, the parser skips
    // them and calls take_expected_key() instead of on_key(): what on_key's guess does.
    [[gnu::always_inline]] const key_pattern* expected_key() {
        if (key_parts_ || !in_record_) return nullptr;
        const frame& f = frames_.back();
        if (f.node == no_node) return nullptr;
        const std::uint32_t guess =
            f.last_member != no_node ? paths_[f.last_member].next : paths_[f.node].first;
        if (guess == no_node) return nullptr;
        const path_node& n = paths_[guess];
        if (n.stamp == f.scope || n.pattern.size == 0) return nullptr;
        expected_node_ = guess;
        return &n.pattern;
    }
    // Asked by json_record_parser right after skip_quietly(object) said yes: the keys that
    // member's object had the last time (key_run), for the parser to compare and to learn.
    [[gnu::always_inline]] key_run* skipped_keys() { return &paths_[key_node_].skipped_keys; }
    [[gnu::always_inline]] void take_expected_key() {
        frame& f = frames_.back();
        paths_[expected_node_].stamp = f.scope;
        f.last_member = expected_node_;
        key_node_ = expected_node_;
        key_lazy_ = true;
    }

    [[gnu::noinline]] bool on_key_slow(json_sv s, error_code& ec) {
        if (key_parts_) {
            key_parts_ = false;
            key_.append(s.data(), s.size());
            return add_key(key_, ec);
        }
        return add_key(sv(s), ec);
    }

    bool on_string_part(json_sv s, std::size_t, error_code& ec) {
        if (!scalar_open_ && !begin_value(value_kind::string, ec)) return false;
        return scalar_part(sv(s), ec);
    }
    bool on_string(json_sv s, std::size_t, error_code& ec) {
        if (!scalar_open_) return whole_scalar(value_kind::string, sv(s), ec);
        return scalar_part(sv(s), ec) && end_scalar(ec);
    }
    bool on_number_part(json_sv s, error_code& ec) {
        if (!scalar_open_ && !begin_value(value_kind::number, ec)) return false;
        return scalar_part(sv(s), ec);
    }
    bool on_int64(std::int64_t, json_sv s, error_code& ec) { return number_end(sv(s), ec); }
    bool on_uint64(std::uint64_t, json_sv s, error_code& ec) { return number_end(sv(s), ec); }
    bool on_double(double, json_sv s, error_code& ec) { return number_end(sv(s), ec); }
    bool on_bool(bool b, error_code& ec) { return literal(b ? "true" : "false", ec); }
    bool on_null(error_code& ec) { return literal("null", ec); }
    bool on_comment_part(json_sv, error_code&) { return true; }
    bool on_comment(json_sv, error_code&) { return true; }

    // --- driven by the filter ----------------------------------------------------------------
    void set_output(std::string* out) { out_ = out; }
    void set_record_marks(std::vector<record_mark>* marks) { record_marks_ = marks; }
    // The bytes being parsed: a string the parser hands over from inside them had no escape
    // sequence and, being valid JSON, no character that needs one, so it is copied as is.
    void set_input(std::string_view in) {
        input_begin_ = reinterpret_cast<std::uintptr_t>(in.data());
        input_end_ = input_begin_ + in.size();
    }
    filter_counters& counters() { return counters_; }
    [[nodiscard]] const filter_counters& counters() const { return counters_; }
    [[nodiscard]] const filter_spec& spec() const { return spec_; }
    [[nodiscard]] bool records_found() const { return records_found_; }
    [[nodiscard]] std::size_t record_depth() const { return record_depth_; }
    std::vector<std::uint64_t>& marks() { return marks_; }
    // The first of marks() the events have not reached yet.
    [[nodiscard]] std::size_t marks_read() const { return next_mark_; }

    // --- the fast path (json_record_parser) --------------------------------------------------
    // Between two records of the records array: the next value is a record.
    [[nodiscard]] bool awaits_record() const {
        return !in_record_ && !frames_.empty() && frames_.back().m == mode::records &&
               frames_.size() + 1 == record_depth_;
    }
    // Inside a container that opened at the records' depth (or below one).
    [[nodiscard]] bool inside_record_depth() const {
        return record_depth_ != 0 && frames_.size() >= record_depth_;
    }
    // The records the fast path parsed are shown to basic_parser as one empty object, `{}`, so
    // its state follows; the two events it reports for it are swallowed here.
    void expect_stand_in() { stand_in_ = 2; }

    // --- records guessed whole (json_filter, JSON arrays) ------------------------------------
    // Where the depth scanner would cost more than it saves, json_filter hands the record parser
    // a record without knowing that it ends in the bytes at hand: it either ends there, or the
    // parser fails (it ran out of bytes, or the record is malformed, too large, over the quota).
    // A guess that fails is taken back whole — the frames, the record's buffers and fields, the
    // counters it moved, the stripped-field counts it bumped — and basic_parser reads the record
    // from its first byte, as on the reference path, so the outcome is the reference path's.
    // Only for a main filter (not a nested set's) whose records have no effect outside the
    // filter before they end: no nested record sets, no transforms, no paging token or link field
    // inside the records (their callbacks run mid-record); the rules' callbacks (suppression list,
    // subject index) run when a record is decided, which a failed guess never reaches.
    [[nodiscard]] bool can_guess() const {
        if (ndjson_ || single_ || record_depth_ < 2 || has_transforms_ || !spec_.nested.empty() ||
            !spec_.token_fields.empty() || stripped_ != &own_stripped_)
            return false;
        return std::none_of(spec_.link_fields.begin(), spec_.link_fields.end(),
                            [this](const std::string& ptr) {
                                return ptr.size() > spec_.records.size() &&
                                       ptr.compare(0, spec_.records.size(), spec_.records) == 0;
                            });
    }
    // A record guessed whole starts at stream offset `open`; `base` is the byte at `offset`.
    void begin_guess(std::uint64_t open, const char* base, std::uint64_t offset) {
        guessing_ = true;
        guess_open_ = open;
        guess_base_ = base;
        guess_offset_ = offset;
        guess_frames_ = frames_.size();
        guess_records_in_ = counters_.records_in;
        guess_ptr_len_ = ptr_.size();
        journal_at_ = journal_.data();
        journal_end_ = journal_.data() + journal_.size();
    }
    // The guessed record ended (its events all reported, its decision made).
    void keep_guess() { guessing_ = false; }
    // The guessed record failed: back to the state before its first byte.
    void take_back_guess() {
        for (std::uint64_t** c = journal_.data(); c != journal_at_; ++c) --**c;
        guessing_ = false;
        frames_.resize(guess_frames_);
        counters_.records_in = guess_records_in_;
        ptr_.resize(guess_ptr_len_);
        forget_open_value();
        path_.clear();
        key_node_ = no_node;
        scalar_node_ = no_node;
        record_.clear();
        fields_.clear();
    }
    // The record parser is about to report the end of the object that closes at `p`.
    void closing_at(const char* p) { closing_ = p; }
    // Asked before a member's value: true when the value's cached plan strips it whole and
    // nothing reads it (no condition, link, transform or nested set below), so it is counted
    // as stripped and neither written nor reported. A container qualifies on the same terms; the
    // parser still checks it (and its keys for repeats).
    [[gnu::always_inline]] bool skip_quietly(value_kind k) {
        if (!is_container(k)) return skipped_quietly(k);
        return skipped_container_quietly(k);
    }

    // After a slice: a record still open that already spans more than the limit is refused now,
    // before its buffer grows further. `end` is the stream offset just past the slice.
    [[nodiscard]] bool open_record_fits(std::uint64_t end) const {
        if (!in_record_) return true;
        if (capture_envelope_) return record_.size() <= spec_.max_record_bytes;
        return end - record_begin_ <= spec_.max_record_bytes;
    }
    void compact_marks() {
        marks_.erase(marks_.begin(), marks_.begin() + static_cast<std::ptrdiff_t>(
                                                          std::min(next_mark_, marks_.size())));
        next_mark_ = 0;
    }
    // Forgets the state of a line that failed or ended (NDJSON).
    void reset_line() {
        frames_.clear();
        envelope_keys_.truncate(0);
        forget_open_value();
    }
    // What is known of the key, the value and the record being read (not the frames, nor the
    // counters): forgotten where a line ends or fails, and where a guessed record is taken back.
    // One list for both, so that a member added here is forgotten by both.
    void forget_open_value() {
        record_keys_.clear();
        key_.clear();
        key_parts_ = false;
        key_lazy_ = false;
        value_.clear();
        scalar_open_ = false;
        scalar_special_ = special_none;
        in_record_ = false;
        stand_in_ = 0;
        capture_envelope_ = false;
        capturing_ = false;
        pending_out_ = 0;
        disc_slot_ = no_slot;
    }
    // Forgets a whole document (a nested set's filter, between its records).
    void reset_document() {
        reset_line();
        records_found_ = false;
        marks_.clear();
        next_mark_ = 0;
    }

  private:
    // `memory`, when a filter of this kind can start from it: a main filter's (`main`), of the same
    // kind, learnt for a spec with the same decisions (filters/filter_shelf.hpp); else null (and
    // the memory is dropped).
    static std::unique_ptr<json_memory> usable(std::unique_ptr<filter_memory> memory,
                                               const filter_spec& spec, bool ndjson, bool main) {
        auto* m = dynamic_cast<json_memory*>(memory.get());
        if (m == nullptr || m->ndjson != ndjson || !main || !same_decisions(m->spec, spec)) {
            return nullptr;
        }
        static_cast<void>(memory.release());
        return std::unique_ptr<json_memory>(m);
    }

    static std::size_t pointer_depth(std::string_view pointer) {
        return static_cast<std::size_t>(std::count(pointer.begin(), pointer.end(), '/'));
    }

    static bool fail(error_code& ec, filter_error e) {
        ec = e;
        return false;
    }

    std::string& out() { return *out_; }
    [[nodiscard]] bool from_input(std::string_view s) const {
        const auto at = reinterpret_cast<std::uintptr_t>(s.data());
        return at >= input_begin_ && at + s.size() <= input_end_;
    }
    // `s` lies in the input and the input's next byte is its closing quote.
    [[nodiscard]] bool closing_quote_follows(std::string_view s) const {
        const auto at = reinterpret_cast<std::uintptr_t>(s.data());
        // The byte after the view, inside the input checked above: data(), since the view's
        // operator[] stops at size().
        return at >= input_begin_ && at + s.size() < input_end_ &&
               s.data()[s.size()] == '"';  // NOLINT(readability-simplify-subscript-expr)
    }
    std::string& sink(mode m) {
        return m == mode::envelope || m == mode::records ? *out_ : record_;
    }
    static bool writes(mode m) { return m != mode::skip && m != mode::records; }

    // The key just read. A key found in the path table is copied only when a slow path asks.
    const std::string& key() {
        if (key_lazy_) {
            key_.assign(paths_[key_node_].key);
            key_lazy_ = false;
        }
        return key_;
    }

    // Writes the separator and, in an object, the key before a child value.
    void open_child(frame& parent, std::string& s) {
        if (parent.emitted++ != 0) s.push_back(',');
        if (parent.object) {
            s.push_back('"');
            common::append_json_escaped(s, key());
            s.append("\":");
        }
    }

    // `k` is key_ itself or a view the parser handed over (valid during this call only).
    bool add_key(std::string_view k, error_code& ec) {
        frame& f = frames_.back();
        const bool own = k.data() == key_.data();
        key_lazy_ = false;
        if (in_record_) {
            key_node_ = f.node != no_node ? member_node(f, k) : no_node;
            if (key_node_ != no_node) {
                // The node's key is this key: its stamp says whether this object used it.
                path_node& n = paths_[key_node_];
                if (n.stamp == f.scope) return fail(ec, filter_error::duplicate_key);
                n.stamp = f.scope;
                key_lazy_ = !own;
                return true;
            }
            if (!own) key_.assign(k);
            if (!record_keys_.insert(f.scope, key_)) return fail(ec, filter_error::duplicate_key);
            return true;
        }
        if (!own) key_.assign(k);
        if (!envelope_keys_.insert(f.scope, key_)) return fail(ec, filter_error::duplicate_key);
        // Envelope keys stay until their object closes; bound them like a record.
        if (envelope_keys_.bytes() > spec_.max_record_bytes) {
            return fail(ec, filter_error::record_too_large);
        }
        return true;
    }

    // The node of member `k` of the object `f`. Records list their members in the same order, so
    // the member that followed the previous one last time is tried before the hash table.
    std::uint32_t member_node(frame& f, std::string_view k) {
        std::uint32_t node =
            f.last_member != no_node ? paths_[f.last_member].next : paths_[f.node].first;
        if (node == no_node || !same_key(paths_[node].key, k)) {
            node = paths_.child(f.node, false, k);
            // child() may have grown the table: the link is looked up again.
            if (node != no_node) {
                (f.last_member != no_node ? paths_[f.last_member].next : paths_[f.node].first) =
                    node;
            }
        }
        f.last_member = node;
        return node;
    }

    // --- paths ---------------------------------------------------------------------------------
    // The child's path relative to field_root, once path_ names the child.
    std::string_view rel_path(std::size_t base) const {
        return std::string_view(path_).substr(std::min(base, path_.size()));
    }
    void name_child(const frame& f) {
        if (f.node != no_node) {
            path_.assign(paths_[f.node].path);
        } else {
            path_.resize(f.path_len);
        }
        if (f.object) {
            if (f.path_len != 0) path_.push_back('.');
            path_.append(key());
        }
    }
    void point_child(frame& f) {
        ptr_.resize(f.ptr_len);
        ptr_.push_back('/');
        if (f.object) {
            append_pointer_token(ptr_, key());
        } else {
            ptr_.append(std::to_string(f.index));
        }
    }
    // A link field, or a paging token field: both are rewritten, never passed as written.
    bool is_link(std::string_view ptr) const {
        return listed(spec_.link_fields, ptr) || listed(spec_.token_fields, ptr);
    }
    static bool listed(const std::vector<std::string>& pointers, std::string_view ptr) {
        return std::find(pointers.begin(), pointers.end(), ptr) != pointers.end();
    }
    bool targets_below(std::string_view ptr) const {
        return std::any_of(targets_.begin(), targets_.end(), [ptr](std::string_view t) {
            return t.size() > ptr.size() && t.substr(0, ptr.size()) == ptr && t[ptr.size()] == '/';
        });
    }
    // What the allow-list and the rules say about `rel`. Records repeat the same paths, so the
    // answers are cached (up to a bound: upstream chooses the names).
    const path_facts& facts(std::string_view rel) {
        auto it = facts_.find(rel);
        if (it != facts_.end()) return it->second;
        path_facts f;
        f.keeps = spec_.allowed.keeps(rel);
        f.descends = spec_.allowed.descends(rel);
        const auto& paths = spec_.allowed.paths();
        f.exact = std::binary_search(paths.begin(), paths.end(), rel);
        f.needed = std::binary_search(needed_.begin(), needed_.end(), rel);
        f.needed_below = needed_below(rel);
        if (has_transforms_) {
            const std::size_t t = spec_.transforms.index_of(rel);
            if (t != transform_set::npos) f.transform = static_cast<std::uint32_t>(t);
            f.transform_below = spec_.transforms.below(rel);
            f.transform_above = spec_.transforms.above(rel);
        }
        if (facts_.size() >= max_cached_paths) {
            uncached_ = f;
            return uncached_;
        }
        return facts_.emplace(std::string(rel), f).first->second;
    }
    bool needed_below(std::string_view rel) {
        if (needed_.empty()) return false;
        if (rel.empty()) return true;
        below_.assign(rel);
        below_.push_back('.');
        auto it = std::lower_bound(needed_.begin(), needed_.end(), below_);
        return it != needed_.end() && std::string_view(*it).substr(0, below_.size()) == below_;
    }
    void strip(std::string_view rel) {
        if (rel.empty()) rel = path_;  // a scalar where field_root's object should be
        auto cached = facts_.find(rel);
        if (cached != facts_.end() && cached->second.stripped != nullptr) {
            last_stripped_ = cached->second.stripped;
            bump(cached->second.stripped);
            return;
        }
        auto& m = *stripped_;
        if (!strip_prefix_.empty()) {
            strip_name_.assign(strip_prefix_);
            strip_name_.append(rel);
            rel = strip_name_;
        }
        auto it = m.find(rel);
        if (it == m.end()) {
            // Upstream chooses the names: past a cap, new ones are counted together so the
            // counters stay bounded however many distinct keys an export carries.
            it = m.try_emplace(
                      std::string(m.size() >= max_stripped_names ? other_stripped_name : rel), 0)
                     .first;
        }
        bump(&it->second);
        last_stripped_ = &it->second;
        if (cached != facts_.end()) cached->second.stripped = &it->second;
    }

    // --- decisions -----------------------------------------------------------------------------
    plan decide_root(value_kind k, error_code& ec) {
        plan p;
        if (ndjson_) {
            if (k != value_kind::object) {
                fail(ec, filter_error::malformed);
                return p;
            }
            ptr_.clear();
            p.m = mode::record;
            p.ptr = targets_below(ptr_);
            return p;
        }
        if (single_root_) {
            // The document is the one record.
            if (k != value_kind::object) {
                fail(ec, filter_error::records_not_found);
                return p;
            }
            records_found_ = true;
            ptr_.clear();
            p.m = mode::record;
            p.ptr = targets_below(ptr_);
            return p;
        }
        if (spec_.records.empty()) {
            if (k != value_kind::array) {
                fail(ec, filter_error::records_not_found);
                return p;
            }
            records_found_ = true;
            p.m = mode::records;
            return p;
        }
        ptr_.clear();
        p.m = mode::envelope;
        p.ptr = targets_below(ptr_);
        return p;
    }

    plan decide_envelope_child(frame& f, value_kind k, error_code& ec) {
        plan p;
        p.m = mode::envelope;
        if (!f.ptr) return p;
        point_child(f);
        if (ptr_ == spec_.records && !ndjson_) {
            if (k != (single_ ? value_kind::object : value_kind::array)) {
                fail(ec, filter_error::records_not_found);
                return p;
            }
            records_found_ = true;
            p.m = single_ ? mode::record : mode::records;
            return p;
        }
        if (has_document_groups_) {
            const std::size_t g = nested_group_at(ptr_, false);
            if (g != no_slot) return nested_set_plan(f, g, k, ec);
        }
        if (is_link(ptr_)) return link_plan(k);
        p.ptr = targets_below(ptr_);
        if (p.ptr && !is_container(k) && spec_.strict_envelope) {
            // A scalar where the way to the records, a link or declared metadata should go on:
            // none of those, so no metadata either (a cursor the CRM put at "paging").
            strip_envelope(f);
            p.ptr = false;
            p.m = mode::skip;
            return p;
        }
        if (!p.ptr && is_container(k) && has_document_groups_ && nested_below(ptr_, false)) {
            // On the way to nested sets only (`related_objects`): what else it holds is records
            // of entities no set names, dropped below.
            p.ptr = true;
            p.side = true;
        }
        if (!p.ptr && is_container(k) && f.side) {
            strip_envelope(f);
            p.m = mode::skip;
            return p;
        }
        if (!p.ptr && is_container(k) && spec_.strict_envelope) {
            // An object or array beside the records and off every link path may be the records
            // under another name (an API that moved them): it never passes unfiltered.
            fail(ec, filter_error::records_not_found);
            return p;
        }
        // The vendors' fixed metadata names are counts, flags and positions: a number or a
        // literal (true, false, null); a string there may be a cursor or a value. `rel` names a
        // link.
        const bool metadata =
            f.object && page_metadata(key()) &&
            (key() == "rel" ? k == value_kind::string
                            : k == value_kind::number || k == value_kind::literal);
        if (!p.ptr && spec_.strict_envelope && !metadata && !listed(spec_.envelope_fields, ptr_)) {
            // A scalar beside the records that is not paging or count metadata may be a value
            // the CRM (or a client's query) put there: dropped, and counted by name.
            strip_envelope(f);
            p.m = mode::skip;
        }
        return p;
    }

    // A document-level nested set's container. One of another type is refused if it is a
    // container (records under the set's name, in a shape the set does not describe) and stripped
    // if it is a scalar.
    [[gnu::noinline]] plan nested_set_plan(const frame& f, std::size_t g, value_kind k,
                                           error_code& ec) {
        plan p;
        if (k != (groups_[g].map ? value_kind::object : value_kind::array)) {
            if (is_container(k)) {
                fail(ec, filter_error::records_not_found);
                return p;
            }
            strip_envelope(f);
            return p;
        }
        p.m = mode::nested_set;
        p.group = static_cast<std::uint16_t>(g);
        return p;
    }

    // A record's member at a nested set's path becomes that set's container when its type fits
    // (anything else there is stripped); a member the main allow-list keeps whole is entered
    // instead when a set lies below it, so the set still decides its elements.
    [[gnu::noinline]] void nested_in_record(plan& p, value_kind k, std::string_view rel) {
        const std::size_t g = nested_group_at(path_, true);
        if (g != no_slot) {
            const bool map = groups_[g].map;
            if (k == (map ? value_kind::object : value_kind::array)) {
                p.m = mode::nested_set;
                p.group = static_cast<std::uint16_t>(g);
                // The main rules may read inside an array set (not through a map's ids).
                if (map) p.collect = false;
            } else {
                p.m = mode::skip;
                strip(rel);
            }
            return;
        }
        if (p.m == mode::keep && is_container(k) && nested_below(path_, true)) p.m = mode::filter;
    }

    std::size_t nested_group_at(std::string_view path, bool in_record) const {
        for (std::size_t g = 0; g < groups_.size(); ++g) {
            if (groups_[g].in_record == in_record && groups_[g].path == path) return g;
        }
        return no_slot;
    }
    // Some set's path lies strictly below `path` (a pointer, or a dotted path in a record).
    bool nested_below(std::string_view path, bool in_record) const {
        const char sep = in_record ? '.' : '/';
        return std::any_of(groups_.begin(), groups_.end(), [&](const nested_group& g) {
            const std::string_view t = g.path;
            if (g.in_record != in_record || t.size() <= path.size()) return false;
            if (in_record && path.empty()) return true;
            return t.substr(0, path.size()) == path && t[path.size()] == sep;
        });
    }

    void build_nested_groups() {
        const std::vector<nested_record_set>& sets = spec_.nested;
        runners_.resize(sets.size());
        for (std::size_t i = 0; i < sets.size(); ++i) {
            const nested_record_set& set = sets[i];
            // A document-level set in NDJSON (a line is a record) or without a path names
            // nothing: that part of the document stays under the main rules.
            if (set.path.empty() || (!set.in_record && (ndjson_ || single_root_))) continue;
            std::size_t g = nested_group_at(set.path, set.in_record);
            if (g == no_slot) {
                if (groups_.size() > UINT16_MAX) continue;
                g = groups_.size();
                nested_group& added = groups_.emplace_back();
                added.path = set.path;
                added.in_record = set.in_record;
                added.map = set.map;
                (set.in_record ? has_record_groups_ : has_document_groups_) = true;
            }
            nested_group& group = groups_[g];
            group.sets.push_back(i);
            if (!set.discriminator.empty()) {
                auto& names = group.discriminators;
                auto it = std::find(names.begin(), names.end(), set.discriminator);
                runners_[i].discriminator = static_cast<std::size_t>(it - names.begin());
                if (it == names.end()) names.push_back(set.discriminator);
            }
            if (!set.keep) continue;
            group.discard_only = false;
            filter_spec own;
            own.format = body_format::json;
            own.single_record = true;
            own.field_root = set.field_root;
            own.allowed = set.allowed;
            own.rules = set.rules;
            own.transforms = set.transforms;
            own.max_record_bytes = spec_.max_record_bytes;
            own.max_depth = spec_.max_depth;
            nested_options options;
            options.keep_member = set.discriminator;
            options.stripped = stripped_;
            options.transformed = transformed_;
            options.transform_failed = transform_failed_;
            if (set.in_record && !set.transforms.empty()) {
                options.outer_transformer = &transformer_;
                settle_transforms_ = true;
            }
            // Stripped fields are counted as "<set>.<field>": "included[people].phone".
            std::string& label = options.strip_prefix;
            if (set.in_record) {
                label = set.path;
            } else {
                label = set.path.substr(1);
                std::replace(label.begin(), label.end(), '/', '.');
            }
            if (!set.discriminator.empty()) label += '[' + set.discriminator_value + ']';
            label += '.';
            runners_[i].filter = make_nested_filter(std::move(own), std::move(options));
        }
    }

    // The vendors' collection metadata that may pass beside the records: the OData and
    // Dataverse annotations that carry counts, Salesforce's totalSize/done,
    // counts and paging positions. Any other annotation is dropped: Dataverse's
    // `@Microsoft.Dynamics.CRM.fetchxmlpagingcookie` carries the first and last values of the sort
    // column of the page, and a link the route does not declare would point at the CRM.

    void strip_envelope(const frame& f) {
        std::string name = "(envelope)";
        if (f.object) {
            // Upstream chooses the key: a long one is counted under its prefix.
            const std::string& k = key();
            name.append(k, 0, std::min<std::size_t>(k.size(), 64));
        } else {
            name += "[]";
        }
        strip(name);
    }

    plan link_plan(value_kind k) {
        plan p;
        if (k == value_kind::string) {
            p.link = true;
            link_is_token_ = listed(spec_.token_fields, ptr_);
        } else {
            ++counters_.links_removed;  // only a URL string can be rewritten
        }
        return p;
    }

    // `link_below`: an NDJSON link field lies inside this member, which is then entered (not
    // stripped whole) so the link can be rewritten.
    plan decide_member(const frame& f, value_kind k, bool link_below) {
        const std::string_view rel = rel_path(f.base);
        const bool container = is_container(k);
        plan p;
        p.base = f.base;
        if (f.chain) {
            const std::string& root = spec_.field_root;
            if (path_ == root) {
                if (container) {
                    p.m = mode::filter;
                    p.collect = !needed_.empty();
                    p.base = path_.size() + 1;
                    return p;
                }
                strip(rel);
                return p;
            }
            if (k == value_kind::object && root.size() > path_.size() &&
                std::string_view(root).substr(0, path_.size()) == path_ &&
                root[path_.size()] == '.') {
                p.m = mode::filter;
                p.chain = true;
                p.collect = !needed_.empty();
                return p;
            }
        }
        bool keep = false;
        bool descend = false;
        const std::string& name = key();
        const std::size_t at = name.find('@');
        if (at != std::string::npos && at > 0) {
            // An annotation sibling (`email@OData.Community.Display.V1.FormattedValue`) goes
            // with the field it annotates; of a transformed field it would show the original.
            const path_facts& annotated = annotated_facts(f, name, at);
            keep = annotated.keeps && annotated.transform == no_transform;
        }
        const path_facts& pf = facts(rel);
        if (at != std::string::npos && at > 0) {
            // decided above
        } else if (at == 0 || name.find('.') != std::string::npos) {
            // '@odata.etag' or a key with a dot is not a nested path: only an exact entry
            // lets it through (an allowed "email" must not admit a key "email.secret").
            keep = pf.exact;
        } else {
            keep = pf.keeps;
            descend = !keep && container && pf.descends;
        }
        if (link_below && k == value_kind::object && !keep) descend = true;
        const bool discriminator = !keep_member_.empty() && f.m == mode::record &&
                                   k == value_kind::string && name == keep_member_;
        if (discriminator) keep = true;  // a nested record's: the element stays what it is
        // A container at a needed path is read too: the scalars of an array there are its values.
        p.collect = container ? pf.needed || pf.needed_below : pf.needed;
        // So is a list on the way to one (`consent: [{"email": true}]` for consent.email), but no
        // single value of it answers the rule: it is marked as well. An object on the way is
        // ordinary nesting.
        const bool list_on_the_way = k == value_kind::array && pf.needed_below && !pf.needed;
        p.structured = (container && pf.needed) || list_on_the_way;
        if (keep) {
            p.m = mode::keep;
        } else if (descend) {
            p.m = mode::filter;
        } else {
            strip(rel);
        }
        if (has_record_groups_ && p.m != mode::skip) {
            nested_in_record(p, k, rel);
            // A nested set's array is a list of records the main rules read into on purpose
            // (each element's value counts, as for the set's own conditions).
            if (p.m == mode::nested_set && list_on_the_way) p.structured = false;
        }
        if (has_transforms_ && !discriminator) transform_plan(p, k, pf, rel);
        return p;
    }

    // The facts of the field an annotation member `name` (annotating the part before `at`) of
    // the object `f` annotates; path_ names the member.
    const path_facts& annotated_facts(const frame& f, const std::string& name, std::size_t at) {
        scratch_.assign(path_, 0, f.path_len);
        if (f.path_len != 0) scratch_.push_back('.');
        scratch_.append(name, 0, at);
        return facts(std::string_view(scratch_).substr(std::min(f.base, scratch_.size())));
    }

    // A value kept (or entered) at a transformed path is written transformed; a container there
    // is written as null and skipped (the rules may still read inside it). One below a
    // transformed path (a key with a dot) is part of that value: stripped. A container kept whole
    // with transforms below has its children looked up.
    void transform_plan(plan& p, value_kind k, const path_facts& pf, std::string_view rel) {
        if (p.m != mode::keep && p.m != mode::filter) return;
        if (pf.transform_above) {
            p.m = mode::skip;
            strip(rel);
            return;
        }
        if (pf.transform != no_transform) {
            p.m = mode::transform;
            p.transform = pf.transform;
            return;
        }
        p.xform = p.m == mode::keep && is_container(k) && pf.transform_below;
    }

    plan decide_element(const frame& f, value_kind k) {
        const std::string_view rel = rel_path(f.base);
        plan p;
        p.base = f.base;
        if (is_container(k)) {
            p.m = mode::filter;
            // No mark: an element has its array's path, marked when the array started.
            p.collect = f.collect;
            return p;
        }
        p.collect = facts(rel).needed;
        strip(rel);
        return p;
    }

    plan decide_copy_child(const frame& f, value_kind k) {
        plan p;
        p.m = f.m;
        p.base = f.base;
        if (f.collect) {
            const std::string_view rel = rel_path(f.base);
            const path_facts& pf = facts(rel);
            p.collect = is_container(k) ? pf.needed || pf.needed_below : pf.needed;
            // An object's member only: an element has its array's path, marked already. As in
            // decide_member, a list on the way to a needed path is marked too.
            p.structured = f.object && ((is_container(k) && pf.needed) ||
                                        (k == value_kind::array && pf.needed_below));
        }
        if (f.xform) transform_copy_child(f, k, p);
        return p;
    }

    // A child of a container kept whole that has transforms below (decide_copy_child).
    [[gnu::noinline]] void transform_copy_child(const frame& f, value_kind k, plan& p) {
        const std::string_view rel = rel_path(f.base);
        if (f.object) {
            const std::string& name = key();
            const std::size_t at = name.find('@');
            if (at != std::string::npos && at > 0 &&
                annotated_facts(f, name, at).transform != no_transform) {
                p.m = mode::skip;  // an annotation of a transformed field
                strip(rel);
                return;
            }
        }
        transform_plan(p, k, facts(rel), rel);
    }

    // --- values --------------------------------------------------------------------------------
    // A value starts. Inside a record, once its path has a plan, the plan is replayed here;
    // everything else (the first time, the envelope, link pointers) is begin_value_slow's.
    bool begin_value(value_kind k, error_code& ec) {
        if (!in_record_) return begin_value_slow(k, ec);
        frame& f = frames_.back();
        if (f.node == no_node) return begin_value_slow(k, ec);
        const std::uint32_t child = f.object ? key_node_ : paths_.child(f.node, true, {});
        if (child == no_node) return begin_value_slow(k, ec);
        const path_node& n = paths_[child];
        const cached_plan& cached = n.plans[static_cast<std::size_t>(k)];
        if (!cached.valid) return begin_value_slow(k, ec);
        const plan& p = cached.p;
        // Under a link pointer (NDJSON), only a member known to be neither a link nor on the
        // way to one is replayed: those need ptr_, which only the slow path maintains.
        if (f.ptr && !(n.link_checked && !n.linked && !p.ptr)) return begin_value_slow(k, ec);
        if (cached.stripped != nullptr) bump(cached.stripped);
        bool quoted = false;
        if (p.m == mode::keep || p.m == mode::filter) {
            if (f.object) {
                quoted = write_member(f, n, k);
            } else if (f.emitted++ != 0) {
                record_.push_back(',');
            }
        }
        if (is_container(k)) {
            if (p.structured) mark_structured(child, f.base);
            push(p, k == value_kind::object, child);
            return true;
        }
        start_scalar(p, k, child, quoted);
        return true;
    }

    // Writes the separator and key before a transformed value (never a string's opening quote:
    // the value may become null); a container is written as null.
    void open_transformed(frame& f, std::uint32_t child, const plan& p, value_kind k) {
        if (f.object && child != no_node) {
            write_member(f, paths_[child], value_kind::number);
        } else {
            open_child(f, record_);
        }
        if (is_container(k)) {
            record_.append("null");
            transformer_.count_failed(p.transform);
        }
    }

    // After open_transformed: a container is skipped, a scalar read into value_ (no sink) and
    // written when it ends.
    void start_transformed(const plan& p, value_kind k, std::uint32_t child) {
        plan q = p;
        q.m = mode::skip;
        if (is_container(k)) {
            push(q, k == value_kind::object, child);
            return;
        }
        start_scalar(q, k, child);
        scalar_special_ = special_transform;
        scalar_transform_ = p.transform;
    }

    // A transformed scalar ended (value_ holds it): its transformed form, or null.
    [[gnu::noinline]] void end_transformed() {
        const auto t = static_cast<std::size_t>(scalar_transform_);
        transform_text_.clear();
        if (!scalar_string_ && value_ == "null") {
            transformer_.count_failed(t);
            record_.append("null");
        } else if (transformer_.apply(t, value_, transform_text_)) {
            record_.push_back('"');
            common::append_json_escaped(record_, transform_text_);
            record_.push_back('"');
        } else {
            record_.append("null");
        }
    }

    // A container starts at a path the rules read (relative to `base`, as end_scalar adds values).
    [[gnu::noinline]] void mark_structured(std::uint32_t child, std::size_t base) {
        if (child != no_node) {
            const std::string& path = paths_[child].path;
            fields_.mark_structured(std::string_view(path).substr(std::min(base, path.size())));
        } else {
            fields_.mark_structured(rel_path(base));
        }
    }

    // Writes the separator, the key and, before a string, its opening quote, in one append.
    // True when the quote was written.
    bool write_member(frame& f, const path_node& n, value_kind k) {
        const bool string = k == value_kind::string;
        const std::string& m = string ? n.member_string : n.member;
        const std::size_t skip = f.emitted++ == 0 ? 1 : 0;  // no comma before the first
        record_.append(m.data() + skip, m.size() - skip);
        return string;
    }

    // `quoted`: a string's opening quote is already written.
    void start_scalar(const plan& p, value_kind k, std::uint32_t child, bool quoted = false) {
        scalar_open_ = true;
        scalar_node_ = child;
        scalar_special_ = p.link ? special_link : special_none;
        scalar_collect_ = p.collect;
        scalar_base_ = p.base;
        scalar_sink_ = writes(p.m) ? &sink(p.m) : nullptr;
        if (!value_.empty()) value_.clear();
        scalar_string_ = k == value_kind::string;
        if (scalar_sink_ != nullptr && scalar_string_ && !quoted) scalar_sink_->push_back('"');
    }

    [[gnu::noinline]] bool begin_value_slow(value_kind k, error_code& ec) {
        plan p;
        bool quoted = false;
        std::uint32_t child = no_node;
        if (frames_.empty()) {
            p = decide_root(k, ec);
            if (ec) return false;
        } else {
            frame& f = frames_.back();
            if (f.m == mode::records) {
                if (k != value_kind::object) return fail(ec, filter_error::malformed);
                p.m = mode::record;
            } else if (f.m == mode::envelope) {
                p = decide_envelope_child(f, k, ec);
                if (ec) return false;
                if (p.m == mode::envelope || p.m == mode::records || p.m == mode::nested_set ||
                    p.m == mode::record) {
                    open_child(f, out());
                }
            } else if (f.m == mode::nested_set) {
                if (!begin_element(f, k, p, ec)) return false;
            } else if (f.m == mode::element) {
                p = decide_element_member(f, k);
                open_child(f, record_);
                if (p.structured) mark_structured(no_node, f.base);
            } else {
                child = f.object            ? key_node_
                        : f.node != no_node ? paths_.child(f.node, true, {})
                                            : no_node;
                bool linked = false;
                bool link_below = false;
                if (f.ptr) {
                    point_child(f);
                    linked = is_link(ptr_);
                    link_below = !linked && targets_below(ptr_);
                    if (child != no_node && f.ptr_stable && f.object) {
                        paths_[child].link_checked = true;
                        paths_[child].linked = linked;
                    }
                }
                // A plan is replayed only where it is a function of the path: not for a link,
                // nor where a link pointer runs through an array (its index is in the pointer).
                cached_plan* cached =
                    child != no_node && !linked && (!f.ptr || (f.ptr_stable && f.object))
                        ? &paths_[child].plans[static_cast<std::size_t>(k)]
                        : nullptr;
                if (cached != nullptr && (cached->valid || cached->p.m == mode::transform)) {
                    p = cached->p;
                    if (cached->stripped != nullptr) bump(cached->stripped);
                } else {
                    if (f.m == mode::record || f.m == mode::filter || f.collect || f.xform) {
                        name_child(f);
                    }
                    last_stripped_ = nullptr;
                    if (linked) {
                        p = link_plan(k);
                    } else {
                        if (f.m == mode::record || f.m == mode::filter) {
                            p = f.object ? decide_member(f, k, link_below) : decide_element(f, k);
                        } else {
                            p = decide_copy_child(f, k);
                        }
                        p.ptr = link_below;
                    }
                    if (cached != nullptr) {
                        // A nested set's container is decided anew each time: its elements
                        // take the slow path, and the replay stays free of the case. A transform
                        // is replayed here, not by begin_value, for the same reason.
                        cached->valid = p.m != mode::nested_set && p.m != mode::transform;
                        cached->quiet_skip =
                            p.m == mode::skip && !p.collect && !p.link && !p.structured;
                        const bool plain =
                            !p.link && !p.structured && !p.ptr && !p.side && !p.xform && !p.chain;
                        cached->quiet_collect =
                            cached->valid && plain && p.m == mode::skip && p.collect;
                        cached->quiet_keep = cached->valid && plain && p.m == mode::keep;
                        cached->p = p;
                        cached->stripped = last_stripped_;
                    }
                }
                if (p.structured) mark_structured(child, f.base);
                if (p.m == mode::transform) {
                    open_transformed(f, child, p, k);
                } else if (p.m == mode::keep || p.m == mode::filter || p.m == mode::nested_set) {
                    if (f.object && child != no_node) {
                        quoted = write_member(f, paths_[child], k);
                    } else {
                        open_child(f, record_);
                    }
                }
            }
            if (f.ptr && !f.object) ++f.index;
        }
        // A nested record copied in the envelope has no raw-size mark: its copy is bounded.
        if (capture_envelope_ && record_.size() > spec_.max_record_bytes) {
            return fail(ec, filter_error::record_too_large);
        }
        if (p.m == mode::transform) {
            start_transformed(p, k, child);
            return true;
        }
        if (is_container(k)) {
            push(p, k == value_kind::object, child);
            return true;
        }
        start_scalar(p, k, child, quoted);
        return true;
    }

    // An element of a nested set starts: dropped whole when no set of the path is kept, else
    // copied (the main record's buffer parked, or the envelope's record buffer used) until it
    // closes and its set is known.
    [[gnu::noinline]] bool begin_element(frame& f, value_kind k, plan& p, error_code& ec) {
        const nested_group& g = groups_[f.group];
        if (g.discard_only) {
            ++counters_.records_in;
            ++counters_.nested_in;
            ++counters_.nested_discarded;
            ++counters_.dropped[static_cast<std::size_t>(drop_reason::condition)];
            p.m = mode::skip;
            return true;
        }
        if (k != value_kind::object) return fail(ec, filter_error::malformed);
        capture_key_.clear();
        if (f.object) common::append_json_escaped(capture_key_, key());
        if (in_record_) {
            std::swap(record_, capture_outer_);
        } else {
            capture_envelope_ = true;
            in_record_ = true;
            record_keys_.clear();
        }
        record_.clear();
        capturing_ = true;
        capture_group_ = f.group;
        capture_seen_.assign(g.discriminators.size(), false);
        capture_values_.resize(g.discriminators.size());
        p.m = mode::element;
        p.collect = f.collect && !f.object;
        p.base = f.base;
        if (p.collect) name_child(f);
        return true;
    }

    // A member of a nested record as it is copied: kept whole; its discriminator is read.
    [[gnu::noinline]] plan decide_element_member(const frame& f, value_kind k) {
        if (f.collect) name_child(f);
        plan p = decide_copy_child(f, k);
        p.m = mode::keep;
        const auto& names = groups_[capture_group_].discriminators;
        if (f.object && k == value_kind::string && !names.empty()) {
            const auto it = std::find(names.begin(), names.end(), key());
            if (it != names.end()) {
                disc_slot_ = static_cast<std::size_t>(it - names.begin());
                disc_fields_ = p.collect;
                p.collect = true;
            }
        }
        return p;
    }

    // The discriminator just read; true when the main rules read it too.
    [[gnu::noinline]] bool take_discriminator() {
        capture_seen_[disc_slot_] = true;
        capture_values_[disc_slot_].assign(value_);
        disc_slot_ = no_slot;
        return disc_fields_;
    }

    // A nested element closed: its set filters the copy, and the result (or nothing) takes its
    // place in the set's container.
    [[gnu::noinline]] bool end_element(error_code& ec) {
        frame& parent = frames_.back();
        const nested_group& g = groups_[capture_group_];
        const bool envelope = capture_envelope_;
        capturing_ = false;
        std::string* text = &record_;
        std::string* dest = out_;
        if (envelope) {
            capture_envelope_ = false;
            in_record_ = false;
            record_keys_.clear();
        } else {
            std::swap(record_, capture_outer_);
            text = &capture_outer_;
            dest = &record_;
        }
        ++counters_.records_in;
        ++counters_.nested_in;
        json_filter* own = nullptr;
        for (std::size_t i : g.sets) {
            const nested_record_set& set = spec_.nested[i];
            const std::size_t slot = runners_[i].discriminator;
            if (set.discriminator.empty() ||
                (capture_seen_[slot] && capture_values_[slot] == set.discriminator_value)) {
                own = runners_[i].filter.get();
                break;
            }
        }
        if (own == nullptr) {
            // Of no set, or of one the purpose reads nothing of.
            ++counters_.nested_discarded;
            ++counters_.dropped[static_cast<std::size_t>(drop_reason::condition)];
            return true;
        }
        nested_text_.clear();
        std::optional<drop_reason> reason;
        if (error_code e = filter_nested(*own, *text, nested_text_, reason)) {
            ec = e;
            return false;
        }
        if (reason) {
            ++counters_.dropped[static_cast<std::size_t>(*reason)];
            return true;
        }
        if (envelope) {
            if (spec_.max_records != 0 && counters_.records_out >= spec_.max_records) {
                return fail(ec, filter_error::record_limit_exceeded);
            }
            ++counters_.records_out;
            ++counters_.nested_out;
        } else {
            ++pending_out_;  // counted with its main record, which may still be dropped
        }
        if (parent.emitted++ != 0) dest->push_back(',');
        if (parent.object) {
            dest->push_back('"');
            dest->append(capture_key_);
            dest->append("\":");
        }
        dest->append(nested_text_);
        // A side-loaded record is written to the output whole, like a main one: a place to cut.
        if (envelope) mark_record();
        return true;
    }

    [[gnu::noinline]] void push(const plan& p, bool object, std::uint32_t child) {
        if (p.m == mode::record) {
            start_record();
        } else if (p.m == mode::nested_set) {
            (in_record_ ? record_ : out()).push_back(object ? '{' : '[');
        } else if (p.m != mode::skip && p.m != mode::records) {
            sink(p.m).push_back(object ? '{' : '[');
        } else if (p.m == mode::records) {
            out().push_back('[');
        }
        // Built in place: a frame is large, and containers open several times per record.
        const bool nested = !frames_.empty() && in_record_;
        const bool stable = nested && frames_.back().ptr_stable && frames_.back().object;
        frame& f = frames_.emplace_back();
        f.m = p.m;
        f.object = object;
        f.collect = p.collect;
        f.chain = p.chain;
        f.ptr = p.ptr;
        f.side = p.side;
        f.xform = p.xform;
        f.group = p.group;
        f.scope = ++scopes_;
        f.keys_mark = envelope_keys_.mark();
        f.path_len = path_.size();
        f.base = p.base;
        f.ptr_len = ptr_.size();
        if (nested) {
            f.node = child;
            if (child != no_node) f.path_len = paths_[child].path.size();
            f.ptr_stable = stable;
            if (p.m == mode::nested_set) f.node = no_node;  // its elements take the slow path
        }
        if (p.m == mode::record) {
            f.node = path_table::root;
            f.ptr_stable = true;
            f.path_len = 0;
            f.base = 0;
            f.collect = !needed_.empty();
            f.chain = !spec_.field_root.empty();
            f.ptr = (ndjson_ || single_root_) && p.ptr;
            f.ptr_len = 0;
        }
        if (record_depth_ != 0 && frames_.size() == record_depth_) {
            const std::uint64_t at = guessing_ ? guess_open_ : next_mark();
            if (p.m == mode::record) record_begin_ = at;
        }
    }

    void start_record() {
        if ((ndjson_ || single_root_) && !spec_.link_fields.empty()) ptr_.clear();
        ++counters_.records_in;
        in_record_ = true;
        record_keys_.clear();
        record_.clear();
        record_.push_back('{');
        fields_.clear();
        path_.clear();
    }

    bool close(error_code& ec) {
        const frame& f = frames_.back();
        const mode m = f.m;
        const char closer = f.object ? '}' : ']';
        if (record_depth_ != 0 && frames_.size() == record_depth_) {
            const std::uint64_t at =
                guessing_ ? guess_offset_ + static_cast<std::uint64_t>(closing_ - guess_base_)
                          : next_mark();
            if (m == mode::record && at - record_begin_ + 1 > spec_.max_record_bytes) {
                return fail(ec, filter_error::record_too_large);
            }
        }
        // A record's keys go all at once when the next record starts.
        if (!in_record_) envelope_keys_.truncate(f.keys_mark);
        frames_.pop_back();  // f is gone from here on
        switch (m) {
            case mode::envelope:
            case mode::records:
                out().push_back(closer);
                break;
            case mode::filter:
            case mode::keep:
                record_.push_back(closer);
                break;
            case mode::record:
                return end_record(ec);
            case mode::nested_set:
                (in_record_ ? record_ : out()).push_back(closer);
                break;
            case mode::element:
                record_.push_back('}');
                return end_element(ec);
            case mode::skip:
            case mode::transform:  // never a frame's
                break;
        }
        return true;
    }

    bool end_record(error_code& ec) {
        record_.push_back('}');
        in_record_ = false;
        // Transformed values can write a record longer than it arrived: the written record is
        // bounded too, here, once, so the outcome depends neither on the chunking nor on where
        // a value's escapes fall.
        if (record_.size() > spec_.max_record_bytes) {
            return fail(ec, filter_error::record_too_large);
        }
        // Nested records kept inside this one share its fate.
        const std::uint64_t nested = pending_out_;
        pending_out_ = 0;
        fields_.in_text(record_);  // the values collect_whole() left in place
        if (!spec_.rules.empty()) {
            if (auto reason = evaluate(spec_.rules, fields_)) {
                counters_.dropped[static_cast<std::size_t>(*reason)] += 1 + nested;
                if (settle_transforms_) transformer_.end_record(false);
                if (single_) out().append("null");
                spec_.rules.report(fields_, false);
                return true;
            }
        }
        if (spec_.max_records != 0 && counters_.records_out + nested >= spec_.max_records) {
            return fail(ec, filter_error::record_limit_exceeded);
        }
        spec_.rules.report(fields_, true);
        if (settle_transforms_) transformer_.end_record(true);
        counters_.records_out += 1 + nested;
        counters_.nested_out += nested;
        if (ndjson_) {
            out().append(record_);
            out().push_back('\n');
        } else if (single_) {
            out().append(record_);  // its key (or nothing, at the root) is written
        } else {
            frame& parent = frames_.back();
            if (parent.emitted++ != 0) out().push_back(',');
            out().append(record_);
        }
        mark_record();
        return true;
    }

    // The record just written ends here (a separator before the next one is that one's). Out of
    // line: with marks off a record pays one test.
    void mark_record() {
        if (record_marks_ != nullptr) push_record_mark();
    }
    [[gnu::noinline]] void push_record_mark() {
        record_marks_->push_back({out().size(), counters_.records_out});
    }

    std::uint64_t next_mark() {
        // The scanner saw every byte the parser has; a missing mark would be a bug, not input.
        return next_mark_ < marks_.size() ? marks_[next_mark_++] : 0;
    }

    bool scalar_part(std::string_view s, error_code& ec) {
        if (scalar_sink_ != nullptr) {
            if (scalar_string_ && !from_input(s)) {
                common::append_json_escaped(*scalar_sink_, s);
            } else {
                scalar_sink_->append(s);
            }
        }
        if (scalar_collect_ || scalar_special_ != special_none) value_.append(s);
        // The written record is bounded as it grows; a value written nowhere does not grow it
        // (end_record checks the whole, whatever the chunking).
        if (value_.size() > spec_.max_record_bytes ||
            (in_record_ && scalar_sink_ != nullptr && record_.size() > spec_.max_record_bytes)) {
            return fail(ec, filter_error::record_too_large);
        }
        return true;
    }

    bool number_end(std::string_view s, error_code& ec) {
        if (!scalar_open_) return whole_scalar(value_kind::number, s, ec);
        return scalar_part(s, ec) && end_scalar(ec);
    }

    bool literal(std::string_view text, error_code& ec) {
        return whole_scalar(value_kind::literal, text, ec);
    }

    // A stripped-field counter bumped; noted while a record is guessed, to be taken back.
    [[gnu::always_inline]] void bump(std::uint64_t* c) {
        ++*c;
        if (guessing_) {
            if (journal_at_ == journal_end_) grow_journal();
            *journal_at_++ = c;
        }
    }
    [[gnu::noinline]] void grow_journal() {
        const auto used = static_cast<std::size_t>(journal_at_ - journal_.data());
        journal_.resize(std::max<std::size_t>(64, journal_.size() * 2));
        journal_at_ = journal_.data() + used;
        journal_end_ = journal_.data() + journal_.size();
    }

    // The usual scalar: a member stripped whole that no condition reads; it is counted and
    // nothing more. key_node_ names it when the value's container is an object with a path node.
    [[gnu::always_inline]] bool skipped_quietly(value_kind k) {
        if (!in_record_ || key_node_ == no_node) return false;
        const path_node& n = paths_[key_node_];
        const cached_plan& c = n.plans[static_cast<std::size_t>(k)];
        if (!c.quiet_skip) return false;
        const frame& f = frames_.back();
        if (!f.object || (f.ptr && !(n.link_checked && !n.linked))) return false;
        if (c.stripped != nullptr) bump(c.stripped);
        return true;
    }

    bool skipped_container_quietly(value_kind k) {
        if (!in_record_ || key_node_ == no_node) return false;
        const path_node& n = paths_[key_node_];
        const cached_plan& c = n.plans[static_cast<std::size_t>(k)];
        if (!c.quiet_skip || c.p.ptr || c.p.side || c.p.xform) return false;
        const frame& f = frames_.back();
        if (!f.object || (f.ptr && !(n.link_checked && !n.linked))) return false;
        if (c.stripped != nullptr) bump(c.stripped);
        return true;
    }

    [[gnu::noinline]] bool stand_in(error_code&) {
        --stand_in_;
        return true;
    }

    // A scalar that arrived in one piece. A stripped one nobody reads costs nothing more; the
    // rest is out of line, so the common case saves no registers.
    [[gnu::always_inline]] bool whole_scalar(value_kind k, std::string_view s, error_code& ec) {
        return skipped_quietly(k) || whole_scalar_slow(k, s, ec);
    }

    [[gnu::noinline]] bool whole_scalar_slow(value_kind k, std::string_view s, error_code& ec) {
        if (replayed_quietly(k, s)) return true;
        if (!begin_value(k, ec)) return false;
        if (scalar_special_ == special_none) {
            if (!scalar_collect_) {
                if (scalar_sink_ == nullptr) {
                    scalar_open_ = false;
                    return true;
                }
                if (scalar_string_ && closing_quote_follows(s)) {
                    // A string read straight from the input: copied with its closing quote.
                    scalar_sink_->append(s.data(), s.size() + 1);
                    scalar_open_ = false;
                    return !in_record_ || record_.size() <= spec_.max_record_bytes ||
                           fail(ec, filter_error::record_too_large);
                }
            } else if (disc_slot_ == no_slot && (!scalar_string_ || closing_quote_follows(s))) {
                return collect_whole(s, ec);
            }
        }
        return scalar_part(s, ec) && end_scalar(ec);
    }

    // A member whose cached plan keeps it as it is, or strips it for a condition or the subject
    // index to read (a consent flag, an id), in one piece and as it is in the input (a string
    // without escapes): kept, its key and value are written into the record; read, its value (or
    // its place in the record) goes to the record's fields. Nothing more: the same as
    // begin_value() replaying the plan and collect_whole() or the plain copy then, without the
    // scalar's state in between. Anything else (escapes, a nested copy in progress, a value that
    // would pass the record's bound, a link pointer not known to pass it by): false, and the
    // caller goes the long way.
    [[gnu::always_inline]] bool replayed_quietly(value_kind k, std::string_view s) {
        if (!in_record_ || key_node_ == no_node) return false;
        const path_node& n = paths_[key_node_];
        const cached_plan& c = n.plans[static_cast<std::size_t>(k)];
        if (!c.quiet_collect && !c.quiet_keep) return false;
        frame& f = frames_.back();
        if (!f.object || (f.ptr && !(n.link_checked && !n.linked))) return false;
        const bool string = k == value_kind::string;
        if (string && !closing_quote_follows(s)) return false;
        if (c.quiet_keep) {
            const std::string& member = string ? n.member_string : n.member;
            if (capturing_ ||
                record_.size() + member.size() + s.size() + 1 > spec_.max_record_bytes)
                return false;
            if (c.stripped != nullptr) bump(c.stripped);
            write_member(f, n, k);
            const std::size_t at = record_.size();
            record_.append(s.data(), s.size() + (string ? 1 : 0));  // a string's closing quote
            if (c.p.collect) {
                const record_fields::route r = quiet_route(n, c);
                fields_.add_in_text(r, r.rules ? collected_path() : std::string_view{}, at,
                                    s.size());
            }
            return true;
        }
        if (s.size() > spec_.max_record_bytes) return false;
        if (c.stripped != nullptr) bump(c.stripped);
        const record_fields::route r = quiet_route(n, c);
        fields_.add_routed(r, r.rules ? collected_path() : std::string_view{}, s);
        return true;
    }
    // collected_route() for replayed_quietly's member (key_node_): the scalar it reads is this.
    [[gnu::always_inline]] record_fields::route quiet_route(const path_node& n,
                                                            const cached_plan& c) {
        scalar_node_ = key_node_;
        scalar_base_ = c.p.base;
        if (n.route_base == c.p.base) [[likely]]
            return n.route;
        return decide_route();
    }

    // A scalar a rule or the subject index reads, whole and as it is in the input: a number, a
    // literal, or a string without escapes (its text is its value). Not copied through value_:
    // written to the record, it is read from there when the record is decided
    // (record_fields::add_in_text); stripped, it is copied once, into the fields.
    bool collect_whole(std::string_view s, error_code& ec) {
        scalar_open_ = false;
        if (scalar_sink_ == nullptr) {
            if (s.size() > spec_.max_record_bytes) return fail(ec, filter_error::record_too_large);
            add_collected(s);
            return true;
        }
        if (scalar_sink_ != &record_ || !in_record_ || capturing_) {
            // Outside the record's own text (the envelope, a nested element being copied).
            return scalar_part(s, ec) && end_scalar(ec);
        }
        const std::size_t at = record_.size();
        record_.append(s.data(), s.size() + (scalar_string_ ? 1 : 0));  // a string's closing quote
        const record_fields::route r = collected_route();
        fields_.add_in_text(r, r.rules ? collected_path() : std::string_view{}, at, s.size());
        return record_.size() <= spec_.max_record_bytes || fail(ec, filter_error::record_too_large);
    }

    // Where the collected scalar's values go (record_fields::route): decided once per path node
    // and base, then replayed.
    [[gnu::always_inline]] record_fields::route collected_route() {
        if (scalar_node_ != no_node) {
            const path_node& n = paths_[scalar_node_];
            if (n.route_base == scalar_base_) [[likely]] return n.route;
        }
        return decide_route();
    }
    [[gnu::noinline]] record_fields::route decide_route() {
        if (scalar_node_ == no_node) return fields_.route_of(collected_path());
        path_node& n = paths_[scalar_node_];
        n.route = fields_.route_of(collected_path());
        n.route_base = scalar_base_;
        return n.route;
    }
    void add_collected(std::string_view value) {
        const record_fields::route r = collected_route();
        fields_.add_routed(r, r.rules ? collected_path() : std::string_view{}, value);
    }

    // The path a collected scalar is reported at: relative to its record (scalar_base_).
    [[nodiscard]] std::string_view collected_path() const {
        if (scalar_node_ != no_node) {
            const std::string& path = paths_[scalar_node_].path;
            return std::string_view(path).substr(std::min(scalar_base_, path.size()));
        }
        return rel_path(scalar_base_);
    }

    bool end_scalar(error_code&) {
        scalar_open_ = false;
        if (scalar_sink_ != nullptr && scalar_string_) scalar_sink_->push_back('"');
        if (scalar_collect_ && (disc_slot_ == no_slot || take_discriminator())) {
            add_collected(value_);
        }
        if (scalar_special_ != special_none) {
            if (scalar_special_ == special_link) {
                rewrite_link();
            } else {
                end_transformed();
            }
        }
        return true;
    }

    void rewrite_link() {
        std::optional<std::string> url;
        const link_rewriter& rewrite = link_is_token_ ? spec_.seal_token : spec_.rewrite_link;
        if (rewrite) url = rewrite(value_);
        if (!url) {
            ++counters_.links_removed;
            return;
        }
        frame& f = frames_.back();
        if (f.m == mode::skip) {
            ++counters_.links_removed;  // inside a stripped value: goes with it
            return;
        }
        ++counters_.links_rewritten;
        std::string& s = sink(f.m == mode::envelope ? mode::envelope : mode::keep);
        open_child(f, s);
        s.push_back('"');
        common::append_json_escaped(s, *url);
        s.push_back('"');
    }

    filter_spec spec_;
    bool ndjson_;
    bool single_;                       // JSON: spec_.records is one record, not an array
    bool single_root_;                  // ... and that record is the document
    std::unique_ptr<json_memory> shell_;  // the memory started from, its tables moved out
    std::vector<std::string> needed_;   // fields the record rules read, sorted
    std::vector<std::string> targets_;  // pointers to find: records (JSON) and link fields
    std::size_t record_depth_;          // JSON: depth of record objects (top level is 1)

    filter_counters counters_;
    std::string* out_ = nullptr;
    std::vector<frame> frames_;
    json_key_set envelope_keys_;  // keys of the open envelope objects
    json_key_set record_keys_;    // keys of the current record's objects
    std::uint64_t scopes_ = 0;
    std::string key_;         // the key just read, decoded (see key())
    bool key_parts_ = false;  // key_ holds the first parts of a key being read
    bool key_lazy_ = false;   // the key just read is paths_[key_node_].key, not yet in key_
    std::string path_;        // dotted path of the current value inside the record
    std::string ptr_;         // JSON pointer of the current value (envelope; NDJSON links)
    std::string scratch_;
    std::string below_;  // needed_below()'s own scratch: its argument may live in scratch_
    facts_map facts_;
    path_facts uncached_;  // the answer handed out when the cache is full
    std::string record_;   // the current record, filtered, compact
    std::string value_;    // the current scalar, decoded, when collected or a link
    record_fields fields_;
    bool in_record_ = false;
    int stand_in_ = 0;  // events of the fast path's stand-in still to swallow
    bool records_found_ = false;
    std::uint64_t record_begin_ = 0;
    std::vector<std::uint64_t> marks_;
    std::size_t next_mark_ = 0;

    // A record guessed whole (begin_guess): where it opened, how to place the byte it closes at,
    // and what take_back_guess() restores.
    bool guessing_ = false;
    std::uint64_t guess_open_ = 0;
    const char* guess_base_ = nullptr;
    std::uint64_t guess_offset_ = 0;
    const char* closing_ = nullptr;
    std::size_t guess_frames_ = 0;
    std::uint64_t guess_records_in_ = 0;
    std::size_t guess_ptr_len_ = 0;
    std::vector<std::uint64_t*> journal_;   // the stripped counters the guess bumped: up to
    std::uint64_t** journal_at_ = nullptr;  // ... here, in room up to journal_end_
    std::uint64_t** journal_end_ = nullptr;

    bool scalar_open_ = false;
    bool scalar_string_ = false;
    // A scalar read into value_ for more than the rules: a link to rewrite, or a value to
    // transform (scalar_transform_ says which transform).
    enum special : std::uint8_t { special_none, special_link, special_transform };
    special scalar_special_ = special_none;
    bool scalar_collect_ = false;
    std::size_t scalar_base_ = 0;
    std::string* scalar_sink_ = nullptr;
    std::uint32_t scalar_node_ = no_node;

    path_table paths_;
    std::uint32_t key_node_ = no_node;        // node of the key just read (in a record)
    std::uint32_t expected_node_ = no_node;   // expected_key()'s node, for take_expected_key()
    std::uint64_t* last_stripped_ = nullptr;  // the counter strip() bumped last
    std::uintptr_t input_begin_ = 0;
    std::uintptr_t input_end_ = 0;

    // Nested record sets and nested filters' options: kept after the members every record uses.
    std::string keep_member_;   // nested_options::keep_member
    std::string strip_prefix_;  // nested_options::strip_prefix
    stripped_map* stripped_;    // where strip() counts: own_stripped_, or the main filter's
    stripped_map own_stripped_;  // a main filter's: reported by report_stripped()
    stripped_map spare_report_;  // nodes for report_stripped(), from the memory started from
    std::string strip_name_;

    // Nested record sets.
    std::vector<nested_group> groups_;
    std::vector<nested_runner> runners_;  // by filter_spec::nested index
    bool has_document_groups_ = false;
    bool has_record_groups_ = false;
    std::size_t capture_group_ = 0;   // the group of the element being copied
    bool capture_envelope_ = false;   // an element is copied outside any main record
    bool capturing_ = false;          // record_ holds a nested element being copied
    bool link_is_token_ = false;      // the open link value is a paging token (token_fields)
    std::string capture_outer_;       // the main record's buffer, parked during a copy
    std::string capture_key_;         // a map element's key, escaped
    std::vector<bool> capture_seen_;  // by discriminator name: the element has it
    std::vector<std::string> capture_values_;
    std::size_t disc_slot_ = no_slot;  // the scalar being read is this discriminator
    bool disc_fields_ = false;         // ... and the main rules read it too
    std::string nested_text_;          // a nested record as its set's filter wrote it
    std::uint64_t pending_out_ = 0;    // nested records kept in the open main record

    // Field transforms.
    bool has_transforms_;
    stripped_map* transformed_;       // where transformed values are counted
    stripped_map* transform_failed_;  // ... and values a transform could not read
    field_transformer transformer_;
    // Records end with transform counts to settle: this filter's, or its in-record sets'.
    bool settle_transforms_;
    std::uint32_t scalar_transform_ = no_transform;  // the transformed scalar's transform
    std::string transform_text_;                     // a transformed value before it is escaped

    std::vector<record_mark>* record_marks_ = nullptr;  // the caller's (set_record_marks)
};

}  // namespace exportwall::filters::json_detail
