import Crypto
import Foundation
public import HTTPTypes
public import Logging
public import Workflows
import TextCoding

/// What the health endpoint reports about the database.
public struct HealthReport: Sendable {
    public let databaseOK: Bool
    public let detail: String?
    public init(databaseOK: Bool, detail: String?) {
        self.databaseOK = databaseOK
        self.detail = detail
    }
}

/// The HTTP API: routes, authentication, request validation and JSON. Turns every outcome, including
/// every error, into a response here; nothing below it knows about HTTP.
public final class WorkflowAPI: Sendable {
    let service: WorkflowService
    let verifier: TokenVerifier
    let health: @Sendable () -> HealthReport
    let logger: Logger
    let maxBodyBytes: Int
    /// Renders `GET /metrics` (Prometheus text format); nil: no metrics endpoint.
    let metrics: (@Sendable () -> String)?
    private let requestMetrics = RequestMetrics()

    public init(
        service: WorkflowService, verifier: TokenVerifier, maxBodyBytes: Int = 1 << 20, logger: Logger,
        metrics: (@Sendable () -> String)? = nil, health: @escaping @Sendable () -> HealthReport
    ) {
        self.service = service
        self.verifier = verifier
        self.health = health
        self.logger = logger
        self.maxBodyBytes = maxBodyBytes
        self.metrics = metrics
    }

    /// Answers one request; never throws. Logs one line per request with its id.
    public func handle(_ head: HTTPRequest, body: [UInt8]) -> (HTTPResponse, [UInt8]) {
        let started = ContinuousClock.now
        let requestId = head.headerFields[.requestID].flatMap { $0.isEmpty ? nil : String($0.prefix(128)) } ?? UUID.random().lowercaseText
        let request = APIRequest(head: head, body: body, requestId: requestId)
        var log = logger
        log[metadataKey: "request_id"] = "\(requestId)"
        var principal: Principal?
        var response: Response
        do {
            response = try route(request, principal: &principal, logger: log)
        } catch let problem as Problem {
            response = .problem(problem)
        } catch let error as WorkflowError {
            response = .problem(.from(error))
        } catch {
            log.error("unhandled error", metadata: ["error": "\(String(reflecting: error))", "path": "\(request.path)"])
            response = .problem(.internalError)
        }
        let (httpResponse, bytes) = response.render(request: request)
        let elapsed = ContinuousClock.now - started
        record(request, status: httpResponse.status.code, duration: elapsed)
        if log.logLevel <= .info {
            var metadata: Logger.Metadata = [
                "method": "\(head.method.rawValue)", "path": "\(request.path)", "status": "\(httpResponse.status.code)",
                "duration_ms": "\(Self.milliseconds(elapsed))",
            ]
            if let principal { metadata["user_id"] = "\(principal.userId.lowercaseText)" }
            log.info("request", metadata: metadata)
        }
        return (httpResponse, head.method == .head ? [] : bytes)
    }

    // MARK: Routing

