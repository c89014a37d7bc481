// Single-record GETs and nested record sets (filter_spec::single_record, filter_spec::nested):
// HubSpot, Dataverse and Salesforce single objects, Pipedrive's related_objects, JSON:API's
// included[], Close's contacts inside leads. Every output is checked in every chunking, through
// make_filter with strict_envelope as the proxy configures it unless a test says otherwise.

#include <gtest/gtest.h>

#include <numeric>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "filters/json/json_filter.hpp"
#include "tests/unit/filters/json/json_test_support.hpp"

namespace exportwall::filters {
namespace {

using testing::fields;
using testing::run_every_chunking;
using testing::run_whole;

boost::system::error_code err(filter_error e) { return make_error_code(e); }

std::uint64_t dropped(const filter_counters& c, drop_reason r) {
    return c.dropped[static_cast<std::size_t>(r)];
}

std::uint64_t stripped(const filter_counters& c, const std::string& name) {
    auto it = c.stripped_fields.find(name);
    return it == c.stripped_fields.end() ? 0 : it->second;
}

// records_in == records_out + every drop: what the audit record relies on.
void expect_balanced(const filter_counters& c) {
    EXPECT_EQ(c.records_in, c.records_out + std::accumulate(c.dropped.begin(), c.dropped.end(),
                                                            std::uint64_t{0}));
    EXPECT_LE(c.nested_out, c.nested_in);
    EXPECT_LE(c.nested_in, c.records_in);
}

filter_spec strict_spec(std::string records, std::vector<std::string> allowed) {
    filter_spec spec;
    spec.format = body_format::json;
    spec.records = std::move(records);
    spec.allowed = fields(std::move(allowed));
    spec.strict_envelope = true;
    return spec;
}

nested_record_set set_at(std::string path, std::vector<std::string> allowed) {
    nested_record_set set;
    set.path = std::move(path);
    set.allowed = fields(std::move(allowed));
    return set;
}

nested_record_set typed_set(std::string type, std::vector<std::string> allowed) {
    nested_record_set set = set_at("/included", std::move(allowed));
    set.discriminator = "type";
    set.discriminator_value = std::move(type);
    set.field_root = "attributes";
    return set;
}

record_condition exclude_set(std::string field, drop_reason reason) {
    return {std::move(field), condition_op::is_set, {}, true, reason};
}

record_condition require_true(std::string field, drop_reason reason) {
    return {std::move(field), condition_op::is_true, {}, false, reason};
}

std::optional<std::string> rewrite(std::string_view url) {
    if (url.substr(0, 12) != "https://crm/") return std::nullopt;
    return "https://ew/" + std::string(url.substr(12));
}

// --- single-record GETs --------------------------------------------------------------------

TEST(JsonSingleRecord, HubSpotObjectKeepsAllowedRecordLevelMembersBesideProperties) {
    filter_spec spec = strict_spec("", {"id", "email", "createdAt", "archived"});
    spec.single_record = true;
    spec.field_root = "properties";
    const auto r = run_every_chunking(
        spec,
        R"({"id":"1","properties":{"email":"a@x","phone":"555","firstname":"Ann"},)"
        R"("createdAt":"2024-01-02T00:00:00Z","updatedAt":"2024-02-01T00:00:00Z","archived":false})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output,
              R"({"id":"1","properties":{"email":"a@x"},"createdAt":"2024-01-02T00:00:00Z",)"
              R"("archived":false})");
    EXPECT_EQ(r.counters.records_in, 1u);
    EXPECT_EQ(r.counters.records_out, 1u);
    EXPECT_EQ(stripped(r.counters, "phone"), 1u);
    EXPECT_EQ(stripped(r.counters, "updatedAt"), 1u);
    expect_balanced(r.counters);
}

TEST(JsonSingleRecord, DroppedRootRecordIsTheDocumentNull) {
    filter_spec spec = strict_spec("", {"id", "email"});
    spec.single_record = true;
    spec.field_root = "properties";
    spec.rules.conditions.push_back(require_true("hs_email_optin", drop_reason::no_consent));
    const auto r = run_every_chunking(
        spec, R"({"id":"1","properties":{"email":"a@x","hs_email_optin":"false"}})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, "null");
    EXPECT_EQ(r.counters.records_in, 1u);
    EXPECT_EQ(r.counters.records_out, 0u);
    EXPECT_EQ(dropped(r.counters, drop_reason::no_consent), 1u);
}

TEST(JsonSingleRecord, DataverseRootRecordStripsUnlistedFieldsAndControlAnnotations) {
    filter_spec spec = strict_spec("", {"contactid", "emailaddress1"});
    spec.single_record = true;
    const auto r = run_every_chunking(
        spec,
        R"({"@odata.context":"https://crm/api/data/v9.2/$metadata#contacts/$entity",)"
        R"("@odata.etag":"W/\"1\"","contactid":"9b1c","fullname":"Ann Lee",)"
        R"("emailaddress1":"a@x","emailaddress1@OData.Community.Display.V1.FormattedValue":"a@x",)"
        R"("telephone1":"555"})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"contactid":"9b1c","emailaddress1":"a@x",)"
                        R"("emailaddress1@OData.Community.Display.V1.FormattedValue":"a@x"})");
    EXPECT_EQ(stripped(r.counters, "@odata.context"), 1u);
    EXPECT_EQ(stripped(r.counters, "fullname"), 1u);
    EXPECT_EQ(r.counters.records_out, 1u);
}

TEST(JsonSingleRecord, SalesforceRootRecordKeepsOnlyTheAllowedPartOfAttributes) {
    filter_spec spec = strict_spec("", {"attributes.type", "Id", "Email"});
    spec.single_record = true;
    const auto r = run_every_chunking(
        spec,
        R"({"attributes":{"type":"Contact","url":"/services/data/v58.0/sobjects/Contact/003"},)"
        R"("Id":"003","Email":"a@x","Phone":"1","Account":{"Name":"Acme"}})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"attributes":{"type":"Contact"},"Id":"003","Email":"a@x"})");
    EXPECT_EQ(stripped(r.counters, "attributes.url"), 1u);
    EXPECT_EQ(stripped(r.counters, "Account"), 1u);
}

TEST(JsonSingleRecord, RootRecordLinkFieldsAreRewrittenOrRemoved) {
    filter_spec spec = strict_spec("", {"Id", "next"});
    spec.single_record = true;
    spec.link_fields = {"/next", "/paging/prev"};
    spec.rewrite_link = rewrite;
    const auto r = run_every_chunking(
        spec,
        R"({"Id":"003","next":"https://crm/v1/x?after=2","paging":{"prev":"https://evil/y"}})");
    ASSERT_FALSE(r.error) << r.error.message();
    // As in NDJSON: the object on the way to a link is entered, and only the link can pass.
    EXPECT_EQ(r.output, R"({"Id":"003","next":"https://ew/v1/x?after=2","paging":{}})");
    EXPECT_EQ(r.counters.links_rewritten, 1u);
    EXPECT_EQ(r.counters.links_removed, 1u);
}

TEST(JsonSingleRecord, RootOfAnotherTypeIsRecordsNotFound) {
    filter_spec spec = strict_spec("", {"id"});
    spec.single_record = true;
    EXPECT_EQ(run_every_chunking(spec, R"([{"id":"1"}])").error,
              err(filter_error::records_not_found));
    EXPECT_EQ(run_every_chunking(spec, R"("secret")").error, err(filter_error::records_not_found));
}

TEST(JsonSingleRecord, RecordUnderPointerKeepsItsKeyAndTheEnvelope) {
    filter_spec spec = strict_spec("/data", {"type", "id", "email"});
    spec.single_record = true;
    spec.field_root = "attributes";
    spec.link_fields = {"/links/self"};
    spec.rewrite_link = rewrite;
    const auto r = run_every_chunking(
        spec, R"({"data":{"type":"Contacts","id":"1","attributes":{"email":"a@x","phone":"5"}},)"
              R"("links":{"self":"https://crm/Api/V8/module/Contacts/1"}})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"data":{"type":"Contacts","id":"1","attributes":{"email":"a@x"}},)"
                        R"("links":{"self":"https://ew/Api/V8/module/Contacts/1"}})");
    EXPECT_EQ(r.counters.links_rewritten, 1u);
    EXPECT_EQ(r.counters.records_out, 1u);
}

TEST(JsonSingleRecord, DroppedRecordUnderPointerBecomesNull) {
    filter_spec spec = strict_spec("/data", {"id", "email"});
    spec.single_record = true;
    spec.rules.conditions.push_back(exclude_set("do_not_contact", drop_reason::objected));
    const auto r = run_every_chunking(
        spec, R"({"success":true,"data":{"id":5,"email":"a@x","do_not_contact":true}})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"data":null})");
    EXPECT_EQ(dropped(r.counters, drop_reason::objected), 1u);
    EXPECT_EQ(stripped(r.counters, "(envelope)success"), 1u);
    expect_balanced(r.counters);
}

TEST(JsonSingleRecord, MissingOrArrayRecordIsRecordsNotFoundAndLeaksNothing) {
    filter_spec spec = strict_spec("/data", {"id"});
    spec.single_record = true;
    const auto missing = run_every_chunking(spec, R"({"count":1,"item":{"id":"1"}})");
    EXPECT_EQ(missing.error, err(filter_error::records_not_found));
    EXPECT_EQ(missing.output, "");
    const auto list = run_every_chunking(spec, R"({"count":1,"data":[{"id":"1"}]})");
    EXPECT_EQ(list.error, err(filter_error::records_not_found));
    EXPECT_EQ(list.output, "");
    const auto null = run_every_chunking(spec, R"({"data":null})");
    EXPECT_EQ(null.error, err(filter_error::records_not_found));
}

TEST(JsonSingleRecord, RecordLargerThanTheLimitIsRefused) {
    filter_spec spec = strict_spec("", {"id"});
    spec.single_record = true;
    spec.max_record_bytes = 128;
    const auto r = run_whole(spec, R"({"id":"1","notes":")" + std::string(400, 'x') + "\"}");
    EXPECT_EQ(r.error, err(filter_error::record_too_large));
}

TEST(NdjsonSingleRecord, IsUnusedEachLineStaysARecord) {
    filter_spec spec = strict_spec("", {"id"});
    spec.format = body_format::ndjson;
    filter_spec single = spec;
    single.single_record = true;
    const std::string body = "{\"id\":1,\"x\":2}\n{\"id\":2}\n";
    const auto plain = run_every_chunking(spec, body);
    const auto r = run_every_chunking(single, body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, plain.output);
    EXPECT_EQ(r.output, "{\"id\":1}\n{\"id\":2}\n");
}

// --- Pipedrive -----------------------------------------------------------------------------

filter_spec pipedrive_spec() {
    filter_spec spec = strict_spec("/data", {"id", "name", "email.value", "org_id"});
    spec.single_record = true;
    nested_record_set person = set_at("/related_objects/person", {"id", "name"});
    person.map = true;
    nested_record_set organization = set_at("/related_objects/organization", {"id", "name"});
    organization.map = true;
    spec.nested = {person, organization};
    return spec;
}

const char* const pipedrive_body =
    R"({"success":true,"data":{"id":5,"name":"Ann","email":[{"value":"a@x","primary":true}],)"
    R"("phone":[{"value":"555"}],"org_id":1},)"
    R"("related_objects":{"person":{"5":{"id":5,"name":"Ann","email":[{"value":"a@x"}]}},)"
    R"("organization":{"1":{"id":1,"name":"Acme","address":"Main St 1","owner_id":3}},)"
    R"("user":{"3":{"id":3,"name":"Rep","email":"rep@x"}}}})";

TEST(JsonNestedPipedrive, SinglePersonWithRelatedObjectsFilteredByTheirOwnEntity) {
    const auto r = run_every_chunking(pipedrive_spec(), pipedrive_body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"data":{"id":5,"name":"Ann","email":[{"value":"a@x"}],"org_id":1},)"
                        R"("related_objects":{"person":{"5":{"id":5,"name":"Ann"}},)"
                        R"("organization":{"1":{"id":1,"name":"Acme"}}}})");
    EXPECT_EQ(r.counters.records_in, 3u);
    EXPECT_EQ(r.counters.records_out, 3u);
    EXPECT_EQ(r.counters.nested_in, 2u);
    EXPECT_EQ(r.counters.nested_out, 2u);
    // The person side-load has its own allow-list: its email is stripped there.
    EXPECT_EQ(stripped(r.counters, "related_objects.person.email"), 1u);
    EXPECT_EQ(stripped(r.counters, "related_objects.organization.address"), 1u);
    EXPECT_EQ(stripped(r.counters, "related_objects.organization.owner_id"), 1u);
    // Users: no set names them, dropped whole without refusing the export.
    EXPECT_EQ(stripped(r.counters, "(envelope)user"), 1u);
    EXPECT_EQ(stripped(r.counters, "(envelope)success"), 1u);
    expect_balanced(r.counters);
}

TEST(JsonNestedPipedrive, AdditionalDataIsRefusedUnlessASetDropsIt) {
    std::string body = pipedrive_body;
    body.insert(body.size() - 1, R"(,"additional_data":{"followers":[7,8],"page":1})");
    EXPECT_EQ(run_every_chunking(pipedrive_spec(), body).error,
              err(filter_error::records_not_found));

    filter_spec spec = pipedrive_spec();
    nested_record_set additional = set_at("/additional_data", {});
    additional.map = true;
    additional.keep = false;
    spec.nested.push_back(additional);
    const auto r = run_every_chunking(spec, body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_NE(r.output.find(R"("additional_data":{})"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("followers"), std::string::npos);
    EXPECT_EQ(r.counters.nested_discarded, 2u);
    EXPECT_EQ(dropped(r.counters, drop_reason::condition), 2u);
    expect_balanced(r.counters);
}

TEST(JsonNestedPipedrive, RelatedPersonsAreDroppedByTheirOwnRules) {
    filter_spec spec = pipedrive_spec();
    spec.nested[0].rules.conditions.push_back(
        require_true("marketing_status", drop_reason::no_consent));
    spec.nested[0].allowed = fields({"id", "name", "marketing_status"});
    const auto r =
        run_every_chunking(spec, R"({"data":{"id":5,"name":"Ann"},"related_objects":{"person":{)"
                                 R"("5":{"id":5,"name":"Ann","marketing_status":"true"},)"
                                 R"("6":{"id":6,"name":"Bob","marketing_status":"false"},)"
                                 R"("7":{"id":7,"name":"Cy"}}}})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"data":{"id":5,"name":"Ann"},"related_objects":{"person":{)"
                        R"("5":{"id":5,"name":"Ann","marketing_status":"true"}}}})");
    EXPECT_EQ(dropped(r.counters, drop_reason::no_consent), 2u);
    EXPECT_EQ(r.counters.nested_in, 3u);
    EXPECT_EQ(r.counters.nested_out, 1u);
    expect_balanced(r.counters);
}

// --- JSON:API --------------------------------------------------------------------------------

filter_spec jsonapi_spec(bool single) {
    filter_spec spec = strict_spec("/data", {"type", "id", "email"});
    spec.single_record = single;
    spec.field_root = "attributes";
    spec.link_fields = {"/links/next", "/links/self"};
    spec.rewrite_link = rewrite;
    nested_record_set users = typed_set("Users", {});
    users.keep = false;
    spec.nested = {typed_set("Accounts", {"id", "name"}), users};
    return spec;
}

const char* const included_json =
    R"("included":[{"type":"Accounts","id":"9","attributes":{"name":"Acme","annual_revenue":"1M"}},)"
    R"({"type":"Users","id":"3","attributes":{"user_name":"admin"}},)"
    R"({"type":"Secrets","id":"x","attributes":{"key":"v"}}])";

TEST(JsonNestedJsonApi, CollectionKeepsOneIncludedTypeDropsTheOtherAndAnUnknownOne) {
    const std::string body =
        R"({"data":[{"type":"Contacts","id":"1","attributes":{"email":"a@x","phone":"1"},)"
        R"("relationships":{"account":{"data":{"type":"Accounts","id":"9"}}}}],)" +
        std::string(included_json) +
        R"(,"links":{"next":"https://crm/Api/V8/module/Contacts?page=2"}})";
    const auto r = run_every_chunking(jsonapi_spec(false), body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"data":[{"type":"Contacts","id":"1","attributes":{"email":"a@x"}}],)"
                        R"("included":[{"type":"Accounts","id":"9","attributes":{"name":"Acme"}}],)"
                        R"("links":{"next":"https://ew/Api/V8/module/Contacts?page=2"}})");
    EXPECT_EQ(r.counters.records_in, 4u);
    EXPECT_EQ(r.counters.records_out, 2u);
    EXPECT_EQ(r.counters.nested_in, 3u);
    EXPECT_EQ(r.counters.nested_out, 1u);
    EXPECT_EQ(r.counters.nested_discarded, 2u);
    EXPECT_EQ(dropped(r.counters, drop_reason::condition), 2u);
    EXPECT_EQ(stripped(r.counters, "included[Accounts].annual_revenue"), 1u);
    EXPECT_EQ(stripped(r.counters, "relationships"), 1u);
    expect_balanced(r.counters);
}

TEST(JsonNestedJsonApi, SingleResourceWithIncluded) {
    const std::string body =
        R"({"data":{"type":"Contacts","id":"1","attributes":{"email":"a@x","birthdate":"1990"}},)" +
        std::string(included_json) + R"(,"links":{"self":"https://crm/Api/V8/module/Contacts/1"}})";
    const auto r = run_every_chunking(jsonapi_spec(true), body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"data":{"type":"Contacts","id":"1","attributes":{"email":"a@x"}},)"
                        R"("included":[{"type":"Accounts","id":"9","attributes":{"name":"Acme"}}],)"
                        R"("links":{"self":"https://ew/Api/V8/module/Contacts/1"}})");
    EXPECT_EQ(r.counters.records_out, 2u);
    expect_balanced(r.counters);
}

TEST(JsonNestedJsonApi, DiscriminatorAfterTheAttributesStillPicksTheSet) {
    const auto r = run_every_chunking(
        jsonapi_spec(false),
        R"({"data":[],"included":[{"attributes":{"name":"Acme","iban":"DE00"},"id":"9",)"
        R"("type":"Accounts"},{"attributes":{"user_name":"admin"},"type":"Users"}]})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"data":[],"included":[{"attributes":{"name":"Acme"},"id":"9",)"
                        R"("type":"Accounts"}]})");
    EXPECT_EQ(stripped(r.counters, "included[Accounts].iban"), 1u);
}

TEST(JsonNestedJsonApi, DiscriminatorThatIsNotAStringMatchesNoSet) {
    const auto r = run_every_chunking(
        jsonapi_spec(false),
        R"({"data":[],"included":[{"type":["Accounts"],"id":"9"},{"type":null},{"id":"1"}]})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"data":[],"included":[]})");
    EXPECT_EQ(r.counters.nested_discarded, 3u);
    expect_balanced(r.counters);
}

TEST(JsonNestedJsonApi, IncludedBeforeTheRecordsStaysHeldUntilTheFirstRecord) {
    const std::string head = R"({"included":[{"type":"Accounts","id":"9","attributes":{}}],)";
    const std::string tail = R"("data":[{"type":"Contacts","id":"1"}]})";
    auto filter = make_filter(jsonapi_spec(false));
    std::string out;
    ASSERT_FALSE(filter->feed(head, out));
    EXPECT_EQ(out, "");
    EXPECT_EQ(filter->counters().bytes_out, 0u);
    ASSERT_FALSE(filter->feed(tail, out));
    ASSERT_FALSE(filter->finish(out));
    EXPECT_EQ(out, R"({"included":[{"type":"Accounts","id":"9","attributes":{}}],)"
                   R"("data":[{"type":"Contacts","id":"1"}]})");
    EXPECT_EQ(filter->counters().bytes_out, out.size());
}

TEST(JsonNestedJsonApi, IncludedWithoutRecordsIsRefusedAndLeaksNothing) {
    const auto r = run_every_chunking(jsonapi_spec(false), "{" + std::string(included_json) + "}");
    EXPECT_EQ(r.error, err(filter_error::records_not_found));
    EXPECT_EQ(r.output, "");
}

TEST(JsonNestedJsonApi, IncludedOfAnotherShapeIsRefused) {
    EXPECT_EQ(run_every_chunking(jsonapi_spec(false),
                                 R"({"data":[],"included":{"type":"Accounts","id":"9"}})")
                  .error,
              err(filter_error::records_not_found));
    EXPECT_EQ(run_every_chunking(jsonapi_spec(false), R"({"data":[],"included":[1]})").error,
              err(filter_error::malformed));
}

TEST(JsonNestedJsonApi, RepeatedKeysInsideAnIncludedRecordAreRefused) {
    EXPECT_EQ(run_every_chunking(jsonapi_spec(false),
                                 R"({"data":[],"included":[{"type":"Accounts","type":"Users"}]})")
                  .error,
              err(filter_error::duplicate_key));
    EXPECT_EQ(run_every_chunking(
                  jsonapi_spec(false),
                  R"({"data":[],"included":[{"type":"Accounts","attributes":{"a":1,"a":2}}]})")
                  .error,
              err(filter_error::duplicate_key));
}

TEST(JsonNestedJsonApi, IncludedRecordsAreSuppressedByTheirOwnSuppressionList) {
    filter_spec spec = jsonapi_spec(false);
    nested_record_set people = typed_set("People", {"id", "email"});
    people.rules.suppression_fields = {"email"};
    people.rules.suppressed = [](const record_fields& f) {
        auto email = f.find("email");
        return email && *email == "blocked@x";
    };
    spec.nested.push_back(people);
    const auto r = run_every_chunking(
        spec, R"({"data":[],"included":[{"type":"People","id":"1","attributes":{"email":"ok@x"}},)"
              R"({"type":"People","id":"2","attributes":{"email":"blocked@x"}}]})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(
        r.output,
        R"({"data":[],"included":[{"type":"People","id":"1","attributes":{"email":"ok@x"}}]})");
    EXPECT_EQ(dropped(r.counters, drop_reason::suppressed), 1u);
    expect_balanced(r.counters);
}

TEST(JsonNestedJsonApi, IncludedRecordLargerThanTheLimitIsRefused) {
    filter_spec spec = jsonapi_spec(false);
    spec.max_record_bytes = 256;
    const std::string big =
        R"({"data":[],"included":[{"type":"Users","id":"1","attributes":{"bio":")" +
        std::string(600, 'x') + R"("}}]})";
    // Even a set that is dropped whole is buffered while its type is unknown: bounded.
    EXPECT_EQ(run_every_chunking(spec, big).error, err(filter_error::record_too_large));
    std::string nested_objects = R"({"data":[],"included":[{"type":"Accounts","attributes":{)";
    for (int i = 0; i < 100; ++i) {
        if (i != 0) nested_objects += ',';
        nested_objects += "\"k" + std::to_string(i) + "\":{}";
    }
    nested_objects += "}}]}";
    EXPECT_EQ(run_every_chunking(spec, nested_objects).error, err(filter_error::record_too_large));
}

