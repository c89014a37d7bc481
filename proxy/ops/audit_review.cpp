#include "proxy/ops/audit_review.hpp"

#include <ctime>
#include <mutex>
#include <string_view>
#include <utility>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "audit/checkpoint.hpp"
#include "audit/flows.hpp"
#include "audit/query.hpp"
#include "audit/report.hpp"
#include "audit/review_page.hpp"
#include "proxy/enforce/subject_lookup.hpp"

namespace exportwall::proxy {

namespace {

admin_response json_answer(unsigned status, const boost::json::object& o) {
    return admin_response{status, "application/json", boost::json::serialize(o), {}};
}

admin_response json_error(unsigned status, std::string_view error, std::string_view detail = {}) {
    boost::json::object o;
    o["error"] = error;
    if (!detail.empty()) o["detail"] = detail;
    return json_answer(status, o);
}

admin_response method_not_allowed(std::string_view allow) {
    auto r = json_error(405, "method not allowed");
    r.headers.emplace_back("Allow", std::string(allow));
    return r;
}

std::string utc_now_text() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// The last chain verification, shared by every request of the listener.
class chain_cache {
  public:
    chain_cache(std::string path, std::chrono::seconds max_age)
        : path_(std::move(path)), max_age_(max_age) {}

    // The cached status, verified again first when older than max_age or when `now` is asked.
    audit::chain_status get(bool now) {
        std::lock_guard lock(mutex_);
        const auto t = std::chrono::steady_clock::now();
        if (now || !valid_ || t - checked_ > max_age_) {
            // live: the writer may be appending the last line right now.
            result_ = audit::verify_chain(path_, true);
            checked_ = t;
            verified_at_ = utc_now_text();
            valid_ = true;
        }
        audit::chain_status s;
        s.result = result_;
        s.verified_at = verified_at_;
        s.age_seconds = std::chrono::duration_cast<std::chrono::seconds>(t - checked_).count();
        s.max_age_seconds = max_age_.count();
        return s;
    }

  private:
    const std::string path_;
    const std::chrono::seconds max_age_;
    std::mutex mutex_;
    bool valid_ = false;
    std::chrono::steady_clock::time_point checked_{};
    std::string verified_at_;
    audit::verify_result result_;
};

// POST /admin/subject's body: {"email":"…"} or {"id":"…","entity":"…"}, optional since/until.
// False with `error` (never a value) when it is anything else.
bool parse_subject_body(const std::string& body, subject_query& q, std::string& error) {
    boost::system::error_code ec;
    const auto v = boost::json::parse(body, ec);
    if (ec || !v.is_object()) {
        error = "the body must be a JSON object: {\"email\":\"…\"} or {\"id\":\"…\"}";
        return false;
    }
    std::string since, until;
    for (const auto& member : v.as_object()) {
        std::string* slot = nullptr;
        if (member.key() == "email") slot = &q.email;
        if (member.key() == "id") slot = &q.id;
        if (member.key() == "entity") slot = &q.entity;
        if (member.key() == "since") slot = &since;
        if (member.key() == "until") slot = &until;
        if (slot == nullptr) {
            error = "unknown member (email, id, entity, since, until)";
            return false;
        }
        if (!member.value().is_string()) {
            error = "every member is a string";
            return false;
        }
        *slot = std::string(member.value().get_string());
    }
    if (q.email.empty() == q.id.empty()) {
        error = "give either email or id";
        return false;
    }
    if (!q.entity.empty() && q.id.empty()) {
        error = "entity goes with id";
        return false;
    }
    return audit::set_period(q.period, since, until, error);
}

}  // namespace

std::function<std::optional<admin_response>(const admin_request&)> audit_review(
    audit_review_settings settings) {
    auto cache = std::make_shared<chain_cache>(settings.audit_path, settings.chain_max_age);
    // The page's policy, computed once: the page is fixed at build time.
    auto page_csp = std::make_shared<const std::string>(
        audit::content_security_policy(audit::review_page_html(), true));
    return [settings = std::move(settings), cache,
            page_csp](const admin_request& req) -> std::optional<admin_response> {
        const std::string_view target = req.target;
        const auto q = target.find('?');
        const std::string_view path = target.substr(0, q);
        const std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
        const bool get = req.method == "GET";
        const bool post = req.method == "POST";

        if (path == "/admin/" || path == "/admin") {
            if (!get) return method_not_allowed("GET");
            admin_response r{
                200, "text/html; charset=utf-8", std::string(audit::review_page_html()), {}};
            r.headers.emplace_back("Content-Security-Policy", *page_csp);
            return r;
        }
        if (path == "/admin/audit/verify") {
            if (!post) return method_not_allowed("POST");
            boost::json::object o;
            o["chain"] = audit::chain_status_json(cache->get(true));
            return json_answer(200, o);
        }
        if (path == "/admin/subject") {
            if (!post) return method_not_allowed("POST");
            subject_query sq;
            std::string error;
            if (!parse_subject_body(req.body, sq, error))
                return json_error(400, "invalid subject lookup", error);
            const auto cfg = settings.configuration ? settings.configuration() : nullptr;
            if (!cfg) return json_error(503, "no configuration loaded");
            if (!cfg->net.audit.subject_key)
                return json_error(501, "no subject index",
                                  "<audit> has no subject-key-file: exportwall keeps no subject "
                                  "index and cannot tell who received a person's data");
            const subject_answer answer = find_subject(*cfg, settings.audit_path, sq);
            switch (answer.result) {
                case subject_answer::outcome::usage:
                    return json_error(400, "invalid subject lookup", answer.message);
                case subject_answer::outcome::unreadable:
                    return json_error(503, "the subject index or the audit trail cannot be read");
                case subject_answer::outcome::found:
                case subject_answer::outcome::not_found:
                    break;
            }
            auto o = subject_answer_json(answer);
            o["no_index"] = answer.no_index;
            return json_answer(200, o);
        }
        if (path != "/admin/audit" && path != "/admin/flows" && path != "/admin/report")
            return std::nullopt;
        if (!get) return method_not_allowed("GET");
        std::string error;
        auto parsed = audit::parse_audit_query(query, error);
        if (!parsed) return json_error(400, "invalid query parameter", error);
        const auto unreadable = [] { return json_error(503, "the audit trail cannot be read"); };
        if (path == "/admin/flows") {
            audit::flow_summary flows;
            if (audit::collect_flows(settings.audit_path, *parsed, flows)) return unreadable();
            return admin_response{200, "application/json", audit::render_flows(flows), {}};
        }
        if (path == "/admin/report") {
            audit::trail_stats stats;
            if (audit::collect_stats(settings.audit_path, *parsed, stats)) return unreadable();
            const audit::checkpoint_keys no_keys;
            const auto anchor = audit::anchor_trail(settings.audit_path, no_keys);
            std::string html = audit::render_html_report(stats, anchor, settings.audit_path,
                                                         audit::describe_query(*parsed));
            admin_response r{200, "text/html; charset=utf-8", std::string(), {}};
            r.headers.emplace_back("Content-Security-Policy",
                                   audit::content_security_policy(html, false));
            r.body = std::move(html);
            return r;
        }
        audit::audit_page page;
        if (audit::read_audit_page(settings.audit_path, *parsed, page)) return unreadable();
        return admin_response{
            200, "application/json", audit::render_audit_page(page, cache->get(false)), {}};
    };
}

}  // namespace exportwall::proxy
