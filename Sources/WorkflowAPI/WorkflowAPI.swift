import Crypto
import Foundation
public import HTTPHead
public import HTTPTypes
public import Logging
public import Workflows
import TextCoding

/// What the readiness check found. The public answers carry only `reason`; `detail` (libpq's words, which
/// can name hosts and addresses) goes to the log, at warning with the request id, and nowhere else.
public struct HealthReport: Sendable {
    /// Why the process cannot serve now: stable codes that load balancers, probes and dashboards may match on.
    public enum Reason: String, Sendable, CaseIterable {
        /// No connection to PostgreSQL (refused, timed out, broken) or it refused the check.
        case databaseUnreachable = "database_unreachable"
        /// Every pooled connection stayed busy for the whole pool wait.
        case poolExhausted = "pool_exhausted"
        /// The pool is closed: the process is stopping.
        case shuttingDown = "shutting_down"
        /// A migration this binary needs is not applied (`workflowd migrate`).
        case migrationsPending = "migrations_pending"
        /// An applied migration differs from this binary's file of the same version.
        case migrationsChanged = "migrations_changed"
    }

    /// nil: ready.
    public let reason: Reason?
    public let detail: String?

    public init(reason: Reason?, detail: String? = nil) {
        self.reason = reason
        self.detail = detail
    }

    public static let ready = HealthReport(reason: nil)