TEST(JsonNestedJsonApi, DepthBombInsideAnIncludedRecordIsTooDeep) {
    filter_spec spec = jsonapi_spec(false);
    spec.max_depth = 16;
    const std::string bomb = R"({"data":[],"included":[{"type":"Accounts","attributes":{"x":)" +
                             std::string(40, '[') + std::string(40, ']') + "}}]}";
    EXPECT_EQ(run_every_chunking(spec, bomb).error, err(filter_error::too_deep));
}

TEST(JsonNestedJsonApi, MaxRecordsCountsIncludedRecords) {
    filter_spec spec = jsonapi_spec(false);
    spec.max_records = 2;
    const std::string body =
        R"({"data":[{"type":"Contacts","id":"1"}],"included":[{"type":"Accounts","id":"1"},)"
        R"({"type":"Accounts","id":"2"}]})";
    EXPECT_EQ(run_every_chunking(spec, body).error, err(filter_error::record_limit_exceeded));
    spec.max_records = 3;
    EXPECT_FALSE(run_every_chunking(spec, body).error);
}

// --- Close: contacts inside leads -------------------------------------------------------------

filter_spec close_spec(std::vector<std::string> lead_fields) {
    filter_spec spec = strict_spec("/data", std::move(lead_fields));
    nested_record_set contacts = set_at("contacts", {"id", "name", "emails.email"});
    contacts.in_record = true;
    contacts.rules.conditions.push_back(exclude_set("unsubscribed", drop_reason::objected));
    spec.nested = {contacts};
    return spec;
}

