import Foundation
import HTTPTypes
import TestSupport
import Testing
@testable import WorkflowAPI
import Workflows

/// The listings' query parameters: the declared set, the containment filters and their limits.
extension APIHandlerTests {
    static func encoded(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: .alphanumerics)! }

    func errors(_ answer: Answer) -> [String: [String]] { answer.json["errors"] as? [String: [String]] ?? [:] }

    @Test func anUnknownParameterOfEitherListingIs400NamingIt() throws {
        let misspelt = call(.get, "/api/v1/workflows?stauts=Running")
        #expect(misspelt.status == 400 && misspelt.json["type"] as? String == "urn:workflowd:problem:validation")
        #expect(errors(misspelt) == ["stauts": ["is not a parameter of this listing; it takes \(InstanceListing.parameters.joined(separator: ", "))"]])
        let id = try create()
        let events = call(.get, "/api/v1/workflows/\(id)/events?limit=5&status=Running")
        #expect(events.status == 400)
        #expect(errors(events) == ["status": ["is not a parameter of this listing; it takes limit, cursor, after, wait"]])
        #expect(errors(call(.get, "/api/v1/workflows?limit=5&limit=6")) == ["limit": ["is given more than once"]])
        #expect(call(.head, "/api/v1/workflows?nope=1").status == 400)
        #expect(call(.get, "/api/v1/workflows/\(id)/events?limit=5&cursor=ZTE6MA").status == 200)
    }

    @Test func contextAndStepDataFilterTheListingByContainment() throws {
        func create(_ parameters: String) throws -> String {
            let created = call(.post, "/api/v1/workflows", body: #"{"workflowId":"create-prd","parameters":\#(parameters)}"#)
            return try #require(created.json["id"] as? String)
        }
        let apollo = try create(#"{"project":{"name":"Apollo"},"tags":["db","api"]}"#)
        let gemini = try create(#"{"project":{"name":"Gemini"},"tags":["db"]}"#)
        func ids(_ query: String, user: UUID? = nil, roles: [String] = ["Participant"]) -> [String] {
            let answer = call(.get, "/api/v1/workflows?\(query)", roles: roles, user: user)
            #expect(answer.status == 200, "\(query): \(answer.body)")
            return (answer.json["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        }
        #expect(ids("context=" + Self.encoded(#"{"project":{"name":"Apollo"}}"#)) == [apollo])
        #expect(ids("context=" + Self.encoded(#"{"tags":["db"]}"#)) == [gemini, apollo])
        #expect(ids("context=" + Self.encoded(#"{"tags":["db"],"project":{"name":"Gemini"}}"#)) == [gemini])
        #expect(ids("context=" + Self.encoded("{}")) == [gemini, apollo], "{} is no condition")
        #expect(ids("context=" + Self.encoded(#"{"tags":["db"]}"#), user: UUID()).isEmpty)
        #expect(ids("context=" + Self.encoded(#"{"tags":["db"]}"#), user: UUID(), roles: ["Admin"]) == [gemini, apollo])

        #expect(call(.post, "/api/v1/workflows/\(apollo)/transitions", body: #"{"to":"Running"}"#).status == 200)
        #expect(call(.post, "/api/v1/workflows/\(apollo)/advance", body: #"{"output":{"database":"PostgreSQL"}}"#).status == 200)
        #expect(ids("stepData=" + Self.encoded(#"{"goals":{"database":"PostgreSQL"}}"#)) == [apollo])
        #expect(ids("stepData=" + Self.encoded(#"{"goals":{"database":"SQLite"}}"#)).isEmpty)
        #expect(ids("status=Created&context=" + Self.encoded(#"{"tags":["db"]}"#)) == [gemini])
    }

    @Test(arguments: [
        ("{", "is not valid JSON: expected a member name in double quotes (at byte 1)"),
        (#"{"a":1}x"#, "is not valid JSON: unexpected data after the JSON value (at byte 7)"),
        (#"["a"]"#, "must be a JSON object, not an array"),
        ("7", "must be a JSON object, not a number"),
        (#"{"a":"\#(String(repeating: "x", count: 2041))"}"#, "is 2049 bytes long; at most 2048 bytes are allowed"),
        (#"{"a":[[[[[[[[1]]]]]]]]}"#, "is nested deeper than 8 levels of objects and arrays"),
        ("{" + (1...17).map { #""k\#($0)":\#($0)"# }.joined(separator: ",") + "}",
         "has 17 keys (counting those of nested objects); at most 16 are allowed"),
        (#"{"a":{"b":[{"c":1,"d":2}]},"e":1,"f":1,"g":1,"h":1,"i":1,"j":1,"k":1,"l":1,"m":1,"n":1,"o":1,"p":1,"q":1}"#,
         "has 17 keys (counting those of nested objects); at most 16 are allowed"),
    ])
    func aBadContainmentFilterIs400SayingWhichRuleItBreaks(_ filter: String, _ message: String) {
        for name in ["context", "stepData"] {
            let answer = call(.get, "/api/v1/workflows?\(name)=\(Self.encoded(filter))")
            #expect(answer.status == 400)
            #expect(errors(answer) == [name: [message]], "\(name)=\(filter)")
        }
    }

    @Test func theFilterLimitsAreInclusive() throws {
        func accepted(_ text: String) -> Bool { (try? JSONFilter.parse(text).get()) != nil }
        let longest = #"{"a":"\#(String(repeating: "é", count: 1020))"}"#
        #expect(longest.utf8.count == 2048 && accepted(longest), "the limit counts bytes")
        #expect(!accepted(#"{"a":"\#(String(repeating: "é", count: 1021))"}"#))
        #expect(accepted(#"{"a":[[[[[[[]]]]]]]}"#), "8 levels")
        #expect(accepted("{" + (1...16).map { #""k\#($0)":[{}]"# }.joined(separator: ",") + "}"))
        #expect(try JSONFilter.parse("{ }").get() == nil, "{} filters nothing")
        #expect(try JSONFilter.parse(#"{ "a" : [ 1 , 2.50 ] }"#).get() == JSONText(unchecked: #"{"a":[1,2.50]}"#))
        #expect(!accepted(#"{"a":"\u0000"}"#), "jsonb cannot hold U+0000")
    }

    /// The declared parameters of each listing are the ones its OpenAPI operation documents.
    @Test func eachListingDeclaresTheParametersItsOperationDocuments() throws {
        let document = try OpenAPIValidator(json: OpenAPIDocument.json).document
        let components = (document["components"] as? [String: Any])?["parameters"] as? [String: [String: Any]] ?? [:]
        func documented(_ path: String) -> [[String: Any]] {
            let operation = ((document["paths"] as? [String: Any])?[path] as? [String: Any])?["get"] as? [String: Any]
            return (operation?["parameters"] as? [[String: Any]] ?? []).map { parameter in
                (parameter["$ref"] as? String).flatMap { components[String($0.split(separator: "/").last!)] } ?? parameter
            }.filter { $0["in"] as? String == "query" }
        }
        func names(_ parameters: [[String: Any]]) -> Set<String> { Set(parameters.compactMap { $0["name"] as? String }) }
        let instanceParameters = documented("/api/v1/workflows")
        #expect(names(instanceParameters) == Set(InstanceListing.parameters))
        #expect(names(documented("/api/v1/workflows/{workflowInstanceId}/events")) == Set(EventListing.parameters))
        #expect(names(documented("/api/v1/tasks")) == Set(TaskListing.parameters))
        // The JSON-valued ones: their examples are filters the server accepts.
        let filters = instanceParameters.filter { ($0["schema"] as? [String: Any])?["contentMediaType"] as? String == "application/json" }
        #expect(names(filters) == ["context", "stepData"])
        for filter in filters {
            let example = try #require(filter["example"] as? String)
            #expect(try JSONFilter.parse(example).get() != nil, "\(example)")
        }
    }
}
