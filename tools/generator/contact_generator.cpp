#include "tools/generator/contact_generator.hpp"

#include <array>
#include <cstdio>

#include "common/json_text.hpp"
#include "common/markup_text.hpp"

namespace exportwall::bench {
namespace {

// splitmix64: tiny, fast and the same everywhere.
std::uint64_t mix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

class draw {
  public:
    explicit draw(std::uint64_t state) : state_(state) {}
    std::uint64_t next() { return state_ = mix(state_); }
    std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
    template <std::size_t N>
    std::string_view pick(const std::array<std::string_view, N>& words) {
        return words[below(N)];
    }
    std::string digits(std::size_t n) {
        std::string s;
        for (std::size_t i = 0; i < n; ++i) s.push_back(static_cast<char>('0' + below(10)));
        return s;
    }

  private:
    std::uint64_t state_;
};

constexpr std::array<std::string_view, 12> first_names{"Amélie", "Lucas", "Noor",   "Wout",
                                                       "Léa",    "Jan",   "Fatima", "Pieter",
                                                       "Chloé",  "Mehdi", "Ine",    "Jürgen"};
constexpr std::array<std::string_view, 12> last_names{
    "Peeters", "Janssens", "Maes",      "Jacobs", "Dubois",   "Lambert",
    "Mertens", "Willems",  "El Amrani", "Claes",  "Goossens", "De Smet"};
constexpr std::array<std::string_view, 8> streets{"Meir",        "Rue Neuve",        "Veldstraat",
                                                  "Kouter",      "Bondgenotenlaan",  "Rue de Namur",
                                                  "Grote Markt", "Boulevard d'Avroy"};
constexpr std::array<std::string_view, 8> cities{"Antwerpen", "Brussel", "Gent",   "Leuven",
                                                 "Liège",     "Namur",   "Brugge", "Hasselt"};
constexpr std::array<std::string_view, 6> notes{
    "Called on 3/4, said \"call back after the holidays\"",
    "Prefers post; allergic to spam",
    "VIP, see ticket #4411",
    "Asked about delivery to a pick-up point",
    "Complained about invoice, resolved",
    "Line one\nline two of a note"};

// A JSON string, quotes included, by the rule of common/json_text.hpp.
void json_string(std::string& out, std::string_view s) {
    out.push_back('"');
    common::append_json_escaped(out, s);
    out.push_back('"');
}

void csv_cell(std::string& out, std::string_view s, char delimiter) {
    bool quote = s.find_first_of(std::string{delimiter, '"', '\n', '\r'}) != std::string_view::npos;
    if (!quote) {
        out += s;
        return;
    }
    out.push_back('"');
    for (char c : s) {
        if (c == '"') out.push_back('"');
        out.push_back(c);
    }
    out.push_back('"');
}

const char* boolean(bool b) { return b ? "true" : "false"; }

void json_fields(std::string& out, const contact& c, bool with_id) {
    auto field = [&](std::string_view name, std::string_view value) {
        out.push_back('"');
        out += name;
        out += "\":";
        json_string(out, value);
        out.push_back(',');
    };
    if (with_id) field("id", c.id);
    field("lifecycle", c.lifecycle);
    field("first_name", c.first_name);
    field("last_name", c.last_name);
    field("email", c.email);
    field("phone", c.phone);
    field("birth_date", c.birth_date);
    field("iban", c.iban);
    field("vat_number", c.vat_number);
    out += "\"quote_requested\":";
    out += boolean(c.quote_requested);
    out += ",\"consent\":{\"email\":";
    out += boolean(c.consent_email);
    out += ",\"sms\":";
    out += boolean(c.consent_sms);
    out += "},\"objection\":{\"direct_marketing\":";
    out += boolean(c.objection_direct_marketing);
    out += "},\"address\":{";
    field("street", c.street);
    field("postcode", c.postcode);
    field("city", c.city);
    out += "\"country\":";
    json_string(out, c.country);
    out += "},";
    field("notes", c.notes);
    out += "\"created_at\":";
    json_string(out, c.created_at);
}

void json_record(std::string& out, const contact& c, json_shape shape) {
    if (shape == json_shape::hubspot) {
        out += "{\"id\":";
        json_string(out, c.id);
        out += ",\"properties\":{";
        json_fields(out, c, false);
        out += "},\"archived\":false}";
        return;
    }
    out.push_back('{');
    if (shape == json_shape::salesforce) {
        out +=
            "\"attributes\":{\"type\":\"Contact\",\"url\":\"/services/data/v58.0/sobjects/"
            "Contact/";
        out += c.id;
        out += "\"},";
    }
    json_fields(out, c, true);
    out.push_back('}');
}

constexpr std::array<std::string_view, 19> csv_columns{"id",
                                                       "lifecycle",
                                                       "first_name",
                                                       "last_name",
                                                       "email",
                                                       "phone",
                                                       "birth_date",
                                                       "iban",
                                                       "vat_number",
                                                       "quote_requested",
                                                       "consent_email",
                                                       "consent_sms",
                                                       "objection_direct_marketing",
                                                       "address_street",
                                                       "address_postcode",
                                                       "address_city",
                                                       "address_country",
                                                       "notes",
                                                       "created_at"};

void csv_record(std::string& out, const contact& c, char d) {
    std::array<std::string_view, 19> cells{c.id,
                                           c.lifecycle,
                                           c.first_name,
                                           c.last_name,
                                           c.email,
                                           c.phone,
                                           c.birth_date,
                                           c.iban,
                                           c.vat_number,
                                           boolean(c.quote_requested),
                                           boolean(c.consent_email),
                                           boolean(c.consent_sms),
                                           boolean(c.objection_direct_marketing),
                                           c.street,
                                           c.postcode,
                                           c.city,
                                           c.country,
                                           c.notes,
                                           c.created_at};
    for (std::size_t i = 0; i < cells.size(); ++i) {
        if (i) out.push_back(d);
        csv_cell(out, cells[i], d);
    }
    out += "\r\n";
}

void xml_record(std::string& out, const contact& c) {
    auto el = [&](std::string_view name, std::string_view value) {
        out += "<sf:";
        out += name;
        out.push_back('>');
        common::append_xml_text(out, value);
        out += "</sf:";
        out += name;
        out.push_back('>');
    };
    out += "<records xsi:type=\"sf:sObject\"><sf:type>Contact</sf:type>";
    el("Id", c.id);
    el("Id", c.id);  // the Partner API repeats Id
    el("lifecycle", c.lifecycle);
    el("first_name", c.first_name);
    el("last_name", c.last_name);
    el("email", c.email);
    el("phone", c.phone);
    el("birth_date", c.birth_date);
    el("iban", c.iban);
    el("vat_number", c.vat_number);
    el("quote_requested", boolean(c.quote_requested));
    out += "<sf:consent>";
    el("email", boolean(c.consent_email));
    el("sms", boolean(c.consent_sms));
    out += "</sf:consent><sf:objection>";
    el("direct_marketing", boolean(c.objection_direct_marketing));
    out += "</sf:objection><sf:address>";
    el("street", c.street);
    el("postcode", c.postcode);
    el("city", c.city);
    el("country", c.country);
    out += "</sf:address>";
    el("notes", c.notes);
    el("created_at", c.created_at);
    out += "</records>";
}

}  // namespace

contact make_contact(std::uint64_t seed, std::uint64_t index) {
    draw d(mix(seed ^ mix(index)));
    contact c;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%08llx-%04llx-4%03llx-a%03llx-%012llx",
                  static_cast<unsigned long long>(d.next() & 0xffffffffu),
                  static_cast<unsigned long long>(d.next() & 0xffffu),
                  static_cast<unsigned long long>(d.next() & 0xfffu),
                  static_cast<unsigned long long>(d.next() & 0xfffu),
                  static_cast<unsigned long long>(index & 0xffffffffffffull));
    c.id = buf;
    auto kind = d.below(100);
    c.lifecycle = kind < 60 ? "customer" : kind < 85 ? "lead" : "former";
    c.first_name = d.pick(first_names);
    c.last_name = d.pick(last_names);
    c.email = "contact" + std::to_string(index) + "@example.be";
    c.phone = "+32 4" + d.digits(2) + " " + d.digits(2) + " " + d.digits(2) + " " + d.digits(2);
    std::snprintf(buf, sizeof buf, "%04zu-%02zu-%02zu", 1940 + d.below(66), 1 + d.below(12),
                  1 + d.below(28));
    c.birth_date = buf;
    c.iban = "BE" + d.digits(2) + " " + d.digits(4) + " " + d.digits(4) + " " + d.digits(4);
    c.vat_number = d.below(3) == 0 ? "BE0" + d.digits(9) : "";
    c.quote_requested = c.lifecycle == "lead" && d.below(2) == 0;
    c.consent_email = d.below(100) < 45;
    c.consent_sms = d.below(100) < 20;
    c.objection_direct_marketing = d.below(100) < 10;
    c.street = std::string(d.pick(streets)) + " " + std::to_string(1 + d.below(250));
    c.postcode = std::to_string(1000 + d.below(9000));
    c.city = d.pick(cities);
    c.country = "BE";
    c.notes = d.pick(notes);
    std::snprintf(buf, sizeof buf, "20%02zu-%02zu-%02zuT%02zu:%02zu:00Z", 15 + d.below(11),
                  1 + d.below(12), 1 + d.below(28), d.below(24), d.below(60));
    c.created_at = buf;
    return c;
}

