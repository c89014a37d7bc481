#pragma once
// `exportwall audit replay --config NEW [--log FILE] [--since T] [--until T] [--ignore-chain]
// [--format text|json]`: what if NEW had been in force? Every export the trail recorded (client,
// purpose, destination, route, method, requested fields, at its own time) is decided again under
// NEW's policy, and what would change is listed: exports newly refused (with the reason and its
// rule), exports newly allowed, fields newly stripped and fields newly exposed; counts at the end.
// A trail whose chain is broken is not replayed unless --ignore-chain (it says where it breaks).
// argv[0] is "replay".
// Exit codes: 0 nothing would change, 1 something would (or the chain is broken), 2 usage error.

#include <iosfwd>
#include <string>
#include <vector>

#include "audit/record.hpp"
#include "config/configuration.hpp"

namespace exportwall::cli {

// What NEW decides for one recorded export, against what was recorded.
struct replayed_export {
    bool replayed = false;     // false: not an export (a policy load, a checkpoint, an alert)
    bool was_refused = false;  // recorded `blocked`
    bool now_refused = false;
    std::string reason;                       // NEW's reason code when now_refused
    std::string rule_id;                      // its legal rule, "" for none
    std::vector<std::string> newly_stripped;  // asked for, delivered then, stripped under NEW
    std::vector<std::string> newly_exposed;   // asked for, stripped then, delivered under NEW
    // The export asked for no field by name (every field the purpose kept): field changes are
    // not known from the record.
    bool fields_unknown = false;

    [[nodiscard]] bool changed() const {
        return was_refused != now_refused || !newly_stripped.empty() || !newly_exposed.empty();
    }
};

// Decides `rec` again under `config` (at the record's time, as the recorded client). Pure.
[[nodiscard]] replayed_export replay_export(const config::configuration& config,
                                            const audit::record& rec);

[[nodiscard]] int run_audit_replay(int argc, char** argv);
// The same, writing to `out` and `err` (tests run the command in-process).
[[nodiscard]] int run_audit_replay(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace exportwall::cli
