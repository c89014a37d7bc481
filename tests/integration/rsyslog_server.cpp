#include "tests/integration/rsyslog_server.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>

namespace exportwall::itest {
namespace {

constexpr const char* rsyslogd = "/usr/sbin/rsyslogd";
constexpr const char* ossl_module = "/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so";

// Whether something accepts TCP connections on 127.0.0.1:port.
bool accepts(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

}  // namespace

bool rsyslog_server::available() { return ::access(rsyslogd, X_OK) == 0; }

bool rsyslog_server::tls_available() { return available() && std::filesystem::exists(ossl_module); }

bool rsyslog_server::start(const temp_dir& dir, std::uint16_t port, std::optional<tls_files> tls) {
    dir_ = &dir;
    tls_ = std::move(tls);
    port_ = port;
    return restart();
}

bool rsyslog_server::restart() {
    if (dir_ == nullptr) return false;
    const std::string work = dir_->file("rsyslog");
    std::filesystem::create_directories(work);
    const std::string port_file = work + "/port";
    std::filesystem::remove(port_file);
    std::string conf = "global(workDirectory=\"" + work + "\"";
    if (tls_) {
        conf += " DefaultNetstreamDriver=\"ossl\" DefaultNetstreamDriverCAFile=\"" + tls_->ca_file +
                "\" DefaultNetstreamDriverCertFile=\"" + tls_->certificate_file +
                "\" DefaultNetstreamDriverKeyFile=\"" + tls_->key_file + "\"";
    }
    conf += ")\n";
    if (tls_) {
        conf += std::string(
                    "module(load=\"imtcp\" StreamDriver.Name=\"ossl\" StreamDriver.Mode=\"1\" "
                    "StreamDriver.AuthMode=\"") +
                (tls_->require_client_certificate ? "x509/certvalid" : "anon") + "\")\n";
    } else {
        conf += "module(load=\"imtcp\")\n";
    }
    conf += "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"" + std::to_string(port_) + "\"";
    if (port_ == 0) conf += " listenPortFileName=\"" + port_file + "\"";
    conf +=
        ")\n"
        "template(name=\"msgonly\" type=\"string\" string=\"%msg%\\n\")\n"
        "action(type=\"omfile\" file=\"" +
        work + "/received.log\" template=\"msgonly\")\n";
    const std::string conf_file = work + "/rsyslog.conf";
    if (!write_file(conf_file, conf)) return false;
    // A pid file of its own per start: rsyslogd refuses one that names a live process.
    const std::string pid_file = work + "/rsyslog-" + std::to_string(++starts_) + ".pid";
    if (!process_.start({rsyslogd, "-n", "-f", conf_file, "-i", pid_file}, work + "/rsyslogd.log"))
        return false;
    const bool up = poll_until(
        [&] {
            if (!process_.running()) return true;
            if (port_ == 0) {
                const auto text = read_file(port_file);
                if (!text || text->empty()) return false;
                port_ = static_cast<std::uint16_t>(std::stoi(*text));
            }
            return accepts(port_);
        },
        10s);
    return up && process_.running();
}

void rsyslog_server::stop() {
    process_.signal(SIGTERM);
    (void)process_.wait_exit(10s);
}

std::vector<std::string> rsyslog_server::messages() const {
    std::vector<std::string> out;
    if (dir_ == nullptr) return out;
    const std::string data = read_file(dir_->file("rsyslog") + "/received.log").value_or("");
    std::size_t pos = 0;
    while (pos < data.size()) {
        const auto nl = data.find('\n', pos);
        if (nl == std::string::npos) break;
        std::string_view line(data.data() + pos, nl - pos);
        while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
        out.emplace_back(line);
        pos = nl + 1;
    }
    return out;
}

std::string rsyslog_server::log() const {
    return dir_ == nullptr ? std::string()
                           : read_file(dir_->file("rsyslog") + "/rsyslogd.log").value_or("");
}

}  // namespace exportwall::itest