const char* const close_body =
    R"({"has_more":false,"data":[{"id":"lead_1","display_name":"Acme","contacts":[)"
    R"({"id":"c1","name":"Ann","title":"CEO","emails":[{"email":"a@x","type":"office"}]},)"
    R"({"id":"c2","name":"Bob","unsubscribed":true,"emails":[{"email":"b@x"}]},)"
    R"({"id":"c3","name":"Cy"}],"custom.cf_1":"x"},)"
    R"({"id":"lead_2","display_name":"Beta","contacts":[]}]})";

TEST(JsonNestedClose, OptedOutContactIsDroppedItsLeadKept) {
    const auto r = run_every_chunking(close_spec({"id", "display_name", "contacts"}), close_body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output,
              R"({"has_more":false,"data":[{"id":"lead_1","display_name":"Acme","contacts":[)"
              R"({"id":"c1","name":"Ann","emails":[{"email":"a@x"}]},{"id":"c3","name":"Cy"}]},)"
              R"({"id":"lead_2","display_name":"Beta","contacts":[]}]})");
    EXPECT_EQ(r.counters.records_in, 5u);
    EXPECT_EQ(r.counters.records_out, 4u);
    EXPECT_EQ(r.counters.nested_in, 3u);
    EXPECT_EQ(r.counters.nested_out, 2u);
    EXPECT_EQ(dropped(r.counters, drop_reason::objected), 1u);
    // The lead's allow-list keeps `contacts`; the contact set's decides inside.
    EXPECT_EQ(stripped(r.counters, "contacts.title"), 1u);
    EXPECT_EQ(stripped(r.counters, "contacts.emails.type"), 1u);
    expect_balanced(r.counters);
}

