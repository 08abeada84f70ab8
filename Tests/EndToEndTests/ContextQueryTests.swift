import Foundation
import TestSupport
import Testing

/// `GET /api/v1/workflows?context=…&stepData=…` through nginx: JSON containment over what instances are
/// about, within the caller's visibility, consistent with the writes that returned before it.
@Suite(requiresStack)
struct ContextQueryEndToEndTests {
    static func query(_ name: String, _ json: String) -> String {
        "\(name)=" + json.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
    }

    /// The ids a listing answers, following `nextCursor` to the end.
    static func ids(_ user: APIUser, _ query: String, pageSize: Int = 100) throws -> [String] {
        var ids: [String] = []
        var cursor: String?
        repeat {
            let page = try user.call("GET", "/api/v1/workflows?limit=\(pageSize)&\(query)" + (cursor.map { "&cursor=\($0)" } ?? ""))
            #expect(page.status == 200, "\(query): \(page)")
            ids += (page.json["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            cursor = page.json["nextCursor"] as? String
        } while cursor != nil && ids.count < 1000
        return ids
    }

    @Test func containmentFindsInstancesByNestedObjectsAndArraysWithinWhatTheCallerMaySee() throws {
        let stack = try Stack(name: "context-query")
        let marcus = try APIUser(stack, roles: ["Participant"])
        let ana = try APIUser(stack, roles: ["Participant"])
        let admin = try APIUser(stack, roles: ["Admin"])
        func create(_ user: APIUser, _ parameters: [String: Any]) throws -> String {
            try #require(try user.create("create-prd", parameters: parameters)["id"] as? String)
        }
        // Found right after each create returned: the listing reads what the write committed.
        var apollo: [String] = []
        for epic in 1...5 {
            let id = try create(marcus, ["project": ["name": "Apollo", "epic": epic], "tags": ["db", "epic-\(epic)"]])
            apollo.insert(id, at: 0)
            #expect(try Self.ids(marcus, Self.query("context", #"{"project":{"name":"Apollo"}}"#)) == apollo)
        }
        let gemini = try create(marcus, ["project": ["name": "Gemini", "epic": 1], "tags": ["api", "db"]])
        let anas = try create(ana, ["project": ["name": "Apollo", "epic": 1], "tags": ["db"]])

        // Nested objects and arrays by containment; every key must match (AND).
        #expect(try Self.ids(marcus, Self.query("context", #"{"project":{"epic":1}}"#)) == [gemini, apollo[4]])
        #expect(try Self.ids(marcus, Self.query("context", #"{"tags":["db"]}"#)) == [gemini] + apollo)
        #expect(try Self.ids(marcus, Self.query("context", #"{"tags":["db","epic-3"]}"#)) == [apollo[2]])
        #expect(try Self.ids(marcus, Self.query("context", #"{"project":{"name":"Apollo","epic":1},"tags":["db"]}"#)) == [apollo[4]])
        #expect(try Self.ids(marcus, Self.query("context", #"{"project":{"name":"Apollo","epic":2},"tags":["api"]}"#)).isEmpty)
        #expect(try Self.ids(marcus, Self.query("context", #"{"tags":"db"}"#)).isEmpty, "an array below the top holds no scalar")

        // Paging through the matches with a cursor, newest first, with nothing skipped or repeated.
        #expect(try Self.ids(marcus, Self.query("context", #"{"project":{"name":"Apollo"}}"#), pageSize: 2) == apollo)

        // Another user's instances never appear; an Admin searches everyone's, or one user's.
        #expect(try Self.ids(ana, Self.query("context", #"{"project":{"name":"Apollo"}}"#)) == [anas])
        #expect(try Self.ids(admin, Self.query("context", #"{"project":{"name":"Apollo"}}"#)) == [anas] + apollo)
        #expect(try Self.ids(admin, "userId=\(ana.id.uuidString)&" + Self.query("context", #"{"tags":["db"]}"#)) == [anas])
        let forbidden = try marcus.call("GET", "/api/v1/workflows?userId=\(ana.id.uuidString)&" + Self.query("context", "{}"))
        #expect(isProblem(forbidden, status: 403))

        // With status, and over step outputs; found right after the change returned.
        let started = try marcus.transition(apollo[1], to: "Running")
        #expect(started.status == 200)
        let running = Self.query("context", #"{"tags":["db"]}"#) + "&status=Running"
        #expect(try Self.ids(marcus, running) == [apollo[1]])
        let advanced = try marcus.call(
            "POST", "/api/v1/workflows/\(apollo[1])/advance", json: ["output": ["decision": ["database": "PostgreSQL", "replicas": [1, 2]]]])
        #expect(advanced.status == 200, "\(advanced)")
        let step = try #require(((advanced.json["stepData"] as? [String: Any])?.keys.first))
        #expect(try Self.ids(marcus, Self.query("stepData", #"{"\#(step)":{"decision":{"database":"PostgreSQL"}}}"#)) == [apollo[1]])
        #expect(try Self.ids(marcus, Self.query("stepData", #"{"\#(step)":{"decision":{"replicas":[2]}}}"#)) == [apollo[1]])
        #expect(try Self.ids(marcus, Self.query("stepData", #"{"\#(step)":{"decision":{"database":"SQLite"}}}"#)).isEmpty)
        #expect(try Self.ids(ana, Self.query("stepData", #"{"\#(step)":{}}"#)).isEmpty)
        #expect(try Self.ids(admin, Self.query("stepData", #"{"\#(step)":{}}"#) + "&" + Self.query("context", #"{"project":{"epic":4}}"#)) == [apollo[1]])
    }

    @Test func badFiltersAndUnknownParametersAre400ProblemsNamingTheParameter() throws {
        let stack = try Stack(name: "context-query-errors")
        let marcus = try APIUser(stack, roles: ["Participant"])
        let id = try #require(try marcus.create()["id"] as? String)
        let cases: [(String, String)] = [
            ("{", "is not valid JSON"),
            ("[1]", "must be a JSON object, not an array"),
            (#""Apollo""#, "must be a JSON object, not a string"),
            (#"{"a":"\#(String(repeating: "x", count: 2100))"}"#, "is 2108 bytes long; at most 2048 bytes are allowed"),
            (#"{"a":[[[[[[[[1]]]]]]]]}"#, "is nested deeper than 8 levels of objects and arrays"),
            ("{" + (1...17).map { #""k\#($0)":1"# }.joined(separator: ",") + "}", "has 17 keys"),
        ]
        for name in ["context", "stepData"] {
            for (filter, message) in cases {
                let answer = try marcus.call("GET", "/api/v1/workflows?" + Self.query(name, filter))
                #expect(isProblem(answer, status: 400), "\(name)=\(filter)")
                let errors = answer.json["errors"] as? [String: [String]] ?? [:]
                #expect(errors.keys.sorted() == [name] && errors[name]?.first?.hasPrefix(message) == true, "\(answer)")
            }
        }
        for path in ["/api/v1/workflows?stauts=Running", "/api/v1/workflows/\(id)/events?limit=2&context=%7B%7D"] {
            let answer = try marcus.call("GET", path)
            #expect(isProblem(answer, status: 400), "\(path)")
            let errors = answer.json["errors"] as? [String: [String]] ?? [:]
            #expect(errors.keys.sorted() == [path.contains("stauts") ? "stauts" : "context"], "\(answer)")
        }
        #expect(try marcus.call("GET", "/api/v1/workflows/\(id)/events?limit=2").status == 200)
    }
}