    /// "12.34": two decimals without String(format:), which is slow on Linux.
    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let hundredths = seconds * 100_000 + attoseconds / 10_000_000_000_000
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    private func record(_ request: APIRequest, status: Int, duration: Duration) {
        let (seconds, attoseconds) = duration.components
        requestMetrics.record(
            route: Self.routeLabel(request.segments), method: Self.methodLabel(request.head.method), status: status,
            nanoseconds: seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// Any method token is valid HTTP; only the standard ones get a label of their own.
    static func methodLabel(_ method: HTTPRequest.Method) -> String {
        switch method {
        case .get, .head, .post, .put, .patch, .delete, .options: method.rawValue
        default: "OTHER"
        }
    }

    /// The route template, so that ids do not explode the label space: only the API's own routes get a
    /// label of their own; any other path (a 404) is "unmatched".
    static func routeLabel(_ s: [Substring]) -> String {
        if s == ["metrics"] { return "/metrics" }
        guard s.count >= 3, s[0] == "api", s[1] == "v1" else { return "unmatched" }
        switch (s.count, s[2]) {
        case (3, "health"): return "/api/v1/health"
        case (3, "openapi.json"): return "/api/v1/openapi.json"
        case (3, "workflow-states"): return "/api/v1/workflow-states"
        case (3, "workflow-definitions"): return "/api/v1/workflow-definitions"
        case (4, "workflow-definitions"): return "/api/v1/workflow-definitions/{definitionId}"
        case (3, "workflows"): return "/api/v1/workflows"
        case (4, "workflows"): return "/api/v1/workflows/{workflowInstanceId}"
        case (5, "workflows") where s[4] == "transitions": return "/api/v1/workflows/{workflowInstanceId}/transitions"
        case (5, "workflows") where s[4] == "advance": return "/api/v1/workflows/{workflowInstanceId}/advance"
        case (5, "workflows") where s[4] == "events": return "/api/v1/workflows/{workflowInstanceId}/events"
        default: return "unmatched"
        }
    }

    private func route(_ request: APIRequest, principal: inout Principal?, logger: Logger) throws -> Response {
        let s = request.segments
        if s == ["metrics"], let metrics {
            try allow(request.head.method, [.get])
            var response = Response(status: .ok, json: metrics())
            response.contentType = "text/plain; version=0.0.4; charset=utf-8"
            return response
        }
        guard s.count >= 3, s[0] == "api", s[1] == "v1" else { throw Problem.notFound }
        let method = request.head.method
        switch (s.count, s[2]) {
        case (3, "health"):
            try allow(method, [.get])
            return healthResponse()
        case (3, "openapi.json"):
            try allow(method, [.get])
            return Response(status: .ok, json: OpenAPIDocument.json)
        case (3, "workflow-states"):
            try allow(method, [.get])
            principal = try authenticate(request)
            guard principal!.canRead else { throw WorkflowError.forbidden("The token carries none of the roles Participant, Viewer or Admin.") }
            return Response(status: .ok, json: JSONWriter.states())
        case (3, "workflow-definitions"):
            try allow(method, [.get])
            principal = try authenticate(request)
            let items = try service.definitions(for: principal!).map(JSONWriter.definition)
            return Response(status: .ok, json: "{\"items\":[\(items.joined(separator: ","))]}")
        case (4, "workflow-definitions"):
            try allow(method, [.get])
            principal = try authenticate(request)
            return Response(status: .ok, json: JSONWriter.definition(try service.definition(id: String(s[3]), for: principal!)))
        case (3, "workflows"):
            try allow(method, [.get, .post])
            principal = try authenticate(request)
            return method == .post ? try create(request, principal!) : try list(request, principal!)
        case (4, "workflows"):
            let id = try instanceId(s[3])
            try allow(method, [.get])
            principal = try authenticate(request)
            return .instance(try service.instance(id: id, for: principal!), status: .ok)
        case (5, "workflows") where s[4] == "transitions":
            let id = try instanceId(s[3])
            try allow(method, [.post])
            principal = try authenticate(request)
            return try transition(request, id: id, principal!)
        case (5, "workflows") where s[4] == "advance":
            let id = try instanceId(s[3])
            try allow(method, [.post])
            principal = try authenticate(request)
            return try advance(request, id: id, principal!)
        case (5, "workflows") where s[4] == "events":
            let id = try instanceId(s[3])
            try allow(method, [.get])
            principal = try authenticate(request)
            return try events(request, id: id, principal!)
        default:
            throw Problem.notFound
        }
    }

    /// GET routes also answer HEAD.
    private func allow(_ method: HTTPRequest.Method, _ allowed: [HTTPRequest.Method]) throws {
        let all = allowed.contains(.get) ? allowed + [.head] : allowed
        guard all.contains(method) else {
            var problem = Problem(.methodNotAllowed, nil, detail: "\(method.rawValue) is not supported here; use \(all.map(\.rawValue).joined(separator: ", ")).")
            problem.headers[.allow] = all.map(\.rawValue).joined(separator: ", ")
            throw problem
        }
    }

    private func instanceId(_ segment: Substring) throws -> UUID {
        guard segment.utf8.count == 36, let id = UUID(text: segment) else { throw Problem.notFound }
        return id
    }

    private func authenticate(_ request: APIRequest) throws -> Principal {
        do {
            return try verifier.principal(fromAuthorization: request.head.headerFields[.authorization])
        } catch {
            throw Problem.unauthorized(error.description)
        }
    }

    private func healthResponse() -> Response {
        let report = health()
        if report.databaseOK { return Response(status: .ok, json: "{\"status\":\"ok\",\"database\":\"ok\"}") }
        var response = Response(
            status: .serviceUnavailable,
            json: "{\"status\":\"unavailable\",\"database\":\"unavailable\",\"detail\":\(JSONWriter.quoted(report.detail ?? "database check failed"))}")
        response.headers[.retryAfter] = "1"
        return response
    }

    // MARK: Handlers

    private func create(_ request: APIRequest, _ principal: Principal) throws -> Response {
        let body = try jsonBody(request, required: true)
        var errors: [(String, String)] = []
        var definitionId = ""
        switch body?["workflowId"] {
        case .string(let id) where (1...64).contains(id.count): definitionId = id
        case .string: errors.append(("workflowId", "must be 1 to 64 characters"))
        case nil, .null?: errors.append(("workflowId", "is required"))
        case let other?: errors.append(("workflowId", "must be a string, not \(other.typeName)"))
        }
        var parameters = JSONText.emptyObject
        switch body?["parameters"] {
        case nil, .null?: break
        case let value? where { if case .object = value { true } else { false } }():
            parameters = JSONText(unchecked: value.serialized)
        case let other?: errors.append(("parameters", "must be an object, not \(other.typeName)"))
        }
        let key = request.head.headerFields[.idempotencyKey]
        if let key, !(1...255).contains(key.utf8.count) || !key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) {
            errors.append(("Idempotency-Key", "must be 1 to 255 visible ASCII characters"))
        }
        guard errors.isEmpty else { throw Problem.validation(errors) }
        let claim = key.map { IdempotencyClaim(key: $0, requestHash: Self.fingerprint(definitionId: definitionId, parameters: parameters)) }
        let created = try service.create(definitionId: definitionId, parameters: parameters, idempotency: claim, by: principal)
        var response = Response.instance(created.instance, status: .created)
        response.headers[.location] = "/api/v1/workflows/\(created.instance.id.lowercaseText)"
        if created.replayed { response.headers[.idempotentReplayed] = "true" }
        return response
    }

    /// What "the same request" means for an idempotent create: the same definition and parameters.
    static func fingerprint(definitionId: String, parameters: JSONText) -> String {
        Hex.encode(SHA256.hash(data: Array((definitionId + "\n" + parameters.text).utf8)))
    }

    private func list(_ request: APIRequest, _ principal: Principal) throws -> Response {
        var errors: [(String, String)] = []
        var filter = WorkflowService.ListFilter()
        if let text = request.queryValue("status") {
            if let status = WorkflowStatus(rawValue: text) { filter.status = status } else {
                errors.append(("status", "must be one of \(WorkflowStatus.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
        }
        if let text = request.queryValue("workflowId") {
            if (1...64).contains(text.count) { filter.definitionId = text } else { errors.append(("workflowId", "must be 1 to 64 characters")) }
        }
        if let text = request.queryValue("userId") {
            if let id = UUID(text: text) { filter.userId = id } else { errors.append(("userId", "must be a UUID")) }
        }
        filter.limit = limit(request, default: 20, errors: &errors)
        filter.cursor = request.queryValue("cursor")
        guard errors.isEmpty else { throw Problem.validation(errors) }
        let page = try service.list(filter, for: principal)
        return Response(status: .ok, json: JSONWriter.page(page, item: JSONWriter.instance))
    }

    private func transition(_ request: APIRequest, id: UUID, _ principal: Principal) throws -> Response {
        let body = try jsonBody(request, required: true)
        let ifMatch = try version(fromIfMatch: request)
        var errors: [(String, String)] = []
        var target: WorkflowStatus?
        switch body?["to"] {
        case .string(let name):
            target = WorkflowStatus(rawValue: name)
            if target == nil {
                errors.append(("to", "\(JSONWriter.quoted(String(name.prefix(64)))) is not a status; use one of \(WorkflowStatus.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
        case nil, .null?: errors.append(("to", "is required"))
        case let other?: errors.append(("to", "must be a string, not \(other.typeName)"))
        }
        var reason: String?
        switch body?["reason"] {
        case nil, .null?: break
        case .string(let text) where text.count <= 1000: reason = text
        case .string: errors.append(("reason", "must be at most 1000 characters"))
        case let other?: errors.append(("reason", "must be a string, not \(other.typeName)"))
        }
        guard errors.isEmpty, let target else { throw Problem.validation(errors) }
        return .instance(try service.transition(id: id, to: target, reason: reason, ifMatch: ifMatch, by: principal), status: .ok)
    }

    private func advance(_ request: APIRequest, id: UUID, _ principal: Principal) throws -> Response {
        let body = try jsonBody(request, required: false)
        let ifMatch = try version(fromIfMatch: request)
        var output: JSONText?
        switch body?["output"] {
        case nil, .null?: break
        case let value? where { if case .object = value { true } else { false } }():
            output = JSONText(unchecked: value.serialized)
        case let other?: throw Problem.validation([("output", "must be an object, not \(other.typeName)")])
        }
        return .instance(try service.advance(id: id, output: output, ifMatch: ifMatch, by: principal), status: .ok)
    }

    private func events(_ request: APIRequest, id: UUID, _ principal: Principal) throws -> Response {
        var errors: [(String, String)] = []
        let limit = limit(request, default: 50, errors: &errors)
        guard errors.isEmpty else { throw Problem.validation(errors) }
        let page = try service.events(instanceId: id, cursor: request.queryValue("cursor"), limit: limit, for: principal)
        return Response(status: .ok, json: JSONWriter.page(page, item: JSONWriter.event))
    }

    // MARK: Input

    private func limit(_ request: APIRequest, default value: Int, errors: inout [(String, String)]) -> Int {
        guard let text = request.queryValue("limit") else { return value }
        guard let limit = Int(text), (1...100).contains(limit) else {
            errors.append(("limit", "must be an integer from 1 to 100"))
            return value
        }
        return limit
    }

    /// The body as a JSON object. 413 when too large, 415 when not declared as JSON, 400 when malformed
    /// or not an object; nil for an empty optional body.
    private func jsonBody(_ request: APIRequest, required: Bool) throws -> JSONValue? {
        let declared = request.head.headerFields[.contentLength].flatMap { Int($0) } ?? 0
        if request.body.count > maxBodyBytes || declared > maxBodyBytes {
            throw Problem(.contentTooLarge, "payload-too-large", title: "Content Too Large", detail: "The body is larger than \(maxBodyBytes) bytes.")
        }
        if request.body.isEmpty && !required { return nil }
        guard request.hasJSONContentType else {
            throw Problem(.unsupportedMediaType, "unsupported-media-type", title: "Unsupported Media Type",
                          detail: "Send the body as JSON with Content-Type: application/json.")
        }
        if request.body.isEmpty {
            throw Problem(.badRequest, "malformed-json", title: "Malformed JSON", detail: "A JSON object body is required.")
        }
        let value: JSONValue
        do { value = try JSONParser.parse(request.body) } catch { throw Problem.malformedJSON(error) }
        guard case .object = value else {
            throw Problem(.badRequest, "malformed-json", title: "Malformed JSON", detail: "The body must be a JSON object, not \(value.typeName).")
        }
        return value
    }

    /// `If-Match: "3"` → 3; `*` or absent → nil.
    private func version(fromIfMatch request: APIRequest) throws -> Int? {
        guard let raw = request.head.headerFields[.ifMatch].map({ String($0.trimmingHTTPWhitespace()) }), raw != "*" else { return nil }
        let digits = raw.dropFirst().dropLast()
        guard raw.count >= 3, raw.first == "\"", raw.last == "\"", digits.count <= 18, digits.first != "0",
            digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), let version = Int(digits)
        else {
            throw Problem.validation([("If-Match", "must be a workflow version in quotes, e.g. \"3\", as sent in ETag")])
        }
        return version
    }
}

/// A response before rendering.
struct Response {
    var status: HTTPResponse.Status
    var json: String
    var contentType = "application/json"
    var headers: HTTPFields = [:]

    init(status: HTTPResponse.Status, json: String) {
        self.status = status
        self.json = json
    }

    static func instance(_ instance: WorkflowInstance, status: HTTPResponse.Status) -> Response {
        var response = Response(status: status, json: JSONWriter.instance(instance))
        response.headers[.eTag] = "\"\(instance.version)\""
        return response
    }

    static func problem(_ problem: Problem) -> Response {
        var response = Response(status: problem.status, json: "")
        response.contentType = "application/problem+json"
        response.headers = problem.headers
        response.problem = problem
        return response
    }

    private var problem: Problem?

    func render(request: APIRequest) -> (HTTPResponse, [UInt8]) {
        let body = problem?.body(instance: request.path, requestId: request.requestId) ?? json
        var fields = headers
        fields[.contentType] = contentType
        fields[.requestID] = request.requestId
        fields[.cacheControl] = "no-store"
        let bytes = Array(body.utf8)
        fields[.contentLength] = String(bytes.count)
        return (HTTPResponse(status: status, headerFields: fields), bytes)
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("X-Request-Id")!
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    static let idempotentReplayed = HTTPField.Name("Idempotent-Replayed")!
}