TEST(JsonNestedClose, ContactsAppearOnlyWhereTheLeadAllowListReachesThem) {
    const auto r = run_every_chunking(close_spec({"id"}), close_body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"has_more":false,"data":[{"id":"lead_1"},{"id":"lead_2"}]})");
    EXPECT_EQ(r.counters.nested_in, 0u);
    EXPECT_EQ(stripped(r.counters, "contacts"), 2u);
}

TEST(JsonNestedClose, LeadAllowListDescendingIntoContactsGivesWayToTheContactSet) {
    // The lead lists only contacts.name; the contact set lists emails too, and governs.
    const auto r = run_every_chunking(close_spec({"id", "contacts.name"}), close_body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output,
              R"({"has_more":false,"data":[{"id":"lead_1","contacts":[)"
              R"({"id":"c1","name":"Ann","emails":[{"email":"a@x"}]},{"id":"c3","name":"Cy"}]},)"
              R"({"id":"lead_2","contacts":[]}]})");
}

TEST(JsonNestedClose, DroppedLeadTakesItsContactsWithIt) {
    filter_spec spec = close_spec({"id", "contacts"});
    spec.rules.conditions.push_back(
        {"display_name", condition_op::equals, {"Beta"}, false, drop_reason::condition});
    const auto r = run_every_chunking(spec, close_body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"has_more":false,"data":[{"id":"lead_2","contacts":[]}]})");
    EXPECT_EQ(r.counters.records_in, 5u);
    EXPECT_EQ(r.counters.records_out, 1u);
    EXPECT_EQ(r.counters.nested_out, 0u);
    // The lead and its two kept contacts for the lead's reason; Bob for his own.
    EXPECT_EQ(dropped(r.counters, drop_reason::condition), 3u);
    EXPECT_EQ(dropped(r.counters, drop_reason::objected), 1u);
    expect_balanced(r.counters);
}

