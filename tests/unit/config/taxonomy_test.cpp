// The compiled-in fideslang taxonomy: exact look-up, ancestry, suggestions for typos, the shape
// of the generated tables, and (when ../shared/testdata is beside the checkout) that the tables
// match the fideslang CSVs they were generated from.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "config/taxonomy.hpp"

namespace exportwall::config::taxonomy {
namespace {

namespace fs = std::filesystem;
using namespace std::string_view_literals;

constexpr std::array all_kinds{kind::data_use, kind::data_category, kind::data_subject};

std::string name_of(kind k) {
    switch (k) {
        case kind::data_use:
            return "data_use";
        case kind::data_category:
            return "data_category";
        case kind::data_subject:
            return "data_subject";
    }
    return "?";
}

TEST(TaxonomyFind, FindsAKeyOfEachKind) {
    const entry* use = find(kind::data_use, "marketing.communications.email");
    ASSERT_NE(use, nullptr);
    EXPECT_EQ(use->name, "Marketing Email Communications"sv);
    EXPECT_EQ(use->parent, "marketing.communications"sv);
    EXPECT_FALSE(use->deprecated);

    const entry* category = find(kind::data_category, "user.contact.email");
    ASSERT_NE(category, nullptr);
    EXPECT_EQ(category->name, "User Contact Email"sv);
    EXPECT_EQ(category->parent, "user.contact"sv);

    const entry* subject = find(kind::data_subject, "customer");
    ASSERT_NE(subject, nullptr);
    EXPECT_EQ(subject->name, "Customer"sv);
    EXPECT_EQ(subject->parent, ""sv);
}

TEST(TaxonomyFind, KeepsTopLevelEntriesWithAnEmptyParent) {
    for (auto key : {"marketing", "analytics", "third_party_sharing"}) {
        const entry* e = find(kind::data_use, key);
        ASSERT_NE(e, nullptr) << key;
        EXPECT_EQ(e->parent, ""sv) << key;
    }
    ASSERT_NE(find(kind::data_category, "user"), nullptr);
    ASSERT_NE(find(kind::data_category, "system"), nullptr);
}

TEST(TaxonomyFind, KnowsNeitherThePseudoRootsNorNearMisses) {
    EXPECT_EQ(find(kind::data_use, "data_use"), nullptr);
    EXPECT_EQ(find(kind::data_category, "data_category"), nullptr);
    EXPECT_EQ(find(kind::data_subject, "data_subject"), nullptr);
    EXPECT_EQ(find(kind::data_category, ""), nullptr);
    EXPECT_EQ(find(kind::data_category, "user."), nullptr);
    EXPECT_EQ(find(kind::data_category, "User.contact.email"), nullptr);
    EXPECT_EQ(find(kind::data_category, "user.contact.email "), nullptr);
    EXPECT_EQ(find(kind::data_category, "zzz"), nullptr);  // past the last key
    EXPECT_EQ(find(kind::data_category, "a"), nullptr);    // before the first key
}

TEST(TaxonomyFind, KeepsTheKindsApart) {
    EXPECT_EQ(find(kind::data_use, "user.contact.email"), nullptr);
    EXPECT_EQ(find(kind::data_category, "marketing"), nullptr);
    EXPECT_EQ(find(kind::data_subject, "user"), nullptr);
}

TEST(TaxonomyFind, FindsEveryEntryOfItsOwnTable) {
    for (auto k : all_kinds) {
        for (const auto& e : entries(k)) {
            EXPECT_EQ(find(k, e.key), &e) << name_of(k) << " " << e.key;
        }
    }
}

TEST(TaxonomyWithin, HoldsForTheKeyItselfAndWholeSegmentAncestors) {
    EXPECT_TRUE(within("user.contact.email", "user.contact.email"));
    EXPECT_TRUE(within("user.contact.email", "user.contact"));
    EXPECT_TRUE(within("user.contact.email", "user"));
    EXPECT_TRUE(within("marketing.advertising.third_party.targeted", "marketing.advertising"));
}

TEST(TaxonomyWithin, RefusesPartialSegmentsAndDescendants) {
    EXPECT_FALSE(within("user.contact.email", "user.con"));
    EXPECT_FALSE(within("user.contact.email", "user.contact."));
    EXPECT_FALSE(within("user.contactx", "user.contact"));
    EXPECT_FALSE(within("user.contact", "user.contact.email"));
    EXPECT_FALSE(within("users", "user"));
    EXPECT_FALSE(within("system", "user"));
}

TEST(TaxonomyNearest, ReturnsAKnownKeyItself) {
    EXPECT_EQ(nearest(kind::data_category, "user.contact.email"), "user.contact.email"sv);
    EXPECT_EQ(nearest(kind::data_use, "marketing"), "marketing"sv);
}

TEST(TaxonomyNearest, CorrectsSpelling) {
    EXPECT_EQ(nearest(kind::data_use, "marketing.communication.email"),
              "marketing.communications.email"sv);
    EXPECT_EQ(nearest(kind::data_category, "user.contact.emial"), "user.contact.email"sv);
    EXPECT_EQ(nearest(kind::data_category, "user.contact.addres"), "user.contact.address"sv);
    EXPECT_EQ(nearest(kind::data_use, "essential.services"), "essential.service"sv);
    EXPECT_EQ(nearest(kind::data_subject, "customers"), "customer"sv);
    EXPECT_EQ(nearest(kind::data_subject, "emplyoee"), "employee"sv);  // a transposition is 1
}

TEST(TaxonomyNearest, CompletesTheLastSegment) {
    EXPECT_EQ(nearest(kind::data_category, "user.health"), "user.health_and_medical"sv);
    EXPECT_EQ(nearest(kind::data_category, "user.government"), "user.government_id"sv);
    EXPECT_EQ(nearest(kind::data_category, "user.contact.phone"), "user.contact.phone_number"sv);
    EXPECT_EQ(nearest(kind::data_use, "marketing.advertising.first"),
              "marketing.advertising.first_party"sv);
}

TEST(TaxonomyNearest, FindsAUniqueLeafOnAnotherPath) {
    EXPECT_EQ(nearest(kind::data_category, "user.email"), "user.contact.email"sv);
    EXPECT_EQ(nearest(kind::data_category, "email"), "user.contact.email"sv);
    EXPECT_EQ(nearest(kind::data_category, "customer.address.city"), "user.contact.address.city"sv);
    EXPECT_EQ(nearest(kind::data_use, "sales.legal_obligation"), ""sv);  // two such leaves
}

TEST(TaxonomyNearest, GivesNoAnswerForAnAmbiguousLeafFarFromAnyKey) {
    // "email" ends both essential.service.notifications.email and marketing.communications.email.
    EXPECT_EQ(nearest(kind::data_use, "marketing.email"), ""sv);
    EXPECT_EQ(nearest(kind::data_use, "email"), ""sv);
}

TEST(TaxonomyNearest, GivesNothingForAFarOffKey) {
    EXPECT_EQ(nearest(kind::data_category, "quarterly_revenue_forecast"), ""sv);
    EXPECT_EQ(nearest(kind::data_use, "zzzzzzzz"), ""sv);
    EXPECT_EQ(nearest(kind::data_subject, "user.contact.email"), ""sv);
    EXPECT_EQ(nearest(kind::data_category, ""), ""sv);
    EXPECT_EQ(nearest(kind::data_category, std::string(10000, 'u')), ""sv);
}

TEST(TaxonomyNearest, BoundsTheEditsByTheKeyLength) {
    // Two edits are allowed for any key, a quarter of the key's length for a long one.
    EXPECT_EQ(nearest(kind::data_use, "sale"), "sales"sv);
    EXPECT_EQ(nearest(kind::data_use, "finance.x"), "finance"sv);  // 2 edits, limit 2
    EXPECT_EQ(nearest(kind::data_use, "finance.xy"), ""sv);        // 3 edits, limit 2
    EXPECT_EQ(nearest(kind::data_use, "analytics.report"), "analytics.reporting"sv);  // 3, limit 4
}

TEST(TaxonomyNearest, BreaksTiesByLengthThenByKey) {
    // 5 edits from both user.demographic and user.demographic.gender: the shorter wins.
    EXPECT_EQ(nearest(kind::data_category, "user.demographic.ages"), "user.demographic"sv);
    // 1 edit from both user.contact and user.content, equally long: the smaller key wins.
    EXPECT_EQ(nearest(kind::data_category, "user.contect"), "user.contact"sv);
}

TEST(TaxonomyNearest, LeadsEveryKeyWithOneWrongLastByteBack) {
    for (auto k : all_kinds) {
        for (const auto& e : entries(k)) {
            std::string typo(e.key);
            typo.back() = typo.back() == 'x' ? 'y' : 'x';
            EXPECT_EQ(nearest(k, typo), e.key) << name_of(k) << " " << typo;
        }
    }
}

TEST(TaxonomyTable, IsSortedAndUniqueByKey) {
    for (auto k : all_kinds) {
        auto table = entries(k);
        EXPECT_FALSE(table.empty()) << name_of(k);
        EXPECT_TRUE(std::adjacent_find(table.begin(), table.end(),
                                       [](const auto& a, const auto& b) {
                                           return !(a.key < b.key);
                                       }) == table.end())
            << name_of(k);
    }
}

TEST(TaxonomyTable, EveryParentIsAnEntryThatTheKeyExtends) {
    for (auto k : all_kinds) {
        for (const auto& e : entries(k)) {
            EXPECT_FALSE(e.key.empty()) << name_of(k);
            EXPECT_FALSE(e.name.empty()) << e.key;
            if (e.parent.empty()) {
                EXPECT_EQ(e.key.find('.'), std::string_view::npos) << e.key;
                continue;
            }
            EXPECT_NE(find(k, e.parent), nullptr) << e.key << " has parent " << e.parent;
            EXPECT_TRUE(within(e.key, e.parent) && e.key != e.parent) << e.key;
            EXPECT_EQ(e.key.rfind('.'), e.parent.size()) << e.key << " skips a level";
        }
    }
}

TEST(TaxonomyTable, EveryReplacementIsAnEntryAndMarksItsEntryDeprecated) {
    for (auto k : all_kinds) {
        for (const auto& e : entries(k)) {
            if (e.replaced_by.empty()) continue;
            EXPECT_TRUE(e.deprecated) << e.key;
            EXPECT_NE(find(k, e.replaced_by), nullptr) << e.key << " -> " << e.replaced_by;
        }
    }
}

TEST(TaxonomyTable, HoldsTheWholeTaxonomy) {
    // fideslang at the commit named in config/fideslang_taxonomy.inc; a regenerated table from a
    // newer commit changes these counts on purpose.
    EXPECT_EQ(entries(kind::data_use).size(), 54u);
    EXPECT_EQ(entries(kind::data_category).size(), 85u);
    EXPECT_EQ(entries(kind::data_subject).size(), 15u);
}

// ---- the generated tables against the fideslang CSVs (../shared/testdata) ---------------------

// One CSV file as rows of fields (RFC 4180: quoted fields may hold commas, doubled quotes and
// line breaks; records end with CRLF or LF).
std::optional<std::vector<std::vector<std::string>>> read_csv(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::stringstream buffer;
    buffer << in.rdbuf();
    const std::string text = buffer.str();

    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> row;
    std::string field;
    bool quoted = false;
    bool field_started = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (quoted) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                field += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                field += c;
            }
        } else if (c == '"') {
            quoted = true;
            field_started = true;
        } else if (c == ',') {
            row.push_back(std::move(field));
            field.clear();
            field_started = true;
        } else if (c == '\r' || c == '\n') {
            if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
            if (field_started || !field.empty()) {
                row.push_back(std::move(field));
                rows.push_back(std::move(row));
            }
            field.clear();
            row.clear();
            field_started = false;
        } else {
            field += c;
            field_started = true;
        }
    }
    if (field_started || !field.empty()) {
        row.push_back(std::move(field));
        rows.push_back(std::move(row));
    }
    return rows;
}

