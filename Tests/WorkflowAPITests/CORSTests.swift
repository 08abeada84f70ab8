import Foundation
import HTTPTypes
import Logging
import TestSupport
import Testing
@testable import WorkflowAPI
import Workflows

/// Cross-origin answers: an allowed origin gets a preflight and readable responses; any other origin, or
/// any origin when the allow-list is empty, gets no CORS headers.
@Suite struct CORSTests {
    static let allowed = "http://console.example.com:8081"
    let repository = InMemoryWorkflowRepository()

    func api(origins: Set<String>) async throws -> WorkflowAPI {
        let verifier = try await TokenVerifier.make(configuration: TokenVerifierConfiguration(
            hmacSecret: TestTokens.secret, jwksJSON: nil, issuer: nil, audience: nil))
        return WorkflowAPI(
            service: WorkflowService(repository: repository), verifier: verifier, maxBodyBytes: 1000, logger: Logger(label: "test"),
            cors: CORSPolicy(allowedOrigins: origins)) { .ready }
    }

    func call(_ api: WorkflowAPI, _ method: HTTPRequest.Method, _ path: String, headers: [HTTPField.Name: String]) -> HTTPResponse {
        var head = HTTPRequest(method: method, scheme: "http", authority: "localhost", path: path)
        for (name, value) in headers { head.headerFields[name] = value }
        return api.handle(head, body: []).0
    }

    static let corsNames: [HTTPField.Name] = [
        .accessControlAllowOrigin, .accessControlAllowMethods, .accessControlAllowHeaders, .accessControlExposeHeaders,
        .accessControlMaxAge, .accessControlAllowCredentials,
    ]

    @Test func anAllowedOriginsPreflightIsAnsweredWithThePathsMethodsAndTheHeadersTheAPIReads() async throws {
        let api = try await api(origins: [Self.allowed])
        let answer = call(api, .options, "/api/v1/workflows", headers: [
            .origin: Self.allowed, .accessControlRequestMethod: "POST", .accessControlRequestHeaders: "authorization, content-type, idempotency-key",
        ])
        #expect(answer.status == .noContent)
        #expect(answer.headerFields[.accessControlAllowOrigin] == Self.allowed)
        #expect(answer.headerFields[.accessControlAllowMethods] == "GET, HEAD, POST")
        #expect(answer.headerFields[.accessControlAllowHeaders] == "Authorization, Content-Type, Idempotency-Key, If-Match, Last-Event-ID")
        #expect(answer.headerFields[.accessControlMaxAge] == "600")
        #expect(answer.headerFields[.vary] == "Origin")
        #expect(answer.headerFields[.accessControlAllowCredentials] == nil)
        #expect(answer.headerFields[.contentType] == nil)
        let stream = call(api, .options, "/api/v1/workflows/6f1c2f7e-4a51-4a55-9a8e-0c4f3b1e2d3c/events/stream", headers: [
            .origin: Self.allowed, .accessControlRequestMethod: "GET", .accessControlRequestHeaders: "last-event-id",
        ])
        #expect(stream.status == .noContent)
        #expect(stream.headerFields[.accessControlAllowMethods] == "GET, HEAD")
    }

    @Test func anAllowedOriginCanReadResponsesAndTheirHeadersErrorsIncluded() async throws {
        let api = try await api(origins: [Self.allowed])
        var head = HTTPRequest(method: .post, scheme: "http", authority: "localhost", path: "/api/v1/workflows")
        head.headerFields[.origin] = Self.allowed
        head.headerFields[.authorization] = "Bearer " + TestTokens.token(user: UUID(), roles: ["Participant"])
        head.headerFields[.contentType] = "application/json"
        let (created, _) = api.handle(head, body: Array(#"{"workflowId":"create-prd"}"#.utf8))
        #expect(created.status == .created)
        #expect(created.headerFields[.accessControlAllowOrigin] == Self.allowed)
        #expect(created.headerFields[.accessControlExposeHeaders] == "ETag, Location, X-Request-Id, Idempotent-Replayed, Retry-After")
        #expect(created.headerFields[.vary] == "Origin")
        let refused = call(api, .get, "/api/v1/workflows", headers: [.origin: Self.allowed])
        #expect(refused.status == .unauthorized)
        #expect(refused.headerFields[.accessControlAllowOrigin] == Self.allowed)
    }

    @Test func anotherOriginGetsNoCORSHeadersAndItsPreflightIsRefused() async throws {
        let api = try await api(origins: [Self.allowed])
        for origin in ["http://evil.example", "http://console.example.com:8082", "null"] {
            let preflight = call(api, .options, "/api/v1/workflows", headers: [.origin: origin, .accessControlRequestMethod: "POST"])
            #expect(preflight.status == .methodNotAllowed)
            let health = call(api, .get, "/api/v1/health", headers: [.origin: origin])
            #expect(health.status == .ok)
            for name in Self.corsNames {
                #expect(preflight.headerFields[name] == nil, "\(origin) \(name)")
                #expect(health.headerFields[name] == nil, "\(origin) \(name)")
            }
        }
    }

    @Test func withAnEmptyAllowListNoOriginGetsCORSHeaders() async throws {
        let api = try await api(origins: [])
        let preflight = call(api, .options, "/api/v1/workflows", headers: [.origin: Self.allowed, .accessControlRequestMethod: "GET"])
        #expect(preflight.status == .methodNotAllowed)
        let health = call(api, .get, "/api/v1/health", headers: [.origin: Self.allowed])
        for name in Self.corsNames + [.vary] {
            #expect(preflight.headerFields[name] == nil)
            #expect(health.headerFields[name] == nil)
        }
    }

    @Test(arguments: [
        ("https://Console.Example.com", "https://console.example.com"), ("http://127.0.0.1:8081", "http://127.0.0.1:8081"),
        ("http://[::1]:8081", "http://[::1]:8081"),
    ])
    func originsAreNormalised(_ text: String, _ origin: String) {
        #expect(CORSPolicy.parse(text).policy?.allowedOrigins == [origin])
    }

    @Test(arguments: ["*", "https://a.example/", "https://a.example/path", "ftp://a.example", "a.example", "http://a.example:", "http://a.example:port"])
    func somethingOtherThanAnOriginIsRefused(_ text: String) {
        #expect(CORSPolicy.parse(text).invalid == text)
    }
}
