#pragma once
// Who received a person's data: the lookup behind `exportwall audit subject` and the review
// page's POST /admin/subject. The person's id or e-mail address is normalised as the suppression
// list normalises it, digested under the configuration's subject key, looked up in the subject
// index beside the audit trail (audit/subject_index.hpp), and each export found is listed from
// its audit record with its destination's organisation and country. Lives in proxy/ because it
// reads both the configuration and the trail. Never logs or returns the looked-up value.

#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "audit/reader.hpp"
#include "audit/record.hpp"
#include "config/configuration.hpp"

namespace exportwall::proxy {

struct subject_query {
    std::string id;      // the person's record id in the CRM, or
    std::string email;   // their e-mail address (exactly one of the two)
    std::string entity;  // with id: the entity it belongs to ("" = every entity with an id field)
    audit::record_filter period;  // since_ms / until_ms only
};

// One export that delivered the person's data.
struct subject_export {
    audit::record rec;
    std::string organisation;  // of its destination in the configuration ("" when not named)
    std::string country;
    // The index chunks hash to the record's subject_index and name the dictionary as it is.
    bool intact = true;
};

struct subject_answer {
    enum class outcome {
        found,       // exports listed
        not_found,   // no export delivered the person (or no index yet)
        usage,       // the query or the configuration cannot answer: `message` says why
        unreadable,  // the index or the trail cannot be read: `message` says why
    };
    outcome result = outcome::not_found;
    std::vector<subject_export> exports;
    // Every listed export's index matches its record, and the dictionary its chain (an edited
    // dictionary may hide a person: false also when nothing was found).
    bool intact = true;
    bool no_index = false;  // no index file yet (no export delivered records under a key)
    // One sentence for usage / unreadable, and for no_index; never the looked-up value.
    std::string message;
};

// Looks the person up in the index of the trail whose active file is `log_path`.
[[nodiscard]] subject_answer find_subject(const config::configuration& cfg,
                                          const std::string& log_path, const subject_query& q);

// {"found":bool,"index_intact":bool,"exports":[{"audit_id","time","decision","client","purpose",
// "basis","destination","destination_kind","organisation","country","records_out",
// "index_intact"}]}
[[nodiscard]] boost::json::object subject_answer_json(const subject_answer& answer);

}  // namespace exportwall::proxy