struct csv_entry {
    std::string name, parent, replaced_by;
    bool deprecated = false;
};

// The CSV's entries by key, the pseudo-root row `root` dropped and its children given an empty
// parent, as scripts/gen-fideslang does.
std::map<std::string, csv_entry> csv_entries(const std::vector<std::vector<std::string>>& rows,
                                             const std::string& root) {
    std::map<std::string, csv_entry> out;
    if (rows.empty()) return out;
    const auto& header = rows.front();
    bool columns_found = true;
    auto column = [&](std::string_view column_name) {
        auto it = std::find(header.begin(), header.end(), column_name);
        if (it == header.end()) {
            ADD_FAILURE() << "no column " << column_name;
            columns_found = false;
        }
        return static_cast<std::size_t>(it - header.begin());
    };
    const auto key = column("fides_key"), name = column("name"), parent = column("parent_key"),
               replaced = column("replaced_by"), deprecated = column("version_deprecated");
    if (!columns_found) return out;
    for (std::size_t r = 1; r < rows.size(); ++r) {
        const auto& row = rows[r];
        EXPECT_EQ(row.size(), header.size()) << "row " << r;
        if (row.size() != header.size()) continue;
        if (row[key] == root) {
            EXPECT_EQ(row[parent], ""sv) << root;
            continue;
        }
        csv_entry e{row[name], row[parent] == root ? std::string() : row[parent], row[replaced],
                    !row[deprecated].empty() || !row[replaced].empty()};
        EXPECT_TRUE(out.emplace(row[key], std::move(e)).second) << "duplicate " << row[key];
    }
    return out;
}

