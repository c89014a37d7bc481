#include "cli/volume_command.hpp"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include "cli/command_line.hpp"

namespace exportwall::cli {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

constexpr auto exchange_timeout = std::chrono::seconds(10);

constexpr const char* exit_codes =
    "Exit codes: 0 success, 1 failure (no such hold; the admin listener unreachable, refusing or "
    "failing), 2 usage error.";

// Where the admin listener is: http only (it serves no TLS), host, port, a path prefix.
struct admin_address {
    std::string host;
    std::string port;
    std::string prefix;  // "" or "/something" without a trailing slash
};

bool parse_admin_url(const std::string& text, admin_address& out) {
    const auto u = boost::urls::parse_absolute_uri(text);
    if (!u || u->scheme() != "http" || u->host_address().empty()) return false;
    out.host = u->host_address();
    out.port = u->has_port() ? std::string(u->port()) : std::string("80");
    out.prefix = std::string(u->encoded_path());
    while (!out.prefix.empty() && out.prefix.back() == '/') out.prefix.pop_back();
    return true;
}

struct answer {
    std::string error;  // set: no answer (connect, timeout, reset)
    unsigned status = 0;
    std::string body;
};

net::awaitable<void> run_exchange(const admin_address& where, http::verb method, std::string target,
                                  const std::string& token, answer& out) {
    auto ex = co_await net::this_coro::executor;
    constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
    tcp::resolver resolver(ex);
    auto [rec, endpoints] = co_await resolver.async_resolve(where.host, where.port, use_tuple);
    if (rec) {
        out.error = "cannot resolve " + where.host + ": " + rec.message();
        co_return;
    }
    beast::tcp_stream stream(ex);
    stream.expires_after(exchange_timeout);
    auto [cec, ep] = co_await stream.async_connect(endpoints, use_tuple);
    (void)ep;
    if (cec) {
        out.error = "cannot connect to " + where.host + ":" + where.port + ": " + cec.message();
        co_return;
    }
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, where.host);
    req.set(http::field::user_agent, "exportwall volume-holds");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    req.keep_alive(false);
    req.prepare_payload();
    stream.expires_after(exchange_timeout);
    auto [wec, wn] = co_await http::async_write(stream, req, use_tuple);
    (void)wn;
    if (wec) {
        out.error = "cannot send the request: " + wec.message();
        co_return;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(16 * 1024 * 1024);
    stream.expires_after(exchange_timeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
    (void)n;
    if (ec) {
        out.error = "no answer from the admin listener: " + ec.message();
        co_return;
    }
    out.status = parser.get().result_int();
    out.body = parser.get().body();
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

answer exchange(const admin_address& where, http::verb method, std::string target,
                const std::string& token) {
    answer out;
    net::io_context ioc(1);
    net::co_spawn(ioc, run_exchange(where, method, std::move(target), token, out), net::detached);
    ioc.run();
    return out;
}

std::string json_text(const boost::json::value& v, std::string_view key) {
    if (!v.is_object()) return {};
    const auto* m = v.get_object().if_contains(key);
    return m != nullptr && m->is_string() ? std::string(m->get_string()) : std::string();
}

std::string pad(std::string s, std::size_t w) {
    if (s.size() < w) s.append(w - s.size(), ' ');
    return s;
}

// A failed answer as one line: the problem's title, never the body as a whole.
std::string failure(const answer& a) {
    std::string title;
    boost::system::error_code ec;
    const auto v = boost::json::parse(a.body, ec);
    if (!ec) title = json_text(v, "title");
    std::string line = "the admin listener answered " + std::to_string(a.status);
    if (!title.empty()) line += " (" + title + ")";
    if (a.status == 401)
        line += ": give the admin token with --token-file or EXPORTWALL_ADMIN_TOKEN";
    return line;
}

// The bearer token: from --token-file, else $EXPORTWALL_ADMIN_TOKEN, trailing newlines and
// spaces dropped. False after reporting a token file that cannot be read.
bool read_token(const std::string& token_file, std::string& token, std::ostream& err) {
    if (!token_file.empty()) {
        std::ifstream in(token_file, std::ios::binary);
        std::ostringstream s;
        s << in.rdbuf();
        if (!in) {
            err << "exportwall volume-holds: cannot read the token file " << token_file << '\n';
            return false;
        }
        token = s.str();
    } else {
        // NOLINTNEXTLINE(concurrency-mt-unsafe): exportwall never calls setenv.
        if (const char* env = std::getenv("EXPORTWALL_ADMIN_TOKEN")) token = env;
    }
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' '))
        token.pop_back();
    return true;
}

// `volume-holds clear`: POST /admin/volume-holds/clear?client=…&purpose=….
int clear_hold(const admin_address& where, const std::string& token, const std::string& client,
               const std::string& purpose, std::ostream& out, std::ostream& err) {
    boost::urls::url target;
    target.set_encoded_path(where.prefix + "/admin/volume-holds/clear");
    target.params().append({"client", client});
    target.params().append({"purpose", purpose});
    const answer a = exchange(where, http::verb::post, std::string(target.encoded_target()), token);
    if (!a.error.empty()) {
        err << "exportwall volume-holds: " << a.error << '\n';
        return exit_failure;
    }
    if (a.status == 404) {
        err << "exportwall volume-holds: no hold for client " << client << " purpose " << purpose
            << '\n';
        return exit_failure;
    }
    if (a.status != 200) {
        err << "exportwall volume-holds: " << failure(a) << '\n';
        return exit_failure;
    }
    boost::system::error_code ec;
    const auto v = boost::json::parse(a.body, ec);
    const auto* cleared = !ec && v.is_object() ? v.get_object().if_contains("cleared") : nullptr;
    if (cleared == nullptr) {
        err << "exportwall volume-holds: the admin listener's answer is not understood\n";
        return exit_failure;
    }
    out << "cleared the hold of client " << json_text(*cleared, "client") << " purpose "
        << json_text(*cleared, "purpose") << " (held since " << json_text(*cleared, "since")
        << ")\n";
    return exit_success;
}

// `volume-holds [list]`: GET /admin/volume-holds, as a table or the listener's JSON.
int list_holds(const admin_address& where, const std::string& token, const std::string& format,
               std::ostream& out, std::ostream& err) {
    const answer a = exchange(where, http::verb::get, where.prefix + "/admin/volume-holds", token);
    if (!a.error.empty()) {
        err << "exportwall volume-holds: " << a.error << '\n';
        return exit_failure;
    }
    if (a.status != 200) {
        err << "exportwall volume-holds: " << failure(a) << '\n';
        return exit_failure;
    }
    boost::system::error_code ec;
    const auto v = boost::json::parse(a.body, ec);
    const auto* holds = !ec && v.is_object() ? v.get_object().if_contains("holds") : nullptr;
    if (holds == nullptr || !holds->is_array()) {
        err << "exportwall volume-holds: the admin listener's answer is not understood\n";
        return exit_failure;
    }
    if (format == "json") {
        out << a.body << '\n';
        return exit_success;
    }
    if (holds->get_array().empty()) {
        out << "no grant is held\n";
        return exit_success;
    }
    out << pad("client", 24) << ' ' << pad("purpose", 24) << " since\n";
    for (const auto& h : holds->get_array())
        out << pad(json_text(h, "client"), 24) << ' ' << pad(json_text(h, "purpose"), 24) << ' '
            << json_text(h, "since") << '\n';
    return exit_success;
}

}  // namespace

