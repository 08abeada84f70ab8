import Foundation
import PostgresClient
import Synchronization
import TestSupport
import Testing

let requiresStack = ConditionTrait.enabled(if: TestEnvironment.hasStack, Comment(rawValue: TestEnvironment.skipReason))

/// A user of the API: a token and a client, every response checked against the OpenAPI document.
struct APIUser {
    let id: UUID
    let token: String
    let stack: Stack
    let validator: OpenAPIValidator

    init(_ stack: Stack, roles: [String], id: UUID = UUID()) throws {
        self.id = id
        self.stack = stack
        token = TestTokens.token(user: id, roles: roles)
        validator = try Self.validator(stack)
    }

    static func validator(_ stack: Stack) throws -> OpenAPIValidator {
        let document = try stack.client.request("GET", "/api/v1/openapi.json")
        #expect(document.status == 200)
        return try OpenAPIValidator(json: document.text)
    }

    @discardableResult
    func call(
        _ method: String, _ path: String, json: Any? = nil, headers: [String: String] = [:],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> HTTPResult {
        let result = try stack.client.send(method, path, json: json, token: token, headers: headers)
        let violations = validator.violations(method: method, path: path, response: result)
        #expect(violations.isEmpty, "\(violations) in \(result)", sourceLocation: sourceLocation)
        return result
    }

    func create(_ workflowId: String = "create-prd", parameters: [String: Any] = [:]) throws -> [String: Any] {
        let result = try call("POST", "/api/v1/workflows", json: ["workflowId": workflowId, "parameters": parameters])
        #expect(result.status == 201, "\(result)")
        return result.json
    }

    func transition(_ id: Any, to: String, reason: String? = nil, headers: [String: String] = [:]) throws -> HTTPResult {
        var body: [String: Any] = ["to": to]
        if let reason { body["reason"] = reason }
        return try call("POST", "/api/v1/workflows/\(id)/transitions", json: body, headers: headers)
    }
}

func isProblem(_ result: HTTPResult, status: Int) -> Bool {
    result.status == status && result.header("content-type")?.hasPrefix("application/problem+json") == true
        && result.json["status"] as? Int == status && result.json["title"] is String && result.json["detail"] is String
        && result.json["type"] is String
}

/// Holds the row lock of an instance so that a change to it blocks inside workflowd (a slow request on demand).
final class RowLock {
    let connection: PostgresConnection
    init(_ database: TestDatabase, instance id: String) throws {
        connection = try database.connect()
        try connection.execute("BEGIN")
        try connection.query("SELECT 1 FROM workflow_instances WHERE id = \(UUID(uuidString: id)!) FOR UPDATE")
    }
    func release() throws { try connection.execute("COMMIT") }
    deinit { connection.close() }
}

/// Sends a request on its own thread; the returned closure waits at most `timeout` seconds for the answer
/// (nil when none came).
func inBackground(timeout: TimeInterval = 30, _ body: @escaping @Sendable () throws -> HTTPResult) -> () -> HTTPResult? {
    let done = DispatchSemaphore(value: 0)
    let result = Mutex<HTTPResult?>(nil)
    Thread.detachNewThread {
        let value = try? body()
        result.withLock { $0 = value }
        done.signal()
    }
    return {
        _ = done.wait(timeout: .now() + timeout)
        return result.withLock { $0 }
    }
}

/// Polls `GET /api/v1/health` every 0.1 s until it answers 200, at most `attempts` times; the last answer.
func waitUntilHealthy(_ client: HTTPClient, attempts: Int) throws -> HTTPResult {
    var health = try client.request("GET", "/api/v1/health")
    for _ in 1..<attempts where health.status != 200 {
        Thread.sleep(forTimeInterval: 0.1)
        health = try client.request("GET", "/api/v1/health")
    }
    return health
}