TEST(JsonNestedClose, LeadRulesStillReadInsideItsContacts) {
    filter_spec spec = close_spec({"id", "contacts"});
    spec.rules.conditions.push_back(exclude_set("contacts.unsubscribed", drop_reason::objected));
    const auto r = run_every_chunking(spec, close_body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"has_more":false,"data":[{"id":"lead_2","contacts":[]}]})");
    EXPECT_EQ(dropped(r.counters, drop_reason::objected), 4u);
    expect_balanced(r.counters);
}

TEST(JsonNestedClose, ContactsOfAnotherShapeAreStripped) {
    const auto r = run_every_chunking(
        close_spec({"id", "contacts"}),
        R"({"data":[{"id":"1","contacts":"Ann <a@x>"},{"id":"2","contacts":{"id":"c"}},)"
        R"({"id":"3","contacts":null}]})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"data":[{"id":"1"},{"id":"2"},{"id":"3"}]})");
    EXPECT_EQ(stripped(r.counters, "contacts"), 3u);
}

TEST(JsonNestedClose, ContactSetUnderAnAncestorTheLeadKeepsWhole) {
    filter_spec spec = strict_spec("/data", {"id", "company"});
    nested_record_set contacts = set_at("company.contacts", {"name"});
    contacts.in_record = true;
    spec.nested = {contacts};
    const auto r = run_every_chunking(
        spec,
        R"({"data":[{"id":"1","company":{"name":"Acme","contacts":[{"name":"Ann","ssn":"1"}]}}]})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output,
              R"({"data":[{"id":"1","company":{"name":"Acme","contacts":[{"name":"Ann"}]}}]})");
    EXPECT_EQ(stripped(r.counters, "company.contacts.ssn"), 1u);
}

