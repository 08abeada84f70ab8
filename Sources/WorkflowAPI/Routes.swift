import Foundation
import HTTPTypes
import Logging
import TextCoding
import Workflows

/// Who may call a route.
enum Access: Sendable, Equatable {
    /// No token needed (health, the OpenAPI document, metrics — nginx guards the last).
    case anyone
    /// A valid bearer token whose roles grant the capability: 401 without a valid token, 403 without the role.
    case token(Capability)
    /// As `token`, or a stream ticket in `?ticket=` (streams only: a browser's EventSource sends no headers).
    case tokenOrTicket(Capability)
}

/// One operation of the API: method, path template (as in the OpenAPI document), who may call it, and
/// the handler. `WorkflowAPI.routes` is the only list of operations: dispatch, `405` with `Allow`,
/// `HEAD`, the metric label and the role checks derive from it, and tests hold the OpenAPI paths and
/// nginx's allow map to it. A class: the router hands routes around on every request, and a reference is
/// one retain where the struct's five fields were five.
final class Route: Sendable {
    typealias Handler = @Sendable (WorkflowAPI, RouteContext) throws -> Response

    let method: HTTPRequest.Method
    let template: String
    let access: Access
    let handler: Handler
    let segments: [Segment]
    /// Each segment's length in UTF-8 bytes if it is a literal, -1 for a parameter: most routes a path is
    /// compared with differ from it in a literal's length, found without comparing any text.
    private let literalCounts: [Int]

    enum Segment: Sendable, Equatable {
        case literal(String)
        /// `holdsUUID`: decided once from the name (`parameterHoldsUUID`), not on every request.
        case parameter(String, holdsUUID: Bool)
    }

    init(_ method: HTTPRequest.Method, _ template: String, _ access: Access, _ handler: @escaping Handler) {
        self.method = method
        self.template = template
        self.access = access
        self.handler = handler
        precondition(template.filter { $0 == "{" }.count <= PathParameters.capacity, "\(template): more parameters than PathParameters holds")
        segments = template.split(separator: "/").map { part in
            guard part.first == "{" && part.last == "}" else { return .literal(String(part)) }
            let name = String(part.dropFirst().dropLast())
            return .parameter(name, holdsUUID: Self.parameterHoldsUUID(name))
        }
        literalCounts = segments.map { if case .literal(let text) = $0 { text.utf8.count } else { -1 } }
    }

    /// The path parameters when `path` (split at "/", without the leading empty segment) fits this
    /// template; nil otherwise. A parameter must be non-empty, and one that holds a UUID a UUID: an instance
    /// id that is not one names nothing, so such a path is a 404 like an unknown id. A UUID is kept parsed.
    func parameters(matching path: [Substring]) -> PathParameters? {
        guard path.count == segments.count else { return nil }
        // From the end: the leading `api/v1` is the same for every route.
        for index in literalCounts.indices.reversed() where literalCounts[index] >= 0 {
            guard path[index].utf8.count == literalCounts[index] else { return nil }
        }
        var found = PathParameters()
        for (segment, part) in zip(segments, path) {
            switch segment {
            case .literal(let text): guard part == text else { return nil }
            case .parameter(let name, holdsUUID: false):
                guard !part.isEmpty else { return nil }
                found.add(name, part, uuid: nil)
            case .parameter(let name, holdsUUID: true):
                guard part.utf8.count == 36, let id = UUID(text: part) else { return nil }
                found.add(name, part, uuid: id)
            }
        }
        return found
    }

    /// Parameters that hold UUIDs.
    static let uuidParameters: Set<String> = ["webhookId", "deliveryId"]

    static func parameterHoldsUUID(_ name: String) -> Bool { name.hasSuffix("InstanceId") || uuidParameters.contains(name) }
}

/// A route's path parameters by name: at most two, held in place (a dictionary cost an allocation and
/// two hashes per request; bench/instructions.sh).
struct PathParameters {
    static let capacity = 2
    private typealias Parameter = (name: String, value: Substring, uuid: UUID?)
    private var first: Parameter?
    private var second: Parameter?

    private func find(_ name: String) -> Parameter? {
        if let first, first.name == name { return first }
        if let second, second.name == name { return second }
        return nil
    }

