#pragma once
// `exportwall audit subject --config FILE (--id ID [--entity E] | --email ADDRESS)
// [--log FILE] [--since T] [--until T] [--format text|json]`: every export that delivered the
// person's data (GDPR art. 15(1)(c); art. 19 and 21(3) for passing an erasure or an objection on
// to its recipients), from the subject index beside the audit trail (audit/subject_index.hpp).
// argv[0] is "subject". It reads both the configuration (the key, the entities, the
// destinations' organisations and countries) and the audit trail; the lookup itself is
// proxy/enforce/subject_lookup.hpp, which the admin API shares.
// Exit codes: 0 found, 1 not found (or the index does not match its records), 2 usage error.

#include <iosfwd>

namespace exportwall::cli {

[[nodiscard]] int run_audit_subject(int argc, char** argv);
// The same, writing to `out` and `err` (tests run the command in-process).
[[nodiscard]] int run_audit_subject(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace exportwall::cli
