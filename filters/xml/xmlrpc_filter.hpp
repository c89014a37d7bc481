#pragma once
// XML-RPC answer filter (expat, streaming; DTDs refused): Odoo's search_read answer over XML-RPC,
//
//   <methodResponse><params><param><value><array><data>
//     <value><struct><member><name>email</name><value><string>…</string></value></member>…
//     </struct></value>…
//   </data></array></value></param></params></methodResponse>
//
// where field names are element TEXT (<name>), which the XML filter (element names) cannot read.
// Every struct of the result's array is a record of the route's entity, filtered by
// filter_spec::allowed and ::rules (records, field_root, link_fields and nested are unused: the
// answer's shape is fixed). See xmlrpc_filter.cpp for the contract in full.

#include <memory>

#include "filters/record_filter.hpp"

namespace exportwall::filters {

[[nodiscard]] std::unique_ptr<record_filter> make_xmlrpc_filter(filter_spec spec);

}  // namespace exportwall::filters