    /// For `GET /api/v1/health`'s `database` member: PostgreSQL answered, whatever else is wrong.
    var databaseAnswered: Bool {
        switch reason {
        case nil, .migrationsPending?, .migrationsChanged?: true
        case .databaseUnreachable?, .poolExhausted?, .shuttingDown?: false
        }
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
    /// The webhook subscriptions; nil: the webhook routes answer 404.
    let webhooks: WebhookService?
    let live: LiveSettings
    let tickets: StreamTickets
    let cors: CORSPolicy
    private let requestMetrics = RequestMetrics(labelCount: WorkflowAPI.router.labels.count)

    public init(
        service: WorkflowService, verifier: TokenVerifier, maxBodyBytes: Int, logger: Logger,
        metrics: (@Sendable () -> String)? = nil, live: LiveSettings = LiveSettings(), webhooks: WebhookService? = nil,
        cors: CORSPolicy = CORSPolicy(),
        health: @escaping @Sendable () -> HealthReport
    ) {
        self.webhooks = webhooks
        self.live = live
        self.cors = cors
        tickets = StreamTickets { [verifier] in verifier.ticketKeys }
        self.service = service
        self.verifier = verifier
        self.health = health
        self.logger = logger
        self.maxBodyBytes = maxBodyBytes
        self.metrics = metrics
    }

    /// Every operation of the API, in the order the OpenAPI document lists them. The one place where a
    /// path, its methods, the role it needs and its handler are written down.
    static let routes: [Route] = [
        Route(.get, "/api/v1/health", .anyone) { api, c in api.healthResponse(c) },
        Route(.get, "/api/v1/health/live", .anyone) { _, _ in Response(status: .ok, json: #"{"status":"ok"}"#) },
        Route(.get, "/api/v1/health/ready", .anyone) { api, c in api.readyResponse(c) },
        Route(.get, "/api/v1/openapi.json", .anyone) { _, _ in Response(status: .ok, json: OpenAPIDocument.json) },
        Route(.get, "/api/v1/workflow-states", .token(.read)) { _, _ in Response(status: .ok, json: JSONWriter.statesDocument) },
        Route(.get, "/api/v1/workflow-definitions", .token(.read)) { api, c in try api.definitions(c) },
        Route(.get, "/api/v1/workflow-definitions/{definitionId}", .token(.read)) { api, c in try api.definition(c) },
        Route(.get, "/api/v1/workflows", .token(.read)) { api, c in try api.list(c) },
        Route(.post, "/api/v1/workflows", .token(.act)) { api, c in try api.create(c) },
        Route(.get, "/api/v1/workflows/{workflowInstanceId}", .token(.read)) { api, c in try api.instance(c) },
        Route(.post, "/api/v1/workflows/{workflowInstanceId}/transitions", .token(.act)) { api, c in try api.idempotent(c) { try api.transition(c) } },
        Route(.post, "/api/v1/workflows/{workflowInstanceId}/advance", .token(.act)) { api, c in try api.idempotent(c) { try api.advance(c) } },
        Route(.get, "/api/v1/workflows/{workflowInstanceId}/events", .token(.read)) { api, c in try api.events(c) },
        // Human steps: answering a wait.
        Route(.post, "/api/v1/workflows/{workflowInstanceId}/input", .token(.act)) { api, c in try api.idempotent(c) { try api.provideInput(c) } },
        Route(.post, "/api/v1/workflows/{workflowInstanceId}/approvals", .token(.approve)) { api, c in try api.idempotent(c) { try api.decide(c) } },
        // Live updates.
        Route(.get, "/api/v1/workflows/{workflowInstanceId}/events/stream", .tokenOrTicket(.read)) { api, c in try api.stream(c) },
        Route(.post, "/api/v1/stream-tickets", .token(.read)) { api, c in try api.streamTicket(c) },
        // The feed of every instance the caller may see.
        Route(.get, "/api/v1/events", .token(.read)) { api, c in try api.feed(c) },
        Route(.get, "/api/v1/events/stream", .tokenOrTicket(.read)) { api, c in try api.feedStream(c) },
        Route(.post, "/api/v1/workflows/{workflowInstanceId}/retry", .token(.act)) { api, c in try api.idempotent(c) { try api.retry(c) } },
        Route(.get, "/api/v1/tasks", .token(.read)) { api, c in try api.tasks(c) },
        // Webhooks (Admin only).
        Route(.get, "/api/v1/webhooks", .token(.administer)) { api, c in try api.listWebhooks(c) },
        Route(.post, "/api/v1/webhooks", .token(.administer)) { api, c in try api.createWebhook(c) },
        Route(.get, "/api/v1/webhooks/{webhookId}", .token(.administer)) { api, c in try api.webhook(c) },
        Route(.patch, "/api/v1/webhooks/{webhookId}", .token(.administer)) { api, c in try api.updateWebhook(c) },
        Route(.delete, "/api/v1/webhooks/{webhookId}", .token(.administer)) { api, c in try api.deleteWebhook(c) },
        Route(.post, "/api/v1/webhooks/{webhookId}/secret", .token(.administer)) { api, c in try api.rotateWebhookSecret(c) },
        Route(.get, "/api/v1/webhooks/{webhookId}/deliveries", .token(.administer)) { api, c in try api.webhookDeliveries(c) },
        Route(.post, "/api/v1/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver", .token(.administer)) { api, c in
            try api.redeliverWebhook(c)
        },
        Route(.get, "/metrics", .anyone) { api, _ in try api.metricsResponse() },
    ]

    static let router = Router(routes: routes)

    /// `handle` for a caller that holds an `HTTPTypes` request (tests).
    public func handle(_ head: HTTPRequest, body: [UInt8]) -> (HTTPResponse, [UInt8]) {
        let (response, bytes) = handle(RequestHead(head), body: body)
        return (response.httpResponse, bytes)
    }

    /// Answers one request without waiting: a request that would wait for events is answered as at its
    /// deadline (for callers that cannot park requests, such as tests).
    public func handle(_ head: RequestHead, body: [UInt8]) -> (ResponseHead, [UInt8]) {
        switch reply(head, body: body) {
        case .respond(let response, let bytes):
            return (response, bytes)
        case .wait(let waiter):
            switch waiter.next(true) {
            case .finish(let response?, let bytes): return (response, bytes)
            case .finish(nil, let bytes), .wait(let bytes), .recheck(let bytes, _): return (waiter.stream!.head, waiter.stream!.first + bytes)
            }
        }
    }

    /// Answers one request, or returns it as a waiter; never throws. Logs one line per request with its id
    /// (a waiter's when it starts waiting).
    public func reply(_ head: RequestHead, body: [UInt8]) -> APIReply {
        let started = MonotonicClock.nanoseconds()
        var request = APIRequest(head: head, body: body, requestId: Self.requestId(sent: head.headerFields.first(.requestID)))
        let requestId = request.requestId
        request.responseHeaders = cors.responseHeaders(head)
        var log = RequestLog(base: logger, requestId: requestId)
        var routeLabel = Self.router.unmatchedLabel
        var response: Response
        do {
            response = try dispatch(request, routeLabel: &routeLabel, log: &log)
        } catch let problem as Problem {
            response = .problem(problem)
        } catch let error as WorkflowError {
            response = .problem(.from(error))
        } catch {
            log.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))", "path": "\(request.path)"])
            response = .problem(.internalError)
        }
        let (responseHead, bytes) = response.render(request: request)
        let elapsed = MonotonicClock.nanoseconds() - started
        requestMetrics.record(
            label: routeLabel, of: Self.router, method: Self.methodLabel(head.method), status: response.status.code, nanoseconds: elapsed)
        if logger.logLevel <= .info {
            var metadata: Logger.Metadata = [
                "method": "\(head.method.rawValue)", "path": "\(request.path)", "status": "\(response.status.code)",
                "duration_ms": "\(Self.milliseconds(nanoseconds: elapsed))",
            ]
            if response.waiting != nil { metadata["waiting"] = "true" }
            log.logger.info("request", metadata: metadata)
        }
        if let waiting = response.waiting, head.method != .head {
            return .wait(waiter(waiting, rendered: (responseHead, bytes), for: request, logger: log.logger))
        }
        return .respond(responseHead, head.method == .head ? [] : bytes)
    }

    /// The `X-Request-Id` every response carries: the client's or nginx's id, at most 128 characters, else
    /// a new one. The value sent is made legal here (a byte no field may hold becomes a space).
    static func requestId(sent: String?) -> String {
        guard let sent, !sent.isEmpty else { return UUID.random().lowercaseText }
        return HeaderFields.legal(sent.utf8.count > 128 ? String(sent.prefix(128)) : sent)
    }

    // MARK: Routing

    /// "12.34": two decimals without String(format:), which is slow on Linux.
    static func milliseconds(nanoseconds: Int64) -> String {
        let hundredths = nanoseconds / 10_000  // hundredths of a millisecond
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    /// Any method token is valid HTTP; only the standard ones get a label of their own.
    static func methodLabel(_ method: HTTPRequest.Method) -> String {
        switch method {
        case .get, .head, .post, .put, .patch, .delete, .options: method.rawValue
        default: "OTHER"
        }
    }

    /// Finds the route, checks who may call it and runs its handler. `routeLabel` becomes the position of the
    /// route's template in `router.labels` (the metric label: ids never explode the label space) once the
    /// path is known; `log` gets the
    /// caller and the instance once they are known.
    private func dispatch(_ request: APIRequest, routeLabel: inout Int, log: inout RequestLog) throws -> Response {
        switch Self.router.match(request.head.method, request.segments) {
        case .notFound:
            throw Problem.notFound
        case .methodNotAllowed(let label, let allow):
            routeLabel = label
            let list = allow.map(\.rawValue).joined(separator: ", ")
            if cors.isAllowedPreflight(request.head) {
                var preflight = Response(status: .noContent, json: "")
                preflight.headers = CORSPolicy.preflightHeaders(methods: list)
                return preflight
            }
            var problem = Problem(.methodNotAllowed, nil, detail: "\(request.head.method.rawValue) is not supported here; use \(list).")
            problem.headers[.allow] = list
            throw problem
        case .route(let route, let label, let parameters):
            routeLabel = label
            var (principal, expires): (Principal?, Date?)
            switch route.access {
            case .anyone: break
            case .token(let capability), .tokenOrTicket(let capability):
                let (caller, until) = try authenticate(request, acceptTicket: route.access == .tokenOrTicket(capability))
                (principal, expires) = (caller, until)
                log.userId = caller.userId
                guard capability.allows(caller) else { throw WorkflowError.forbidden(capability.refusal) }
            }
            log.workflowId = parameters["workflowInstanceId"]
            let context = RouteContext(request: request, parameters: parameters, principal: principal, credentialExpires: expires, log: log)
            return try RequestScope.$request.withValue(log) { try route.handler(self, context) }
        }
    }

    /// The caller and when its credential expires. A ticket counts only where `acceptTicket` (stream
    /// routes) and only without an Authorization header.
    private func authenticate(_ request: APIRequest, acceptTicket: Bool) throws -> (Principal, Date) {
        do {
            let header = request.head.headerFields.first(.authorization)
            if acceptTicket, header == nil, let ticket = request.queryValue("ticket") {
                let claims = try tickets.verify(ticket)
                return (claims.principal, claims.tokenExpires)
            }
            let token = try verifier.verifiedToken(fromAuthorization: header)
            return (token.principal, token.expires)
        } catch {
            throw Problem.unauthorized(error.description)
        }
    }

    /// Seconds a probe or client should wait after a 503 from the health checks.
    static let healthRetryAfter = "5"

    /// Runs the readiness check; a failure is logged with its detail (the public answer never has it).
    private func checkHealth(_ c: RouteContext) -> HealthReport {
        let report = health()
        if let reason = report.reason {
            c.logger.warning("not ready", metadata: ["health.reason": "\(reason.rawValue)", "health.detail": "\(report.detail ?? "")"])
        }
        return report
    }

    private static func unavailable(_ json: String) -> Response {
        var response = Response(status: .serviceUnavailable, json: json)
        response.headers[.retryAfter] = healthRetryAfter
        return response
    }

    /// The original health answer, kept for its clients: `status` and `database`, now with `reason` on 503.
    private func healthResponse(_ c: RouteContext) -> Response {
        let report = checkHealth(c)
        let database = report.databaseAnswered ? "ok" : "unavailable"
        guard let reason = report.reason else { return Response(status: .ok, json: #"{"status":"ok","database":"ok"}"#) }
        return Self.unavailable(#"{"status":"unavailable","database":"\#(database)","reason":"\#(reason.rawValue)"}"#)
    }

    private func readyResponse(_ c: RouteContext) -> Response {
        guard let reason = checkHealth(c).reason else { return Response(status: .ok, json: #"{"status":"ok"}"#) }
        return Self.unavailable(#"{"status":"unavailable","reason":"\#(reason.rawValue)"}"#)
    }

    private func metricsResponse() throws -> Response {
        guard let metrics else { throw Problem.notFound }
        var response = Response(status: .ok, json: metrics())
        response.contentType = "text/plain; version=0.0.4; charset=utf-8"
        return response
    }

    // MARK: Handlers

    private func definitions(_ c: RouteContext) throws -> Response {
        let items = try service.definitions().map(JSONWriter.definition)
        return Response(status: .ok, json: "{\"items\":[\(items.joined(separator: ","))]}")
    }

    private func definition(_ c: RouteContext) throws -> Response {
        Response(status: .ok, json: JSONWriter.definition(try service.definition(id: String(c.parameter("definitionId")))))
    }

    private func instance(_ c: RouteContext) throws -> Response {
        .instance(try service.instance(id: c.instanceId, for: c.principal), status: .ok, for: c.principal)
    }

    private func create(_ c: RouteContext) throws -> Response {
        let (request, principal) = (c.request, c.principal!)
        let body = try jsonDocument(request, required: true)
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
        case .object?:
            parameters = JSONText(unchecked: body!.text(ofMember: "parameters")!)
        case let other?: errors.append(("parameters", "must be an object, not \(other.typeName)"))
        }
        let key = request.head.headerFields.first(.idempotencyKey)
        if let error = key.flatMap(Self.idempotencyKeyError) { errors.append(error) }
        guard errors.isEmpty else { throw Problem.validation(errors) }
        let claim = key.map { IdempotencyClaim(key: $0, requestHash: Self.fingerprint(definitionId: definitionId, parameters: parameters)) }
        let created = try service.create(definitionId: definitionId, parameters: parameters, idempotency: claim, by: principal)
        var response = Response.instance(created.instance, status: .created, for: principal)
        response.addLocation(ofInstance: created.instance.id)
        if created.replayed { response.headers[.idempotentReplayed] = "true" }
        return response
    }

    /// What "the same request" means for an idempotent create: the same definition and parameters.
    static func fingerprint(definitionId: String, parameters: JSONText) -> String {
        Hex.encode(SHA256.hash(data: Array((definitionId + "\n" + parameters.text).utf8)))
    }

    private func list(_ c: RouteContext) throws -> Response {
        let page = try service.list(try InstanceListing.filter(c.request), for: c.principal!)
        return Response(status: .ok, json: JSONWriter.instances(page, for: c.principal!))
    }

    private func transition(_ c: RouteContext) throws -> Response {
        let (request, id, principal) = (c.request, c.instanceId, c.principal!)
        let body = try jsonBody(request, required: true)
        let ifMatch = try version(fromIfMatch: request)
        var errors: [(String, String)] = []
        var target: WorkflowStatus?
        switch body?["to"] {
        case .string(let name):
            target = WorkflowStatus(rawValue: name)
            if target == nil {
                errors.append(("to", "\(JSONString.quoted(String(name.prefix(64)))) is not a status; use one of \(WorkflowStatus.allCases.map(\.rawValue).joined(separator: ", "))"))
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
        let awaiting = body.flatMap { waitRequest(in: $0, target: target, errors: &errors) }
        guard errors.isEmpty, let target, let awaiting else { throw Problem.validation(errors) }
        let changed = try service.transition(
            id: id, to: target, reason: reason, awaiting: awaiting.awaiting, override: awaiting.override, ifMatch: ifMatch, by: principal)
        return .instance(changed, status: .ok, for: principal)
    }

    private func advance(_ c: RouteContext) throws -> Response {
        let (request, id, principal) = (c.request, c.instanceId, c.principal!)
        let body = try jsonDocument(request, required: false)
        let ifMatch = try version(fromIfMatch: request)
        var output: JSONText?
        switch body?["output"] {
        case nil, .null?: break
        case .object?:
            output = JSONText(unchecked: body!.text(ofMember: "output")!)
        case let other?: throw Problem.validation([("output", "must be an object, not \(other.typeName)")])
        }
        return .instance(try service.advance(id: id, output: output, ifMatch: ifMatch, by: principal), status: .ok, for: principal)
    }

    /// The listing, and its long-poll form: with `wait`, an empty answer waits up to that many seconds for
    /// the first event after `after` (or the cursor) to commit.
    private func events(_ c: RouteContext) throws -> Response {
        let (id, principal) = (c.instanceId, c.principal!)
        let asked = try EventListing.page(c.request)
        let service = service
        let page = { @Sendable () throws -> Page<WorkflowEvent> in
            try service.events(instanceId: id, cursor: asked.cursor, afterId: asked.after, limit: asked.limit, for: principal)
        }
        let first = try page()
        var response = Response(status: .ok, json: JSONWriter.events(first))
        guard asked.wait > 0, first.items.isEmpty else { return response }
        // Never longer than a stream lives: the server may end any wait early; the client just asks again.
        let deadline = ContinuousClock.now + min(.seconds(asked.wait), live.streamLifetime)
        response.waiting = Waiting(keys: [LiveUpdates.instanceKey(id)], deadline: deadline, isStream: false) { final in
            let found = try page()
            guard final || !found.items.isEmpty else { return .nothing }
            return .respond(Response(status: .ok, json: JSONWriter.events(found)))
        }
        return response
    }

    private func tasks(_ c: RouteContext) throws -> Response {
        let asked = try TaskListing.page(c.request)
        let page = try service.tasks(kind: asked.kind, cursor: asked.cursor, limit: asked.limit, for: c.principal!)
        return Response(status: .ok, json: JSONWriter.tasks(page, for: c.principal!))
    }

    // MARK: Input

    /// The body as a JSON object. 413 when too large, 415 when not declared as JSON, 400 when malformed
    /// or not an object; nil for an empty optional body.
    func jsonBody(_ request: APIRequest, required: Bool) throws -> JSONValue? {
        try jsonDocument(request, required: required)?.value
    }

    /// `jsonBody`, with the body's text of each member (`JSONDocument.text(ofMember:)`).
    func jsonDocument(_ request: APIRequest, required: Bool) throws -> JSONDocument? {
        let declared = request.head.headerFields.first(.contentLength).flatMap { Int($0) } ?? 0
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
        let document: JSONDocument
        do { document = try JSONParser.parseDocument(request.body) } catch { throw Problem.malformedJSON(error) }
        guard case .object = document.value else {
            throw Problem(.badRequest, "malformed-json", title: "Malformed JSON", detail: "The body must be a JSON object, not \(document.value.typeName).")
        }
        return document
    }

    /// `If-Match: "3"` → 3; `*` or absent → nil.
    func version(fromIfMatch request: APIRequest) throws -> Int? {
        guard let raw = request.head.headerFields.first(.ifMatch).map({ String($0.trimmingHTTPWhitespace()) }), raw != "*" else { return nil }
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
    /// The body as it goes out (JSON unless `contentType` says otherwise).
    var body: [UInt8]
    var contentType = "application/json"
    var headers = HeaderFields()
    /// Set when the request waits for events instead of answering now (the response is then its answer
    /// should it be answered without waiting).
    var waiting: Waiting?

    init(status: HTTPResponse.Status, json: String) {
        self.status = status
        body = Array(json.utf8)
    }

    init(status: HTTPResponse.Status, json: JSONBuffer) {
        self.status = status
        body = json.bytes
    }

    static func instance(_ instance: WorkflowInstance, status: HTTPResponse.Status, for caller: Principal) -> Response {
        var json = JSONBuffer(reservingCapacity: JSONWriter.capacity(for: instance))
        JSONWriter.instance(instance, for: caller, into: &json)
        var response = Response(status: status, json: json)
        response.headers.append(.eTag, DecimalText.quoted(instance.version))
        return response
    }

    /// `Location` of a new instance (create, retry): appended, as no such field is there yet.
    mutating func addLocation(ofInstance id: UUID) {
        headers.append(.location, "/api/v1/workflows/" + id.lowercaseText)
    }

    static func problem(_ problem: Problem) -> Response {
        var response = Response(status: problem.status, json: "")
        response.contentType = "application/problem+json"
        response.headers = problem.headers
        response.problem = problem
        return response
    }

    private var problem: Problem?

    func render(request: APIRequest) -> (ResponseHead, [UInt8]) {
        let bytes = problem.map { Array($0.body(instance: request.path, requestId: request.requestId).utf8) } ?? body
        // Sized once and appended: only render writes these four fields.
        var fields = HeaderFields()
        fields.reserveCapacity(headers.count + request.responseHeaders.count + 4)
        fields.append(contentsOf: headers)
        fields.append(contentsOf: request.responseHeaders)
        fields.append(.requestID, request.requestId)
        fields.append(.cacheControl, "no-store")
        if status != .noContent {
            fields.append(.contentType, contentType)
            fields.append(.contentLength, DecimalText.string(bytes.count))
        }
        return (ResponseHead(status: status, headerFields: fields), bytes)
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("X-Request-Id")!
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    static let idempotentReplayed = HTTPField.Name("Idempotent-Replayed")!
}

