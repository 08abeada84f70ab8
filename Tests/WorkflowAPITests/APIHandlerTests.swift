import Foundation
import HTTPTypes
import Logging
import Synchronization
import TestSupport
import Testing
import TextCoding
@testable import WorkflowAPI
import Workflows

/// `WorkflowAPI.handle` without sockets: routing, 405/Allow, HEAD, roles, validation and the problem
/// mapping, over the in-memory repository.
@Suite struct APIHandlerTests {
    let api: WorkflowAPI
    let repository = InMemoryWorkflowRepository()
    let participant = UUID()

    init() async throws {
        let verifier = try await TokenVerifier.make(configuration: TokenVerifierConfiguration(
            hmacSecret: TestTokens.secret, jwksJSON: nil, issuer: nil, audience: nil))
        api = WorkflowAPI(
            service: WorkflowService(repository: repository), verifier: verifier, maxBodyBytes: 1000,
            logger: Logger(label: "test"), metrics: { "# metrics\n" }) { .ready }
    }

    struct Answer {
        let status: Int
        let headers: HTTPFields
        let body: String
        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
        }
        var contentType: String? { headers[.contentType] }
    }

    func call(
        _ method: HTTPRequest.Method, _ path: String, roles: [String]? = ["Participant"], user: UUID? = nil,
        body: String? = nil, headers: [String: String] = [:]
    ) -> Answer {
        var head = HTTPRequest(method: method, scheme: "http", authority: "localhost", path: path)
        if let roles { head.headerFields[.authorization] = "Bearer " + TestTokens.token(user: user ?? participant, roles: roles) }
        if let body {
            head.headerFields[.contentType] = "application/json"
            head.headerFields[.contentLength] = String(body.utf8.count)
        }
        for (name, value) in headers { head.headerFields[HTTPField.Name(name)!] = value }
        let (response, bytes) = api.handle(head, body: Array((body ?? "").utf8))
        return Answer(status: response.status.code, headers: response.headerFields, body: String(decoding: bytes, as: UTF8.self))
    }

    func create() throws -> String {
        let created = call(.post, "/api/v1/workflows", body: #"{"workflowId":"create-prd"}"#)
        #expect(created.status == 201)
        return try #require(created.json["id"] as? String)
    }

    @Test func everyRouteIsReachableWithItsMethod() throws {
        let id = try create()
        for (method, path) in [
            (HTTPRequest.Method.get, "/api/v1/health"), (.get, "/api/v1/health/live"), (.get, "/api/v1/health/ready"), (.get, "/api/v1/openapi.json"), (.get, "/api/v1/workflow-states"),
            (.get, "/api/v1/workflow-definitions"), (.get, "/api/v1/workflow-definitions/create-prd"), (.get, "/api/v1/workflows"),
            (.get, "/api/v1/workflows/\(id)"), (.get, "/api/v1/workflows/\(id)/events"), (.get, "/metrics"),
        ] {
            #expect(call(method, path).status == 200, "\(method) \(path)")
        }
        #expect(call(.post, "/api/v1/workflows/\(id)/transitions", body: #"{"to":"Running"}"#).status == 200)
        #expect(call(.post, "/api/v1/workflows/\(id)/advance").status == 200)
    }

    @Test(arguments: ["/", "/api/v1", "/api/v1/nope", "/api/v1/workflows/not-a-uuid", "/api/v1/workflows/not-a-uuid/events",
                      "/api/v1/health/x", "/api/v2/workflows", "/api/v1/workflows/6f1c2f7e-4a51-4a55-9a8e-0c4f3b1e2d3c/x"])
    func unknownPathsAre404ProblemsWithoutAToken(_ path: String) {
        let answer = call(.get, path, roles: nil)
        #expect(answer.status == 404)
        #expect(answer.contentType == "application/problem+json")
        #expect(answer.json["instance"] as? String == path)
    }

    @Test func aWrongMethodIs405WithTheMethodsThePathHas() {
        let list = call(.delete, "/api/v1/workflows", roles: nil)
        #expect(list.status == 405)
        #expect(list.headers[.allow] == "GET, HEAD, POST")
        #expect(list.contentType == "application/problem+json")
        let transitions = call(.get, "/api/v1/workflows/6f1c2f7e-4a51-4a55-9a8e-0c4f3b1e2d3c/transitions")
        #expect(transitions.status == 405 && transitions.headers[.allow] == "POST")
        #expect(call(.put, "/api/v1/health").headers[.allow] == "GET, HEAD")
        #expect(call(.get, "/api/v1/workflows/6F1C2F7E-4A51-4A55-9A8E-0C4F3B1E2D3C/transitions").status == 405, "an id in upper case is an id")
        #expect(call(.get, "/api/v1/workflows/not-a-uuid-but-thirty-six-characters/transitions").status == 404)
        #expect(call(.get, "/api/v1/workflowz").status == 404, "a segment as long as a route's is still compared")
    }

    @Test func headAnswersLikeGetWithoutABody() {
        let get = call(.get, "/api/v1/workflow-states")
        let head = call(.head, "/api/v1/workflow-states")
        #expect(head.status == 200 && head.body.isEmpty)
        #expect(head.headers[.contentLength] == get.headers[.contentLength])
    }

    @Test func tokenAndRoleChecksComeFromTheRouteTable() throws {
        #expect(call(.get, "/api/v1/workflows", roles: nil).status == 401)
        #expect(call(.get, "/api/v1/workflows", roles: nil).headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
        #expect(call(.get, "/api/v1/health", roles: nil).status == 200)
        let viewer = call(.post, "/api/v1/workflows", roles: ["Viewer"], body: #"{"workflowId":"create-prd"}"#)
        #expect(viewer.status == 403)
        #expect(viewer.json["detail"] as? String == Capability.act.refusal)
        #expect(call(.get, "/api/v1/workflows", roles: ["Viewer"]).status == 200)
        #expect(call(.get, "/api/v1/workflow-definitions", roles: []).status == 403)
        let id = try create()
        #expect(call(.get, "/api/v1/workflows/\(id)", roles: ["Viewer"], user: participant).status == 200)
        #expect(call(.post, "/api/v1/workflows/\(id)/transitions", roles: ["Viewer"], body: #"{"to":"Running"}"#).status == 403)
        #expect(repository.state.withLock { $0.events.count } == 1, "a refused request writes nothing")
    }

    @Test func validationErrorsNameEachField() {
        let answer = call(.post, "/api/v1/workflows", body: #"{"workflowId":7,"parameters":[]}"#)
        #expect(answer.status == 400)
        #expect(answer.json["type"] as? String == "urn:workflowd:problem:validation")
        let errors = answer.json["errors"] as? [String: [String]]
        #expect(errors?["workflowId"] == ["must be a string, not a number"])
        #expect(errors?["parameters"] == ["must be an object, not an array"])
        #expect(call(.get, "/api/v1/workflows?limit=0").json["errors"] as? [String: [String]] == ["limit": ["must be an integer from 1 to 100"]])
    }

    @Test func bodiesMustBeJSONObjectsWithinTheLimit() {
        var notJSON = HTTPRequest(method: .post, scheme: "http", authority: "localhost", path: "/api/v1/workflows")
        notJSON.headerFields[.authorization] = "Bearer " + TestTokens.token(user: participant, roles: ["Participant"])
        notJSON.headerFields[.contentType] = "text/plain"
        #expect(api.handle(notJSON, body: Array("x".utf8)).0.status == .unsupportedMediaType)
        #expect(call(.post, "/api/v1/workflows", body: "{").json["type"] as? String == "urn:workflowd:problem:malformed-json")
        #expect(call(.post, "/api/v1/workflows", body: "[1]").status == 400)
        #expect(call(.post, "/api/v1/workflows", body: #"{"workflowId":"\#(String(repeating: "x", count: 1000))"}"#).status == 413)
    }

    @Test func domainErrorsBecomeTheirProblems() throws {
        let id = try create()
        let invalid = call(.post, "/api/v1/workflows/\(id)/transitions", body: #"{"to":"Completed"}"#)
        #expect(invalid.status == 400)
        #expect(invalid.json["type"] as? String == "urn:workflowd:problem:invalid-transition")
        #expect(invalid.json["allowedTransitions"] as? [String] == ["Running", "Cancelled"])
        let stale = call(.post, "/api/v1/workflows/\(id)/transitions", body: #"{"to":"Running"}"#, headers: ["If-Match": "\"7\""])
        #expect(stale.status == 412 && stale.headers[.eTag] == "\"1\"")
        let stranger = call(.get, "/api/v1/workflows/\(id)", user: UUID())
        #expect(stranger.status == 404 && stranger.json["type"] as? String == "urn:workflowd:problem:not-found")
        #expect(call(.post, "/api/v1/workflows/\(id)/advance").json["type"] as? String == "urn:workflowd:problem:not-running")
        #expect(call(.post, "/api/v1/workflows", body: #"{"workflowId":"nope"}"#).status == 400)
    }

    @Test func theRequestLoggerReachesTheRepository() {
        #expect(call(.post, "/api/v1/workflows", body: #"{"workflowId":"create-prd"}"#, headers: ["X-Request-Id": "req-42"]).status == 201)
        #expect(repository.requestIdsSeen.withLock { $0 } == ["req-42"])
    }

    @Test func everyResponseCarriesTheRequestIdAndNoStore() {
        let answer = call(.get, "/api/v1/nope", headers: ["X-Request-Id": "abc-123"])
        #expect(answer.headers[.requestID] == "abc-123")
        #expect(answer.json["requestId"] as? String == "abc-123")
        #expect(answer.headers[.cacheControl] == "no-store")
    }

    @Test func aLongRequestIdIsCutAndAMissingOneIsMade() {
        let long = String(repeating: "a", count: 200)
        #expect(call(.get, "/api/v1/nope", headers: ["X-Request-Id": long]).headers[.requestID] == String(repeating: "a", count: 128))
        for sent in [[:], ["X-Request-Id": ""]] {
            let made = call(.get, "/api/v1/nope", headers: sent).headers[.requestID]
            #expect(made.flatMap { UUID(uuidString: $0) } != nil, "a new id: \(made ?? "none")")
        }
    }

    /// Request fields come as the web server sent them; the one a response echoes is made legal before it
    /// goes into the response's fields, which are written as they are.
    @Test func anEchoedRequestIdHoldsOnlyBytesAFieldMay() {
        let echoed = WorkflowAPI.requestId(sent: "req\u{1}\r\n42")
        #expect(!echoed.utf8.contains { $0 < 0x20 }, "\(echoed.debugDescription)")
        #expect(echoed.hasPrefix("req") && echoed.hasSuffix("42"))
    }

    /// Metric labels are route templates (ids never grow the label space); every 404 shares one label.
    @Test func routeTemplatesAreTheMetricLabels() {
        let router = WorkflowAPI.router
        func label(_ path: String) -> String {
            let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map { $0 }
            switch router.match(.get, segments) {
            case .route(let route, let label, _):
                #expect(router.labels[label] == route.template)
                return route.template
            case .methodNotAllowed(let label, _): return router.labels[label]
            case .notFound: return "unmatched"
            }
        }
        let id = "6f1c2f7e-4a51-4a55-9a8e-0c4f3b1e2d3c"
        #expect(label("/api/v1/workflows/\(id)/transitions") == "/api/v1/workflows/{workflowInstanceId}/transitions")
        #expect(label("/api/v1/workflow-definitions/create-prd") == "/api/v1/workflow-definitions/{definitionId}")
        #expect(label("/api/v1/workflows/x48213") == "unmatched")
        // Longer and shorter than every template (the router looks only at templates of the path's length).
        #expect(label("/api/v1/workflows/\(id)/events/stream/a/b/c/d") == "unmatched")
        #expect(label("/") == "unmatched")
        #expect(label("/api/v1/workflows/\(id)/events/stream") == "/api/v1/workflows/{workflowInstanceId}/events/stream")
    }

    /// A UUID parameter is parsed once, by the router, and handed to the handler as parsed; a parameter
    /// that holds no UUID has none; an id that is not one (or is one with a stray character) matches nothing.
    @Test func theRouterHandsOverTheUUIDsItParsed() throws {
        let id = UUID()
        func parameters(_ path: String) -> PathParameters? {
            let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map { $0 }
            if case .route(_, _, let parameters) = WorkflowAPI.router.match(.post, segments) { return parameters }
            return nil
        }
        let found = try #require(parameters("/api/v1/workflows/\(id.uuidString)/transitions"))
        #expect(found.uuid("workflowInstanceId") == id, "upper-case text parses to the same id")
        #expect(found["workflowInstanceId"] == Substring(id.uuidString))
        let delivery = UUID()
        let redeliver = try #require(parameters("/api/v1/webhooks/\(id.lowercaseText)/deliveries/\(delivery.lowercaseText)/redeliver"))
        #expect(redeliver.uuid("webhookId") == id && redeliver.uuid("deliveryId") == delivery)
        #expect(parameters("/api/v1/workflows/\(id.lowercaseText)x/transitions") == nil)
        #expect(parameters("/api/v1/workflows/\(id.lowercaseText.dropLast())g/transitions") == nil)
    }

    @Test func theRouteTableAndTheOpenAPIPathsAgree() throws {
        let validator = try OpenAPIValidator(json: OpenAPIDocument.json)
        let paths = try #require(validator.document["paths"] as? [String: [String: Any]])
        let documented = Set(paths.flatMap { path, item in
            item.keys.filter { ["get", "post", "put", "patch", "delete"].contains($0) }.map { "\($0.uppercased()) \(path)" }
        })
        let routed = Set(WorkflowAPI.routes.map { "\($0.method.rawValue) \($0.template)" })
        #expect(routed == documented)
        // Operations that need a token say so; public ones opt out with `security: []`.
        for route in WorkflowAPI.routes {
            let operation = paths[route.template]?[route.method.rawValue.lowercased()] as? [String: Any]
            let isPublic = (operation?["security"] as? [Any])?.isEmpty == true
            #expect(isPublic == (route.access == .anyone), "\(route.method.rawValue) \(route.template)")
        }
    }

    /// nginx answers some methods itself (TRACE, CONNECT) and takes `Allow` from its map; the map must
    /// give every path the methods the route table gives it.
    @Test func nginxAllowMapAgreesWithTheRouteTable() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let conf = try String(contentsOf: root.appendingPathComponent("nginx/workflowd.conf"), encoding: .utf8)
        let mapStart = try #require(conf.range(of: "map $uri $workflowd_allow {"))
        let mapBody = conf[mapStart.upperBound..<(try #require(conf[mapStart.upperBound...].firstIndex(of: "}")))]
        var entries: [(key: String, value: String)] = []
        for line in mapBody.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            // `KEY "VALUE";` where KEY may be quoted too: the value is the last quoted string.
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#"), let close = trimmed.lastIndex(of: "\""),
                let open = trimmed[..<close].lastIndex(of: "\"")
            else { continue }
            let key = trimmed[..<open].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            entries.append((key, String(trimmed[trimmed.index(after: open)..<close])))
        }
        func nginxAllow(_ uri: String) -> String? {
            if let exact = entries.first(where: { !$0.key.hasPrefix("~") && $0.key == uri }) { return exact.value }
            for entry in entries where entry.key.hasPrefix("~") {
                if uri.range(of: String(entry.key.dropFirst()), options: .regularExpression) != nil { return entry.value }
            }
            return entries.first { $0.key == "default" }?.value
        }
        for (template, methods) in WorkflowAPI.router.templates {
            let uri = template.replacingOccurrences(of: "{workflowInstanceId}", with: "6f1c2f7e-4a51-4a55-9a8e-0c4f3b1e2d3c")
                .replacingOccurrences(of: "{definitionId}", with: "create-prd")
                .replacingOccurrences(of: "{webhookId}", with: "0b8a4f7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b")
                .replacingOccurrences(of: "{deliveryId}", with: "9d3c2b1a-0f1e-4d2c-8b3a-4f5e6d7c8b9a")
            #expect(nginxAllow(uri) == Router.allow(methods).map(\.rawValue).joined(separator: ", "), "\(template)")
        }
    }
}
