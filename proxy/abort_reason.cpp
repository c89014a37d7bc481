#include "proxy/abort_reason.hpp"

#include "config/decide.hpp"

namespace exportwall::proxy {

std::string_view to_string(abort_reason r) noexcept {
    using config::reason;
    switch (r) {
        case abort_reason::client_closed:
            return "client_closed";
        case abort_reason::client_write_timeout:
            return "client_write_timeout";
        case abort_reason::shutdown:
            return "shutdown";
        case abort_reason::upstream_reset:
            return "upstream_reset";
        case abort_reason::upstream_timeout:
            return config::to_string(reason::upstream_timeout);
        case abort_reason::upstream_malformed:
            return config::to_string(reason::upstream_malformed);
        case abort_reason::record_limit_exceeded:
            return config::to_string(reason::record_limit_exceeded);
        case abort_reason::quota_exceeded:
            return config::to_string(reason::quota_exceeded);
        case abort_reason::quota_store_unavailable:
            return config::to_string(reason::quota_store_unavailable);
        case abort_reason::audit_unavailable:
            return config::to_string(reason::audit_unavailable);
    }
    return config::to_string(reason::upstream_malformed);
}

std::string_view audit_reason(abort_reason r) noexcept {
    if (r == abort_reason::upstream_reset) return to_string(abort_reason::upstream_malformed);
    return to_string(r);
}

}  // namespace exportwall::proxy
