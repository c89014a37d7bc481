#pragma once
// What Odoo's two external-API transports share (docs/query-languages.md#odoo-rpc and
// #odoo-xmlrpc): the arguments of one `execute_kw` call of `search_read`,
//
//   [db, uid, password, model, "search_read", [domain], {fields, limit, offset, order}]
//
// read as JSON values (JSON-RPC carries them so; the XML-RPC guard reads its <params> into the
// same values), checked against the purpose's field policy, and handed back in the form each
// transport re-serialises. One checker, so a call one transport forwards the other forwards too:
// the domain's terms ([field, operator, value] in Polish notation with '&', '|', '!'), the order
// and the fields are checked; the client's db, uid and password are read past, never forwarded.

#include <cstdint>
#include <functional>
#include <string>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "config/query/guard.hpp"

namespace exportwall::config::query {

// A checked call, ready to be written by its transport.
struct odoo_search_read {
    std::int64_t uid = 0;        // the upstream's rpc-user, as a number
    boost::json::array domain;   // the domain as checked: operators and terms of scalars
    boost::json::object kwargs;  // limit, offset, order (canonical) in the client's order, then
                                 // "fields": q.sent
};

// Receives a structural refusal: `pointer` is a JSON pointer into execute_kw's argument list ("":
// the list itself, "/5/0/2/1": the domain's third entry's operator), `what` says why (names and
// positions, never a value). The transport prefixes the pointer with its own place of the list
// and fails `q` (fail_unsupported); it returns false.
using odoo_refusal = std::function<bool(const std::string& pointer, const std::string& what)>;

// Checks execute_kw's argument list `args` of a search_read call on the route's model. True with
// `out` and q's selection (requested, kept, stripped, sent) filled; false when refused: through
// `refuse` for a call it does not accept, or with q set by check_read for a field the purpose
// does not keep.
[[nodiscard]] bool check_odoo_search_read(const field_policy& policy, guarded_query& q,
                                          const boost::json::array& args,
                                          const odoo_refusal& refuse, odoo_search_read& out);

}  // namespace exportwall::config::query