    subscript(name: String) -> Substring? { find(name)?.value }

    /// The parameter as the UUID the router parsed (nil for a parameter that holds no UUID).
    func uuid(_ name: String) -> UUID? { find(name)?.uuid }

    /// Templates name each parameter once, and have at most `capacity` (checked when a route is made).
    mutating func add(_ name: String, _ value: Substring, uuid: UUID?) {
        if first == nil { first = (name, value, uuid) } else { second = (name, value, uuid) }
    }
}

/// What a handler gets: the request, its path parameters, the authenticated caller (for routes that
/// need a token) and the request's logger.
struct RouteContext {
    let request: APIRequest
    let parameters: PathParameters
    let principal: Principal!
    /// When the caller's token expires (for a ticket: the token it was made from); nil without a token.
    let credentialExpires: Date?
    let log: RequestLog

    /// The logger for a line about this request (built when asked: most requests log nothing).
    var logger: Logger { log.logger }

    /// A parameter the route's template declares; the router has already checked its form.
    func parameter(_ name: String) -> Substring { parameters[name] ?? "" }

    /// A parameter that holds a UUID, as the router parsed it when it matched the route.
    func uuid(_ name: String) -> UUID { parameters.uuid(name)! }

    var instanceId: UUID { uuid("workflowInstanceId") }
}

/// Finds the route for a request.
struct Router: Sendable {
    let routes: [Route]
    /// The metric label of each path template, in table order, then "unmatched": a match names its label by
    /// position, so the request metrics find their handles by index instead of hashing the text.
    let labels: [String]
    var unmatchedLabel: Int { labels.count - 1 }
    /// `routes` by the number of segments in their template (table order kept), each with its label: a
    /// request is compared only with the routes its path could match, not with all of them.
    private let routesByLength: [[(route: Route, label: Int)]]

    init(routes: [Route]) {
        self.routes = routes
        var labels: [String] = []
        var byLength = Array(repeating: [(route: Route, label: Int)](), count: (routes.map(\.segments.count).max() ?? 0) + 1)
        for route in routes {
            let label = labels.firstIndex(of: route.template) ?? labels.count
            if label == labels.count { labels.append(route.template) }
            byLength[route.segments.count].append((route, label))
        }
        self.labels = labels + ["unmatched"]
        routesByLength = byLength
    }

    enum Match {
        case route(Route, label: Int, parameters: PathParameters)
        /// The path exists but not with this method: its label and the methods it has, for `Allow`.
        case methodNotAllowed(label: Int, allow: [HTTPRequest.Method])
        case notFound
    }

    /// `HEAD` is answered by the `GET` route of the same path. Only the routes of the request's method are
    /// compared with the path; the others only when none fits (to say 405 and which methods do): comparing
    /// every route of the path's length cost a create ~18 segment comparisons (bench/instructions.sh).
    func match(_ method: HTTPRequest.Method, _ path: [Substring]) -> Match {
        guard path.count < routesByLength.count else { return .notFound }
        let candidates = routesByLength[path.count]
        let routeMethod = method == .head ? .get : method
        for (route, label) in candidates where route.method == routeMethod {
            if let parameters = route.parameters(matching: path) { return .route(route, label: label, parameters: parameters) }
        }
        var found: Int?
        var methods: [HTTPRequest.Method] = []
        for (route, label) in candidates where route.method != routeMethod && route.parameters(matching: path) != nil {
            found = found ?? label
            methods.append(route.method)
        }
        guard let found else { return .notFound }
        return .methodNotAllowed(label: found, allow: Self.allow(methods))
    }

    /// The methods of one path as `Allow` lists them: each `GET` followed by `HEAD`.
    static func allow(_ methods: [HTTPRequest.Method]) -> [HTTPRequest.Method] {
        methods.flatMap { $0 == .get ? [.get, .head] : [$0] }
    }

    /// Every path template with its methods, in table order.
    var templates: [(template: String, methods: [HTTPRequest.Method])] {
        var result: [(String, [HTTPRequest.Method])] = []
        for route in routes {
            if let i = result.firstIndex(where: { $0.0 == route.template }) { result[i].1.append(route.method) } else { result.append((route.template, [route.method])) }
        }
        return result
    }
}
