#include "config/query/guard.hpp"

#include "config/query/guard_support.hpp"
#include "config/query/odata.hpp"
#include "config/query/odoo_rpc.hpp"
#include "config/query/odoo_xmlrpc.hpp"
#include "config/query/params.hpp"
#if __has_include("config/query/soql.hpp")
#include "config/query/soql.hpp"
#define EXPORTWALL_QUERY_SOQL 1
#endif
#if __has_include("config/query/hubspot_search.hpp")
#include "config/query/hubspot_search.hpp"
#define EXPORTWALL_QUERY_HUBSPOT 1
#endif
#if __has_include("config/query/jsonapi.hpp")
#include "config/query/jsonapi.hpp"
#define EXPORTWALL_QUERY_JSONAPI 1
#endif

namespace exportwall::config::query {

guarded_query guard(language lang, const field_policy& policy, std::string_view raw_query,
                    std::string_view body) {
    guarded_query q;
    switch (lang) {
        case language::none:
            return guard_params(policy, raw_query, false);
        case language::params:
            return guard_params(policy, raw_query, true);
        case language::odata:
            return guard_odata(policy, raw_query);
#ifdef EXPORTWALL_QUERY_SOQL
        case language::soql:
            return body.empty() ? guard_soql_rest(policy, raw_query)
                                : guard_soql_soap(policy, body);
#endif
#ifdef EXPORTWALL_QUERY_HUBSPOT
        case language::hubspot_search:
            return guard_hubspot_search(policy, raw_query, body);
#endif
#ifdef EXPORTWALL_QUERY_JSONAPI
        case language::jsonapi:
            return guard_jsonapi(policy, raw_query);
#endif
        case language::odoo_rpc:
            return guard_odoo_rpc(policy, raw_query, body);
        case language::odoo_xmlrpc:
            return guard_odoo_xmlrpc(policy, raw_query, body);
        default:
            break;
    }
    fail_unsupported(q, "(query)", 0, "this query language is not built in");
    return q;
}

std::string_view body_media_type(language l) {
    switch (l) {
        case language::soql:
        case language::odoo_xmlrpc:
            return "text/xml; charset=utf-8";
        case language::hubspot_search:
        case language::odoo_rpc:
            return "application/json";
        case language::none:
        case language::params:
        case language::odata:
        case language::jsonapi:
            break;
    }
    return {};
}

}  // namespace exportwall::config::query
