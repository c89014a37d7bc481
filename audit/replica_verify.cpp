#include "audit/replica_verify.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <map>

#include "audit/reader.hpp"
#include "audit/serialize.hpp"
#include "common/hex.hpp"

namespace exportwall::audit {

namespace {

using digest = std::array<unsigned char, 32>;

// One record line of the export: what the chain check needs, without the line itself.
struct entry {
    std::uint64_t seq = 0;
    digest prev{}, hash{};
    bool hash_ok = false;  // its bytes hash to its "hash"
    std::uint32_t file = 0;
    std::uint64_t line = 0;
};

// A chain hash as the writer writes it: 64 lower-case hex digits.
bool unhex(std::string_view hex, digest& out) {
    return common::from_lower_hex(hex, out.data(), out.size());
}

// The audit record in a line: from its `{"seq":` (a syslog header may stand before it) to its
// end, without trailing spaces or '\r'; "" when the line holds none.
std::string_view record_in(std::string_view line) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    const auto at = line.find("{\"seq\":");
    return at == std::string_view::npos ? std::string_view{} : line.substr(at);
}

}  // namespace

merged_verify_result verify_merged(const std::vector<std::string>& files) {
    merged_verify_result res;
    std::map<std::string, std::vector<entry>> by_replica;
    std::map<std::string, std::string> malformed;  // replica -> its first malformed line
    chain_hasher hasher;
    auto where = [&](std::uint32_t file, std::uint64_t line) {
        return files[file] + ":" + std::to_string(line);
    };
    for (std::uint32_t fi = 0; fi < files.size(); ++fi) {
        std::ifstream in(files[fi], std::ios::binary);
        if (!in) {
            res.io_error = files[fi] + ": cannot be read";
            return res;
        }
        std::string text;
        std::uint64_t line_no = 0;
        while (std::getline(in, text)) {
            ++line_no;
            ++res.lines;
            const std::string_view rec = record_in(text);
            if (rec.empty()) {
                ++res.other_lines;
                continue;
            }
            const std::string replica(read_line_replica(rec));
            const auto head = read_line_head(rec);
            constexpr std::string_view prev_key = ",\"prev_hash\":\"";
            const std::size_t n = rec.size();
            entry e;
            if (!head || n < hash_suffix_size + prev_key.size() + 65 ||
                rec.substr(n - hash_suffix_size - 65 - prev_key.size(), prev_key.size()) !=
                    prev_key ||
                !unhex(rec.substr(n - hash_suffix_size - 65, 64), e.prev) ||
                !unhex(head->hash, e.hash)) {
                malformed.emplace(replica, where(fi, line_no));
                continue;
            }
            char computed[64];
            hasher.hash_hex(rec.substr(n - hash_suffix_size - 65, 64),
                            rec.substr(0, n - hash_suffix_size), "}", computed);
            e.seq = head->seq;
            e.hash_ok = std::memcmp(computed, head->hash.data(), sizeof computed) == 0;
            e.file = fi;
            e.line = line_no;
            by_replica[replica].push_back(e);
        }
        if (in.bad()) {
            res.io_error = files[fi] + ": read error";
            return res;
        }
    }
    for (const auto& [replica, bad_line] : malformed) by_replica.try_emplace(replica);

    digest genesis{};
    (void)unhex(genesis_hash, genesis);
    res.ok = !by_replica.empty();
    for (auto& [replica, entries] : by_replica) {
        replica_chain c;
        c.replica = replica;
        if (const auto m = malformed.find(replica); m != malformed.end())
            c.problem = "a line that is not a whole audit record (" + m->second + ")";
        std::sort(entries.begin(), entries.end(), [](const entry& a, const entry& b) {
            return a.seq != b.seq ? a.seq < b.seq : a.hash < b.hash;
        });
        const entry* last = nullptr;
        for (std::size_t i = 0; i < entries.size() && c.problem.empty(); ++i) {
            const entry& e = entries[i];
            const entry* same_seq =
                i + 1 < entries.size() && entries[i + 1].seq == e.seq ? &entries[i + 1] : nullptr;
            if (same_seq != nullptr && (same_seq->hash != e.hash || same_seq->prev != e.prev)) {
                c.problem = "two different records with seq " + std::to_string(e.seq) + " (" +
                            where(e.file, e.line) + " and " +
                            where(same_seq->file, same_seq->line) + ")";
            } else if (!e.hash_ok) {
                c.problem = "the record with seq " + std::to_string(e.seq) +
                            " was edited: its bytes do not hash to its hash (" +
                            where(e.file, e.line) + ")";
            } else if (last != nullptr && e.seq == last->seq) {
                ++c.duplicates;  // the same record delivered twice
                continue;
            } else if (last == nullptr) {
                c.first_seq = e.seq;
                if (e.seq == 1 && e.prev != genesis)
                    c.problem =
                        "seq 1 does not follow the genesis hash (" + where(e.file, e.line) + ")";
            } else if (e.seq != last->seq + 1) {
                c.problem = "seq " + std::to_string(last->seq + 1) +
                            (e.seq - 1 > last->seq + 1 ? " to " + std::to_string(e.seq - 1) : "") +
                            " missing (before " + where(e.file, e.line) + ")";
            } else if (e.prev != last->hash) {
                c.problem = "the record with seq " + std::to_string(e.seq) +
                            " does not follow the one before it: a record was replaced (" +
                            where(e.file, e.line) + ")";
            }
            if (!c.problem.empty()) break;
            ++c.records;
            last = &e;
        }
        if (last != nullptr) {
            c.last_seq = last->seq;
            c.last_hash = common::to_hex(last->hash);
        }
        c.ok = c.problem.empty() && c.records > 0;
        if (c.problem.empty() && c.records == 0) c.problem = "no record";
        res.ok = res.ok && c.ok;
        res.replicas.push_back(std::move(c));
    }
    return res;
}

}  // namespace exportwall::audit