int run_volume_holds(int argc, char** argv) {
    return run_volume_holds(argc, argv, std::cout, std::cerr);
}

int run_volume_holds(int argc, char** argv, std::ostream& out, std::ostream& err) {
    CLI::App app{
        "List or clear the volume alerts' holds (grants refused after an hour above their "
        "volume threshold, on-anomaly=\"refuse\") through a running proxy's admin listener.",
        "exportwall volume-holds"};
    app.footer(exit_codes);
    app.require_subcommand(0, 1);
    std::string admin_url = "http://127.0.0.1:9901";
    std::string token_file;
    app.add_option("--admin", admin_url, "the admin listener (http://HOST:PORT)")
        ->capture_default_str();
    app.add_option("--token-file", token_file,
                   "a file holding the admin bearer token (default: $EXPORTWALL_ADMIN_TOKEN)");
    std::string format = "table";
    auto* list = app.add_subcommand("list", "List the holds in force (the default).");
    list->add_option("--format", format, "table | json")->check(CLI::IsMember({"table", "json"}));
    auto* clear = app.add_subcommand(
        "clear", "Clear the hold of one grant: its exports are allowed again (audited).");
    std::string client, purpose;
    clear->add_option("--client", client, "the client id")->required();
    clear->add_option("--purpose", purpose, "the purpose id")->required();
    for (auto* sub : {list, clear}) {
        sub->footer(exit_codes);
        sub->fallthrough();  // --admin and --token-file after the subcommand too
    }
    if (auto code = parse_command_line(app, argc, argv, out, err))
        return *code;

    admin_address where;
    if (!parse_admin_url(admin_url, where)) {
        err << "exportwall volume-holds: --admin must be an http:// URL (the admin listener "
               "serves no TLS)\n";
        return exit_usage;
    }
    std::string token;
    if (!read_token(token_file, token, err)) return exit_usage;
    if (*clear) return clear_hold(where, token, client, purpose, out, err);
    return list_holds(where, token, format, out, err);
}

}  // namespace exportwall::cli
