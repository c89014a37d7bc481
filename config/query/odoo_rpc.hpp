#pragma once
// The Odoo JSON-RPC guard (docs/query-languages.md#odoo-rpc): the external API's `execute_kw`
// call of `search_read` on the route's model, as Odoo's /jsonrpc endpoint takes it:
//
//   {"jsonrpc":"2.0","method":"call","id":1,"params":{"service":"object","method":"execute_kw",
//    "args":[db, uid, password, "res.partner", "search_read", [domain],
//            {"fields":[…],"limit":N,"offset":N,"order":"name asc, id desc"}]}}
//
// The domain's terms ([field, operator, value], '&', '|', '!'), the order and the fields are
// checked; the client's db, uid and password are never forwarded: the upstream's (rpc-login) are
// written in their place. The body is re-serialised from the parsed form.

#include <string_view>

#include "config/query/guard.hpp"

namespace exportwall::config::query {

[[nodiscard]] guarded_query guard_odoo_rpc(const field_policy& policy, std::string_view raw_query,
                                           std::string_view body);

}  // namespace exportwall::config::query
