#pragma once
// A thread's shelf of what its recent filters learnt (record_filter::take_memory): the JSON
// filters decide each path of a record the first time they see it and replay the plan for every
// later record; a small export of 4 records spends most of its filtering on those first
// decisions. The next export of an equal spec on the same thread starts from the plans the last
// one decided instead (issue 20: ~8 of a small export's 10 µs of filtering).
//
// Safe by construction: a memory goes only to a filter whose spec decides every path as the
// spec the memory was learnt for (same_decisions, checked again where the memory is adopted), and
// only from a filter that ended without error. The plans are a function of the spec alone; what
// changes per export (the counters, the buffers, the callbacks: links, tokens, the suppression
// list, the subject index) is the new filter's own.

#include <memory>

#include "filters/record_filter.hpp"

namespace exportwall::filters {

// True when every member of the two specs that decides what happens to a path or a record is
// equal: everything but max_records (an export's remaining quota, read where records are
// counted), and the callbacks and the pseudonymisation keys, which are compared by presence only
// (a link rewriter present or not changes the plans, which one does not; a key changes the
// values a transform writes, never which values it transforms).
[[nodiscard]] bool same_decisions(const filter_spec& a, const filter_spec& b);

// A copy of `spec` to keep in a filter_memory: the callbacks (links, tokens, the suppression
// list, the subject index) are replaced by ones that hold nothing of the export and are never
// called, and a pseudonymisation key by a stand-in, so a memory keeps no export's state and no
// key alive past a reload that replaced it; same_decisions(spec, decisions_only(spec)) holds.
[[nodiscard]] filter_spec decisions_only(const filter_spec& spec);

// make_filter(spec), starting from the memory on this thread's shelf learnt for an equal spec,
// when there is one (it leaves the shelf: one filter at a time uses a memory).
[[nodiscard]] std::unique_ptr<record_filter> make_filter_remembering(filter_spec spec);

// Puts what `filter` learnt on this thread's shelf (after its finish() returned no error;
// otherwise nothing). The shelf keeps the most recent memories, several of one spec (exports run
// side by side on a thread, each with a memory of its own), bounded in number and in weight
// (filter_memory::weight); the filter is spent afterwards. Never throws: a memory that cannot be
// kept is dropped.
void remember(record_filter& filter) noexcept;

// The memories on this thread's shelf (tests).
[[nodiscard]] std::size_t shelved_memories();
// Empties this thread's shelf (tests; a configuration reload need not: a memory is only ever
// used for an equal spec).
void clear_shelf();

}  // namespace exportwall::filters