void generate_contacts(std::string_view format, const contact_export_options& o,
                       const std::function<void(std::string_view)>& out) {
    std::string buf;
    buf.reserve(16 * 1024);
    auto flush = [&](bool force) {
        if (force || buf.size() >= 8 * 1024) {
            if (!buf.empty()) out(buf);
            buf.clear();
        }
    };
    const std::uint64_t end = o.first + o.records;
    if (format == "json") {
        switch (o.shape) {
            case json_shape::odata:
                buf +=
                    "{\"@odata.context\":\"https://crm.example.be/api/data/v9.2/"
                    "$metadata#contacts\",\"value\":[";
                break;
            case json_shape::hubspot:
                buf += "{\"results\":[";
                break;
            case json_shape::salesforce:
                buf += "{\"totalSize\":" + std::to_string(o.records) +
                       ",\"done\":" + (o.next_link.empty() ? "true" : "false") + ",";
                if (!o.next_link.empty()) {
                    buf += "\"nextRecordsUrl\":";
                    json_string(buf, o.next_link);
                    buf += ",";
                }
                buf += "\"records\":[";
                break;
        }
        for (std::uint64_t i = o.first; i < end; ++i) {
            if (i != o.first) buf.push_back(',');
            json_record(buf, make_contact(o.seed, i), o.shape);
            flush(false);
        }
        buf.push_back(']');
        if (o.shape == json_shape::odata && !o.next_link.empty()) {
            buf += ",\"@odata.nextLink\":";
            json_string(buf, o.next_link);
        }
        if (o.shape == json_shape::hubspot && !o.next_link.empty()) {
            buf += ",\"paging\":{\"next\":{\"after\":\"" + std::to_string(end) + "\",\"link\":";
            json_string(buf, o.next_link);
            buf += "}}";
        }
        buf.push_back('}');
    } else if (format == "ndjson") {
        for (std::uint64_t i = o.first; i < end; ++i) {
            json_record(buf, make_contact(o.seed, i), o.shape);
            buf.push_back('\n');
            flush(false);
        }
    } else if (format == "csv") {
        if (o.csv_bom) buf += "\xEF\xBB\xBF";
        for (std::size_t i = 0; i < csv_columns.size(); ++i) {
            if (i) buf.push_back(o.csv_delimiter);
            buf += csv_columns[i];
        }
        buf += "\r\n";
        for (std::uint64_t i = o.first; i < end; ++i) {
            csv_record(buf, make_contact(o.seed, i), o.csv_delimiter);
            flush(false);
        }
    } else if (format == "xml") {
        buf +=
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
            "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
            "xmlns=\"urn:partner.soap.sforce.com\" "
            "xmlns:sf=\"urn:sobject.partner.soap.sforce.com\" "
            "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body><queryResponse>"
            "<result xsi:type=\"QueryResult\"><done>true</done><queryLocator xsi:nil=\"true\"/>";
        for (std::uint64_t i = o.first; i < end; ++i) {
            xml_record(buf, make_contact(o.seed, i));
            flush(false);
        }
        buf += "<size>" + std::to_string(o.records) +
               "</size></result></queryResponse></soapenv:Body></soapenv:Envelope>";
    }
    flush(true);
}

void generate_contacts(std::string_view format, std::uint64_t records, std::uint64_t seed,
                       const std::function<void(std::string_view)>& out) {
    contact_export_options o;
    o.records = records;
    o.seed = seed;
    generate_contacts(format, o, out);
}

}  // namespace exportwall::bench