TEST(JsonNestedClose, DepthBombInsideAContactIsTooDeep) {
    filter_spec spec = close_spec({"id", "contacts"});
    spec.max_depth = 16;
    std::string bomb = R"({"data":[{"id":"1","contacts":[{"id":"c","x":)";
    for (int i = 0; i < 30; ++i) bomb += R"({"a":)";
    bomb += "1" + std::string(30, '}') + "}]}]}";
    EXPECT_EQ(run_every_chunking(spec, bomb).error, err(filter_error::too_deep));
    const std::string arrays = R"({"data":[{"id":"1","contacts":[{"id":"c","x":)" +
                               std::string(30, '[') + std::string(30, ']') + "}]}]}";
    EXPECT_EQ(run_every_chunking(spec, arrays).error, err(filter_error::too_deep));
}

TEST(JsonNestedClose, LeadWithAContactLargerThanTheLimitIsRefused) {
    filter_spec spec = close_spec({"id", "contacts"});
    spec.max_record_bytes = 256;
    const std::string body = R"({"data":[{"id":"1","contacts":[{"id":"c","name":")" +
                             std::string(400, 'n') + R"("}]}]})";
    EXPECT_EQ(run_every_chunking(spec, body).error, err(filter_error::record_too_large));
}

TEST(NdjsonNested, ContactsInsideEachLineAreFilteredAsContacts) {
    filter_spec spec = close_spec({"id", "contacts"});
    spec.format = body_format::ndjson;
    spec.records.clear();
    const auto r = run_every_chunking(
        spec,
        "{\"id\":\"1\",\"contacts\":[{\"id\":\"c1\",\"ssn\":\"x\"},{\"id\":\"c2\","
        "\"unsubscribed\":\"yes\"}]}\n{\"id\":\"2\",\"contacts\":[{\"id\":\"c3\"}]}\n");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output,
              "{\"id\":\"1\",\"contacts\":[{\"id\":\"c1\"}]}\n"
              "{\"id\":\"2\",\"contacts\":[{\"id\":\"c3\"}]}\n");
    EXPECT_EQ(r.counters.records_in, 5u);
    EXPECT_EQ(r.counters.records_out, 4u);
    EXPECT_EQ(dropped(r.counters, drop_reason::objected), 1u);
    expect_balanced(r.counters);
}

TEST(JsonNested, EmptyNestedListChangesNothing) {
    filter_spec spec = strict_spec("/data", {"id", "contacts"});
    filter_spec with = spec;
    nested_record_set unused = set_at("elsewhere", {"id"});
    unused.in_record = true;
    with.nested = {unused};
    const auto plain = run_every_chunking(spec, close_body);
    const auto r = run_every_chunking(with, close_body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, plain.output);
    EXPECT_EQ(r.counters.stripped_fields, plain.counters.stripped_fields);
    EXPECT_EQ(r.counters.records_out, plain.counters.records_out);
}

}  // namespace
}  // namespace exportwall::filters
