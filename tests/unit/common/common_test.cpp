// The shared helpers of common/: ASCII case folding, hex (both ways), SHA-256, random bytes, UTF-8,
// JSON string escaping, percent-decoding and the clock.

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/ascii.hpp"
#include "common/base64.hpp"
#include "common/clock.hpp"
#include "common/equal_bytes.hpp"
#include "common/hex.hpp"
#include "common/json_text.hpp"
#include "common/json_writer.hpp"
#include "common/markup_text.hpp"
#include "common/percent.hpp"
#include "common/random.hpp"
#include "common/utf8.hpp"

namespace exportwall::common {
namespace {

// Every length the word loads treat apart (0-3, 4-8, 9-16, longer), with a difference at every
// position: unequal; the same bytes in other storage: equal.
TEST(EqualBytes, FindsADifferenceAtEveryPositionOfEveryLength) {
    for (std::size_t n = 0; n <= 40; ++n) {
        std::string a;
        for (std::size_t i = 0; i < n; ++i) a.push_back(static_cast<char>('a' + i % 26));
        const std::string b = a;
        EXPECT_TRUE(common::equal_bytes(a, b)) << n;
        for (std::size_t i = 0; i < n; ++i) {
            std::string c = a;
            c[i] = static_cast<char>(c[i] ^ 0x20);
            EXPECT_FALSE(common::equal_bytes(a, c)) << n << " at " << i;
        }
        EXPECT_FALSE(common::equal_bytes(a, a + "x")) << n;
    }
    EXPECT_TRUE(common::equal_bytes(std::string_view(), std::string_view()));
}

TEST(Ascii, FoldsOnlyAsciiLetters) {
    EXPECT_TRUE(iequals_ascii("Content-Type", "content-TYPE"));
    EXPECT_FALSE(iequals_ascii("Content-Type", "Content-Typ"));
    // Bytes past ASCII compare as themselves, whatever the locale: "É" (C3 89) is not "é" (C3 A9).
    EXPECT_FALSE(iequals_ascii("\xc3\x89", "\xc3\xa9"));
    // '@' (0x40) and '`' (0x60) differ by the case bit but are no letters.
    EXPECT_FALSE(iequals_ascii("@", "`"));
    EXPECT_FALSE(iequals_ascii("[", "{"));
    EXPECT_EQ(to_lower_ascii('Z'), 'z');
    EXPECT_EQ(to_lower_ascii('z'), 'z');
    EXPECT_EQ(to_lower_ascii('\xc3'), '\xc3');
}

// Every byte value at every place of strings of 1 to 19 bytes (a word and a tail, both places
// of each), among bytes that pass: the eight-at-a-time check answers as the byte-by-byte one.
TEST(Ascii, LowerAsciiOnlyAgreesWithTheByteByByteCheck) {
    auto naive = [](std::string_view s) {
        for (char c : s) {
            const auto u = static_cast<unsigned char>(c);
            if ((u >= 'A' && u <= 'Z') || u >= 0x80) return false;
        }
        return true;
    };
    EXPECT_TRUE(lower_ascii_only(""));
    EXPECT_TRUE(lower_ascii_only("ann.lee+news@example.test"));
    EXPECT_FALSE(lower_ascii_only("ann.lee+news@example.tesT"));
    EXPECT_FALSE(lower_ascii_only("Ann.lee+news@example.test"));
    EXPECT_FALSE(lower_ascii_only("j\xc3\xbcrgen@example.test"));
    // The bytes next to the range either side, and carries: 0xff before 'a' must not hide it.
    for (std::size_t size = 1; size < 20; ++size) {
        for (std::size_t at = 0; at < size; ++at) {
            for (int b = 0; b < 256; ++b) {
                for (char filler : {'a', '@', '[', '\x7f', '\0', 'z'}) {
                    std::string s(size, filler);
                    s[at] = static_cast<char>(b);
                    ASSERT_EQ(lower_ascii_only(s), naive(s)) << size << " " << at << " " << b;
                }
            }
        }
    }
    // Two bytes: a byte past ASCII whose sum carries, next to every other byte.
    for (int a = 0x80; a < 256; ++a) {
        for (int b = 0; b < 256; ++b) {
            const std::string s{
                static_cast<char>(a), static_cast<char>(b), 'x', 'x', 'x', 'x', 'x', 'x'};
            ASSERT_FALSE(lower_ascii_only(s));
        }
    }
}

// RFC 4648 §10's vectors in both forms, and back.
TEST(Base64, WritesTheRfcVectorsInBothForms) {
    using common::base64_form;
    const std::array<std::pair<std::string_view, std::string_view>, 7> vectors{{
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    }};
    for (const auto& [bytes, padded] : vectors) {
        EXPECT_EQ(common::base64(bytes, base64_form::standard_padded), padded);
        std::string unpadded(padded.substr(0, padded.find('=')));
        EXPECT_EQ(common::base64(bytes, base64_form::url_unpadded), unpadded);
        EXPECT_EQ(common::base64_decode(padded, base64_form::standard_padded), bytes);
        EXPECT_EQ(common::base64_decode(unpadded, base64_form::url_unpadded), bytes);
    }
    // The two alphabets differ in 62 and 63 only.
    const std::string high("\xfb\xff\xbf", 3);
    EXPECT_EQ(common::base64(high, base64_form::standard_padded), "+/+/");
    EXPECT_EQ(common::base64(high, base64_form::url_unpadded), "-_-_");
}

// Every byte string round-trips; anything but the one spelling append_base64 writes is refused.
TEST(Base64, ReadsBackOnlyWhatItWrites) {
    using common::base64_form;
    std::string bytes;
    for (int n = 0; n < 40; ++n) {
        for (const auto form : {base64_form::url_unpadded, base64_form::standard_padded}) {
            const std::string text = common::base64(bytes, form);
            EXPECT_EQ(common::base64_decode(text, form), bytes) << text;
        }
        bytes.push_back(static_cast<char>(n * 37 + 11));
    }
    EXPECT_FALSE(common::base64_decode("Zh", base64_form::url_unpadded)) << "bits past the byte";
    EXPECT_FALSE(common::base64_decode("Zg==", base64_form::url_unpadded)) << "padding";
    EXPECT_FALSE(common::base64_decode("Zg", base64_form::standard_padded)) << "padding missing";
    EXPECT_FALSE(common::base64_decode("Zm9vY", base64_form::url_unpadded)) << "no such length";
    EXPECT_FALSE(common::base64_decode("Zm+v", base64_form::url_unpadded)) << "other alphabet";
    EXPECT_FALSE(common::base64_decode("Zm-v", base64_form::standard_padded)) << "other alphabet";
    EXPECT_FALSE(common::base64_decode("Z===", base64_form::standard_padded)) << "three '='";
    EXPECT_FALSE(common::base64_decode("Zg=v", base64_form::standard_padded)) << "'=' inside";
}

TEST(Hex, WritesLowerCaseDigitsOfEveryByte) {
    const std::array<unsigned char, 4> bytes{0x00, 0x0f, 0xa0, 0xff};
    EXPECT_EQ(to_hex(bytes), "000fa0ff");
    std::string out = "x";
    append_hex(out, bytes.data(), 2);
    EXPECT_EQ(out, "x000f");
    EXPECT_EQ(to_hex(bytes.data(), 0), "");
}

TEST(Hex, Sha256MatchesTheKnownDigests) {
    // FIPS 180-2 test vectors.
    EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_hex("abc"),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// The digest context is reused per thread: a digest never carries state of the one before, on
// this thread or another (each export hashes its bearer key on its I/O thread).
TEST(Hex, Sha256ReusesItsContextWithoutCarryingState) {
    const std::string million_a(1000000, 'a');  // FIPS 180-2's third vector
    const std::string expected_long =
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    const std::string expected_abc =
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    auto alternate = [&](std::vector<std::string>& got) {
        for (int i = 0; i < 4; ++i) {
            got.push_back(sha256_hex(million_a));
            got.push_back(sha256_hex("abc"));
        }
    };
    std::vector<std::string> here;
    std::vector<std::string> there;
    std::thread other([&] { alternate(there); });
    alternate(here);
    other.join();
    ASSERT_EQ(here.size(), 8U);
    ASSERT_EQ(there.size(), 8U);
    for (std::size_t i = 0; i < here.size(); ++i) {
        const std::string& expected = i % 2 == 0 ? expected_long : expected_abc;
        EXPECT_EQ(here[i], expected) << i;
        EXPECT_EQ(there[i], expected) << i;
    }
}

TEST(Hex, ReadsDigitsOfEitherCaseAndNothingElse) {
    for (int i = 0; i < 256; ++i) {
        const char c = static_cast<char>(i);
        int expected = -1;
        if (c >= '0' && c <= '9') expected = i - '0';
        if (c >= 'a' && c <= 'f') expected = i - 'a' + 10;
        if (c >= 'A' && c <= 'F') expected = i - 'A' + 10;
        EXPECT_EQ(hex_value(c), expected) << "byte " << i;
        EXPECT_EQ(lower_hex_value(c), c >= 'A' && c <= 'F' ? -1 : expected) << "byte " << i;
    }
}

TEST(Hex, DecodesExactlyTwoDigitsPerByte) {
    std::array<unsigned char, 4> bytes{};
    ASSERT_TRUE(from_hex("000fA0fF", bytes.data(), bytes.size()));
    EXPECT_EQ(bytes, (std::array<unsigned char, 4>{0x00, 0x0f, 0xa0, 0xff}));
    ASSERT_TRUE(from_lower_hex("0a1b2c3d", bytes.data(), bytes.size()));
    EXPECT_EQ(bytes, (std::array<unsigned char, 4>{0x0a, 0x1b, 0x2c, 0x3d}));
    // Upper case is refused only by the strict variant.
    EXPECT_FALSE(from_lower_hex("0A1b2c3d", bytes.data(), bytes.size()));
    // Too short, too long, odd: the length must be exactly 2n.
    EXPECT_FALSE(from_hex("000fa0f", bytes.data(), bytes.size()));
    EXPECT_FALSE(from_hex("000fa0ff0", bytes.data(), bytes.size()));
    EXPECT_FALSE(from_hex("000fa0ff00", bytes.data(), bytes.size()));
    EXPECT_FALSE(from_hex("", bytes.data(), bytes.size()));
    // Anything but a digit, wherever it stands: no sign, space, prefix or stray byte.
    EXPECT_FALSE(from_hex("000fa0fg", bytes.data(), bytes.size()));
    EXPECT_FALSE(from_hex("+00fa0ff", bytes.data(), bytes.size()));
    EXPECT_FALSE(from_hex(" 00fa0ff", bytes.data(), bytes.size()));
    EXPECT_FALSE(from_hex("0x0fa0ff", bytes.data(), bytes.size()));
    EXPECT_FALSE(from_hex(std::string_view("000f\0a0f", 8), bytes.data(), bytes.size()));
    EXPECT_FALSE(from_hex("000f\xa0\xff", bytes.data(), 3));
    // Nothing to decode.
    EXPECT_TRUE(from_hex("", bytes.data(), 0));
    EXPECT_FALSE(from_hex("00", bytes.data(), 0));
}

TEST(Hex, ReadsBackWhatItWrites) {
    std::array<unsigned char, 256> all{};
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<unsigned char>(i);
    std::array<unsigned char, 256> back{};
    ASSERT_TRUE(from_lower_hex(to_hex(all), back.data(), back.size()));
    EXPECT_EQ(back, all);
}

TEST(Utf8, AcceptsOnlyWellFormedSequences) {
    const auto length = [](std::string_view s) {
        return utf8_sequence_length(s.data(), s.data() + s.size());
    };
    EXPECT_EQ(length("a"), 1u);
    EXPECT_EQ(length(std::string_view("\0", 1)), 1u);
    EXPECT_EQ(length("\x7f"), 1u);
    EXPECT_EQ(length("\xc2\x80"), 2u);          // U+0080
    EXPECT_EQ(length("\xdf\xbf"), 2u);          // U+07FF
    EXPECT_EQ(length("\xe0\xa0\x80"), 3u);      // U+0800
    EXPECT_EQ(length("\xed\x9f\xbf"), 3u);      // U+D7FF
    EXPECT_EQ(length("\xee\x80\x80"), 3u);      // U+E000
    EXPECT_EQ(length("\xef\xbf\xbf"), 3u);      // U+FFFF
    EXPECT_EQ(length("\xf0\x90\x80\x80"), 4u);  // U+10000
    EXPECT_EQ(length("\xf4\x8f\xbf\xbf"), 4u);  // U+10FFFF
    EXPECT_EQ(length("\xc3\xa9z"), 2u);         // only the sequence at the start counts
    EXPECT_EQ(length("\x80"), 0u);              // a continuation byte
    EXPECT_EQ(length("\xbf"), 0u);
    EXPECT_EQ(length("\xc0\x80"), 0u);          // overlong U+0000
    EXPECT_EQ(length("\xc1\xbf"), 0u);          // overlong U+007F
    EXPECT_EQ(length("\xe0\x9f\xbf"), 0u);      // overlong U+07FF
    EXPECT_EQ(length("\xed\xa0\x80"), 0u);      // U+D800, a surrogate
    EXPECT_EQ(length("\xed\xbf\xbf"), 0u);      // U+DFFF
    EXPECT_EQ(length("\xf0\x8f\xbf\xbf"), 0u);  // overlong U+FFFF
    EXPECT_EQ(length("\xf4\x90\x80\x80"), 0u);  // U+110000
    EXPECT_EQ(length("\xf5\x80\x80\x80"), 0u);
    EXPECT_EQ(length("\xff"), 0u);
    EXPECT_EQ(length("\xc3"), 0u);  // cut short
    EXPECT_EQ(length("\xe2\x82"), 0u);
    EXPECT_EQ(length("\xf0\x9f\x98"), 0u);
    EXPECT_EQ(length("\xe2\x28\xa1"), 0u);  // a continuation byte missing
    EXPECT_EQ(length("\xf0\x9f\x28\x80"), 0u);
    EXPECT_EQ(length("\xf0\x9f\x98\x28"), 0u);
}

// The rule of common/json_text.hpp for one byte on its own, written out independently.
std::string expected_escape(unsigned char b) {
    switch (b) {
        case '"':
            return "\\\"";
        case '\\':
            return "\\\\";
        case 0x08:
            return "\\b";
        case 0x0c:
            return "\\f";
        case 0x0a:
            return "\\n";
        case 0x0d:
            return "\\r";
        case 0x09:
            return "\\t";
        default:
            break;
    }
    if (b < 0x20) {
        char u[7];
        std::snprintf(u, sizeof u, "\\u%04x", static_cast<unsigned>(b));
        return u;
    }
    if (b < 0x80) return std::string(1, static_cast<char>(b));
    return "\xef\xbf\xbd";  // a lone byte from 0x80 up is never UTF-8
}

TEST(JsonText, EscapesEveryByteByTheRule) {
    for (int i = 0; i < 256; ++i) {
        const auto b = static_cast<unsigned char>(i);
        const std::string one(1, static_cast<char>(b));
        std::string out;
        append_json_escaped(out, one);
        EXPECT_EQ(out, expected_escape(b)) << "byte " << i;
        // Amid plain text, and twice in a row: the runs around it are kept as they are.
        out.clear();
        append_json_escaped(out, "ab" + one + one + "cd");
        EXPECT_EQ(out, "ab" + expected_escape(b) + expected_escape(b) + "cd") << "byte " << i;
    }
    // The written-out forms the audit chain's hashes depend on.
    EXPECT_EQ(json_string(std::string_view("\0\x01\x1f", 3)), R"("\u0000\u0001\u001f")");
    EXPECT_EQ(json_string("\x1b[0m"), R"("\u001b[0m")");  // lower-case hex digits
    EXPECT_EQ(json_string("\b\f\n\r\t"), R"("\b\f\n\r\t")");
    EXPECT_EQ(json_string("a/b\x7f"), "\"a/b\x7f\"");  // '/' and DEL as they are
    EXPECT_EQ(json_string(R"(say "hi" \ bye)"), R"("say \"hi\" \\ bye")");
}

// Every byte at every place of a string long enough for the 16-byte blocks (skip_plain): in the
// first, second and third block, on their edges and in the tail that is read byte by byte.
TEST(JsonText, EscapesEveryByteAtEveryPlaceOfALongString) {
    const std::string plain = "The quick brown fox jumps over the lazy dog 0123456789";
    for (int i = 0; i < 256; ++i) {
        const auto b = static_cast<unsigned char>(i);
        for (std::size_t at = 0; at <= plain.size(); ++at) {
            std::string in = plain;
            in.insert(at, 1, static_cast<char>(b));
            std::string out;
            append_json_escaped(out, in);
            EXPECT_EQ(out, plain.substr(0, at) + expected_escape(b) + plain.substr(at))
                << "byte " << i << " at " << at;
        }
    }
    // UTF-8 across a block's edge stays as it is; a sequence cut short is replaced byte by byte.
    const std::string r = "\xef\xbf\xbd";
    for (std::size_t at = 0; at <= plain.size(); ++at) {
        std::string in = plain;
        in.insert(at, "\xf0\x9f\x98\x80");
        std::string out;
        append_json_escaped(out, in);
        EXPECT_EQ(out, in) << "at " << at;
        in = plain;
        in.insert(at, "\xe2\x82");
        out.clear();
        append_json_escaped(out, in);
        EXPECT_EQ(out, plain.substr(0, at) + r + r + plain.substr(at)) << "at " << at;
    }
}

TEST(JsonText, KeepsUtf8AndReplacesEachByteThatIsNot) {
    // Well-formed: as it is, never \uXXXX.
    EXPECT_EQ(json_string("Zo\xc3\xab \xe2\x82\xac \xf0\x9f\x98\x80"),
              "\"Zo\xc3\xab \xe2\x82\xac \xf0\x9f\x98\x80\"");
    EXPECT_EQ(json_string("\xf4\x8f\xbf\xbf"), "\"\xf4\x8f\xbf\xbf\"");
    // Anything else: one U+FFFD per byte, and what follows is read afresh.
    const std::string r = "\xef\xbf\xbd";
    EXPECT_EQ(json_string("a\xff"
                          "b"),
              "\"a" + r + "b\"");
    EXPECT_EQ(json_string("\xe2\x82"), "\"" + r + r + "\"");  // cut short
    EXPECT_EQ(json_string("\xe2\x82"
                          "a"),
              "\"" + r + r + "a\"");
    EXPECT_EQ(json_string("\xc0\xaf"), "\"" + r + r + "\"");                  // overlong '/'
    EXPECT_EQ(json_string("\xed\xa0\x80"), "\"" + r + r + r + "\"");          // a surrogate
    EXPECT_EQ(json_string("\xf4\x90\x80\x80"), "\"" + r + r + r + r + "\"");  // past U+10FFFF
    EXPECT_EQ(json_string("\x80\xc3\xa9"), "\"" + r + "\xc3\xa9\"");          // stray, then é
    EXPECT_EQ(json_string("\xc3\n"), "\"" + r + "\\n\"");
}

TEST(JsonText, AppendsAQuotedString) {
    std::string out = "{\"k\":";
    append_json_string(out, "v\"");
    EXPECT_EQ(out, R"({"k":"v\"")");
    EXPECT_EQ(json_string(""), "\"\"");
    std::string empty = "x";
    append_json_escaped(empty, "");
    EXPECT_EQ(empty, "x");
}

// Every byte on its own: the references of each kind, and every other byte as it is.
// The writer's bytes are append_json_string's and the plain appends', whatever the buffer held
// before and however far past its reserve the pieces run: strings of every length (across the
// 256 bytes it makes room for ahead), each with and without a byte that needs escaping, between
// numbers at their extremes.
TEST(JsonWriter, WritesWhatTheAppendsWouldAtEveryLength) {
    for (std::size_t n : {0u, 1u, 15u, 16u, 17u, 255u, 256u, 257u, 600u, 5000u}) {
        for (const char odd : {'a', '"', '\x01', '\xff'}) {
            std::string value(n, 'x');
            if (n > 0) value[n / 2] = odd;
            std::string expected = "held";
            expected += ",\"k\":";
            append_json_string(expected, value);
            expected += ':';
            expected += std::to_string(std::numeric_limits<std::int64_t>::min());
            expected += ',';
            expected += std::to_string(std::numeric_limits<std::uint64_t>::max());
            expected += std::string_view("[]", 2);
            append_json_string(expected, value);
            expected += '}';

            std::string out = "held";
            {
                json_writer w(out);
                w.raw(",\"k\":");
                w.string(value);
                w.raw(':');
                w.number(std::numeric_limits<std::int64_t>::min());
                w.raw(',');
                w.number(std::numeric_limits<std::uint64_t>::max());
                w.raw(std::string_view("[]", 2));
                w.string(value);
                w.raw('}');
            }
            EXPECT_EQ(out, expected) << n << ' ' << static_cast<int>(odd);
        }
    }
}

// finish() leaves exactly the bytes written; writing on afterwards continues after them.
TEST(JsonWriter, FinishCutsTheScratchAndWritingGoesOn) {
    std::string out;
    json_writer w(out);
    w.raw("{\"a\":");
    w.number(1);
    w.finish();
    EXPECT_EQ(out, "{\"a\":1");
    w.raw('}');
    w.finish();
    EXPECT_EQ(out, "{\"a\":1}");
}

TEST(MarkupText, EscapesEachByteByItsRule) {
    for (int c = 0; c < 256; ++c) {
        const std::string one(1, static_cast<char>(c));
        std::string text, attribute, html;
        common::append_xml_text(text, one);
        common::append_xml_attribute(attribute, one);
        common::append_html_escaped(html, one);
        switch (c) {
            case '&':
                EXPECT_EQ(text, "&amp;");
                EXPECT_EQ(attribute, "&amp;");
                EXPECT_EQ(html, "&amp;");
                break;
            case '<':
                EXPECT_EQ(text, "&lt;");
                EXPECT_EQ(attribute, "&lt;");
                EXPECT_EQ(html, "&lt;");
                break;
            case '>':
                EXPECT_EQ(text, "&gt;");
                EXPECT_EQ(attribute, "&gt;");
                EXPECT_EQ(html, "&gt;");
                break;
            case '\r':  // XML would read a literal CR back as LF
                EXPECT_EQ(text, "&#13;");
                EXPECT_EQ(attribute, "&#13;");
                EXPECT_EQ(html, one);
                break;
            case '"':
                EXPECT_EQ(text, one);
                EXPECT_EQ(attribute, "&quot;");
                EXPECT_EQ(html, "&quot;");
                break;
            case '\t':  // attribute-value normalisation would fold TAB and LF to spaces
                EXPECT_EQ(text, one);
                EXPECT_EQ(attribute, "&#9;");
                EXPECT_EQ(html, one);
                break;
            case '\n':
                EXPECT_EQ(text, one);
                EXPECT_EQ(attribute, "&#10;");
                EXPECT_EQ(html, one);
                break;
            case '\'':
                EXPECT_EQ(text, one);
                EXPECT_EQ(attribute, one);
                EXPECT_EQ(html, "&#39;");
                break;
            default:
                EXPECT_EQ(text, one) << c;
                EXPECT_EQ(attribute, one) << c;
                EXPECT_EQ(html, one) << c;
        }
    }
}

TEST(MarkupText, AppendsRunsBetweenReferencesAndKeepsWhatWasThere) {
    std::string out = "<a>";
    common::append_xml_text(out, "Tom & Jerry <3>\r\n");
    EXPECT_EQ(out, "<a>Tom &amp; Jerry &lt;3&gt;&#13;\n");
    EXPECT_EQ(common::xml_text_escaped(""), "");
    EXPECT_EQ(common::html_escaped(R"(<b title="x">it's</b>)"),
              "&lt;b title=&quot;x&quot;&gt;it&#39;s&lt;/b&gt;");
    EXPECT_EQ(common::xml_text_escaped("Li\xc3\xa8ge"),
              "Li\xc3\xa8ge");  // bytes past ASCII as they are
}

TEST(Percent, ReadsOneEscape) {
    EXPECT_EQ(percent_escape_value("%41", 0), 0x41);
    EXPECT_EQ(percent_escape_value("%fF", 0), 0xff);
    EXPECT_EQ(percent_escape_value("%00", 0), 0);
    EXPECT_EQ(percent_escape_value("ab%2f", 2), '/');
    EXPECT_EQ(percent_escape_value("%4", 0), -1);  // truncated
    EXPECT_EQ(percent_escape_value("%", 0), -1);
    EXPECT_EQ(percent_escape_value("%zz", 0), -1);
    EXPECT_EQ(percent_escape_value("%4g", 0), -1);
    EXPECT_EQ(percent_escape_value("%g4", 0), -1);
    EXPECT_EQ(percent_escape_value("%+1", 0), -1);
}

TEST(Percent, DecodesEscapesAndPlusAsTheCallerSays) {
    std::string out;
    ASSERT_TRUE(append_percent_decoded(out, "a%20b+c%2Bd%2b", plus_sign::space));
    EXPECT_EQ(out, "a b c+d+");
    out.clear();
    ASSERT_TRUE(append_percent_decoded(out, "a%20b+c%2Bd", plus_sign::literal));
    EXPECT_EQ(out, "a b+c+d");
    // %00 is a NUL byte like any other: refusing it is the caller's.
    out.clear();
    ASSERT_TRUE(append_percent_decoded(out, "%00%7f%C3%A9", plus_sign::space));
    EXPECT_EQ(out, std::string("\0\x7f\xc3\xa9", 4));
    // Appends; nothing to decode is no error.
    out = "pre:";
    ASSERT_TRUE(append_percent_decoded(out, "", plus_sign::space));
    ASSERT_TRUE(append_percent_decoded(out, "x", plus_sign::space));
    EXPECT_EQ(out, "pre:x");
}

TEST(Percent, RefusesAMalformedEscapeAndKeepsWhatCameBefore) {
    for (const std::string_view bad : {"%", "%4", "ab%4", "%zz", "%4g", "100%", "%%41", "% 41"}) {
        std::string out = "pre:";
        EXPECT_FALSE(append_percent_decoded(out, bad, plus_sign::space)) << bad;
        EXPECT_EQ(out, "pre:" + std::string(bad.substr(0, bad.find('%')))) << bad;
    }
    std::string out;
    EXPECT_FALSE(append_percent_decoded(out, "a+%41%4", plus_sign::space));
    EXPECT_EQ(out, "a A");
}

TEST(Clock, CountsSecondsSinceTheEpoch) {
    const auto before = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const std::int64_t now = seconds_now();
    const auto after = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    EXPECT_LE(before, now);
    EXPECT_LE(now, after);
}

// The date and time of a second are formatted once per thread: a later time of the same second,
// the next second and a second before the epoch each read as their own.
TEST(Clock, WritesRfc3339WithMillisecondsForEachSecond) {
    using std::chrono::milliseconds;
    const auto at = [](std::int64_t ms) {
        std::string out = "t=";
        append_rfc3339_millis(out, std::chrono::system_clock::time_point(milliseconds(ms)));
        return out;
    };
    EXPECT_EQ(at(1700000000123), "t=2023-11-14T22:13:20.123Z");
    EXPECT_EQ(at(1700000000999), "t=2023-11-14T22:13:20.999Z");
    EXPECT_EQ(at(1700000001000), "t=2023-11-14T22:13:21.000Z");
    EXPECT_EQ(at(1700000000007), "t=2023-11-14T22:13:20.007Z");
    EXPECT_EQ(at(-1), "t=1969-12-31T23:59:59.999Z");
    EXPECT_EQ(at(0), "t=1970-01-01T00:00:00.000Z");
}

TEST(Random, DrawsDistinctBytesFromThePoolAndBeyondIt) {
    std::set<std::string> seen;
    for (int i = 0; i < 600; ++i) {  // 600 × 16 bytes: the 4 KiB pool is refilled twice
        std::array<unsigned char, 16> id{};
        ASSERT_TRUE(random_bytes(id.data(), id.size()));
        EXPECT_TRUE(seen.insert(to_hex(id)).second);
    }
    std::array<unsigned char, 100> large{};  // past the pooled size: straight from OpenSSL
    ASSERT_TRUE(random_bytes(large.data(), large.size()));
    EXPECT_NE(to_hex(large), std::string(200, '0'));
}

}  // namespace
}  // namespace exportwall::common
