#pragma once
// The Odoo XML-RPC guard (docs/query-languages.md#odoo-xmlrpc): the external API's `execute_kw`
// call of `search_read` on the route's model, as Odoo's /xmlrpc/2/object endpoint takes it:
//
//   <methodCall><methodName>execute_kw</methodName><params>
//     <param><value><string>db</string></value></param>
//     <param><value><int>uid</int></value></param>
//     <param><value><string>password</string></value></param>
//     <param><value><string>res.partner</string></value></param>
//     <param><value><string>search_read</string></value></param>
//     <param><value><array><data>[domain]</data></array></value></param>
//     <param><value><struct>{fields, limit, offset, order}</struct></value></param>
//   </params></methodCall>
//
// The params are read into JSON values (string, int / i4 / i8, boolean, double, nil, array,
// struct; dateTime.iso8601, base64 and anything else are refused) and checked by the checker the
// JSON-RPC guard uses (config/query/odoo_call.hpp): the same domain operators, order, fields and
// keywords pass. The XML is parsed with pugixml after a scan that refuses what pugixml would read
// differently from Odoo's expat, or not at all: a DOCTYPE, an entity reference other than the
// five predefined ones, a character reference or byte that is no XML character, bytes that are
// no UTF-8. Comments, processing instructions, attributes, namespaces and text where XML-RPC has
// none are refused too. The client's db, uid and password are never forwarded: the upstream's
// rpc-login is written in their place, and the body is written afresh from the parsed values.

#include <string_view>

#include "config/query/guard.hpp"

namespace exportwall::config::query {

// On forward, q.body is the methodCall written afresh and q.query is empty. A refusal names
// parameter "body", the byte offset of the element it points at, and (for the call's arguments)
// a JSON pointer into <params> ("/params/5/0/2/1": the domain's third entry's operator).
[[nodiscard]] guarded_query guard_odoo_xmlrpc(const field_policy& policy,
                                              std::string_view raw_query, std::string_view body);

}  // namespace exportwall::config::query