TEST(TaxonomyUpstream, MatchesTheFideslangCsvsExactly) {
    const fs::path dir = fs::path(EXPORTWALL_SHARED_TESTDATA) / "fideslang" / "data_files";
    if (!fs::is_directory(dir)) {
        GTEST_SKIP() << "fideslang data not found at " << dir << " (../shared/testdata is absent)";
    }
    const std::array<std::pair<kind, std::string>, 3> files{{
        {kind::data_use, "data_uses.csv"},
        {kind::data_category, "data_categories.csv"},
        {kind::data_subject, "data_subjects.csv"},
    }};
    for (const auto& [k, file] : files) {
        SCOPED_TRACE(file);
        auto rows = read_csv(dir / file);
        ASSERT_TRUE(rows) << "cannot read " << dir / file;
        auto expected = csv_entries(*rows, name_of(k));
        auto table = entries(k);
        EXPECT_EQ(table.size(), expected.size());
        for (const auto& [key, want] : expected) {
            const entry* e = find(k, key);
            ASSERT_NE(e, nullptr) << key << " is missing; run scripts/gen-fideslang";
            EXPECT_EQ(e->name, want.name) << key;
            EXPECT_EQ(e->parent, want.parent) << key;
            EXPECT_EQ(e->replaced_by, want.replaced_by) << key;
            EXPECT_EQ(e->deprecated, want.deprecated) << key;
        }
        for (const auto& e : table) {
            EXPECT_TRUE(expected.contains(std::string(e.key))) << e.key << " is not in " << file;
        }
    }
}

}  // namespace
}  // namespace exportwall::config::taxonomy
