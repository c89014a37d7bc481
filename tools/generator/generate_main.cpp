// exportwall-generate FORMAT RECORDS [SEED] [--shape odata|hubspot|salesforce]
//                     [--csv-delimiter C] [--bom]
// Writes a deterministic contact export to stdout (benchmarks, jq comparisons, the demo).

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tools/generator/contact_generator.hpp"

int main(int argc, char** argv) {
    using namespace exportwall::bench;
    if (argc < 3) {
        std::fputs(
            "usage: exportwall-generate json|ndjson|csv|xml RECORDS [SEED] "
            "[--shape odata|hubspot|salesforce] [--csv-delimiter C] [--bom]\n",
            stderr);
        return 2;
    }
    contact_export_options o;
    std::string format = argv[1];
    o.records = std::strtoull(argv[2], nullptr, 10);
    for (int i = 3; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--shape" && i + 1 < argc) {
            std::string_view s = argv[++i];
            o.shape = s == "hubspot"      ? json_shape::hubspot
                      : s == "salesforce" ? json_shape::salesforce
                                          : json_shape::odata;
        } else if (a == "--csv-delimiter" && i + 1 < argc) {
            o.csv_delimiter = argv[++i][0];
        } else if (a == "--bom") {
            o.csv_bom = true;
        } else {
            o.seed = std::strtoull(argv[i], nullptr, 10);
        }
    }
    generate_contacts(format, o, [](std::string_view piece) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
    });
    return 0;
}
