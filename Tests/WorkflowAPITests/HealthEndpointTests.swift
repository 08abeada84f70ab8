import Foundation
import HTTPTypes
import InMemoryLogging
import Logging
import Synchronization
import TestSupport
import Testing
@testable import WorkflowAPI
import Workflows

/// Liveness, readiness and the original health endpoint: what they say publicly, and that libpq's words
/// (which name hosts and addresses) reach the log only.
@Suite struct HealthEndpointTests {
    /// What libpq says when the server is down: the kind of text that must never be public.
    static let libpqMessage = #"connectionFailed: connection to server at "db.internal" (10.1.2.3), port 5432 failed: Connection refused"#

    /// How many times the health check ran.
    final class Calls: Sendable { let count = Mutex(0) }

    let log = InMemoryLogHandler()
    let checks = Calls()

    func api(_ report: HealthReport) async throws -> WorkflowAPI {
        let verifier = try await TokenVerifier.make(configuration: TokenVerifierConfiguration(
            hmacSecret: TestTokens.secret, jwksJSON: nil, issuer: nil, audience: nil))
        let handler = log
        return WorkflowAPI(
            service: WorkflowService(repository: InMemoryWorkflowRepository()), verifier: verifier, maxBodyBytes: 1000,
            logger: Logger(label: "test") { _ in handler }
        ) { [checks] in
            checks.count.withLock { $0 += 1 }
            return report
        }
    }

    func get(_ api: WorkflowAPI, _ path: String) -> (status: Int, headers: HTTPFields, json: [String: String], body: String) {
        var head = HTTPRequest(method: .get, scheme: "http", authority: "localhost", path: path)
        head.headerFields[.requestID] = "probe-1"
        let (response, bytes) = api.handle(head, body: [])
        let json = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: String] ?? [:]
        return (response.status.code, response.headerFields, json, String(decoding: bytes, as: UTF8.self))
    }

    @Test func liveAnswersOKWithoutRunningTheDatabaseCheck() async throws {
        let api = try await api(HealthReport(reason: .databaseUnreachable, detail: Self.libpqMessage))
        let live = get(api, "/api/v1/health/live")
        #expect(live.status == 200)
        #expect(live.body == #"{"status":"ok"}"#)
        #expect(checks.count.withLock { $0 } == 0)
    }

    @Test func readyAndHealthAnswer200WhenTheCheckPasses() async throws {
        let api = try await api(.ready)
        let ready = get(api, "/api/v1/health/ready")
        #expect(ready.status == 200 && ready.json == ["status": "ok"])
        let health = get(api, "/api/v1/health")
        #expect(health.status == 200 && health.json == ["status": "ok", "database": "ok"])
        #expect(health.headers[.retryAfter] == nil)
        #expect(log.entries.allSatisfy { $0.level < .warning })
    }

    @Test(arguments: HealthReport.Reason.allCases)
    func failuresSayOnlyTheReasonCodeAndLogTheDetailWithTheRequestId(_ reason: HealthReport.Reason) async throws {
        let api = try await api(HealthReport(reason: reason, detail: Self.libpqMessage))
        let ready = get(api, "/api/v1/health/ready")
        #expect(ready.status == 503)
        #expect(ready.headers[.retryAfter] == WorkflowAPI.healthRetryAfter)
        #expect(ready.json == ["status": "unavailable", "reason": reason.rawValue])
        let health = get(api, "/api/v1/health")
        #expect(health.status == 503)
        #expect(health.headers[.retryAfter] == WorkflowAPI.healthRetryAfter)
        let reached = [.migrationsPending, .migrationsChanged].contains(reason)
        #expect(health.json == ["status": "unavailable", "database": reached ? "ok" : "unavailable", "reason": reason.rawValue])
        for body in [ready.body, health.body] {
            for leak in ["10.1.2.3", "db.internal", "5432", "port", "connection", "refused"] {
                #expect(!body.lowercased().contains(leak.lowercased()), "\(leak) in \(body)")
            }
        }
        let warnings = log.entries.filter { $0.level == .warning }
        #expect(warnings.count == 2)
        for warning in warnings {
            #expect(warning.metadata["health.detail"]?.description == Self.libpqMessage)
            #expect(warning.metadata["health.reason"]?.description == reason.rawValue)
            #expect(warning.metadata["request_id"]?.description == "probe-1")
        }
    }

    @Test func theDocumentedReasonCodesAreTheOnesTheServerSends() throws {
        let document = try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
        let schemas = (document["components"] as? [String: Any])?["schemas"] as? [String: Any]
        let reason = ((schemas?["HealthReason"] as? [String: Any])?["enum"] as? [String])
        #expect(reason == HealthReport.Reason.allCases.map(\.rawValue))
    }
}
