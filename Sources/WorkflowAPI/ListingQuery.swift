import Foundation
import Workflows
import TextCoding

/// The query string of one listing, read against the parameters that listing declares. A name it does
/// not declare, or one given twice, is an error that names it: a misspelt filter (`stauts=Running`)
/// silently ignored would answer with every instance, which looks like a right answer.
struct ListingQuery {
    private let request: APIRequest
    private let accepted: [String]
    private(set) var errors: [(String, String)] = []

    init(_ request: APIRequest, accepting accepted: [String]) {
        self.request = request
        self.accepted = accepted
        var seen = Set<String>()
        for (name, _) in request.query {
            let shown = String(name.prefix(64))
            if !accepted.contains(name) {
                if seen.insert(name).inserted {
                    errors.append((shown, "is not a parameter of this listing; it takes \(accepted.joined(separator: ", "))"))
                }
            } else if !seen.insert(name).inserted {
                errors.append((shown, "is given more than once"))
            }
        }
    }

    func value(_ name: String) -> String? {
        precondition(accepted.contains(name), "\(name) is read but not declared")
        return request.queryValue(name)
    }

    mutating func fail(_ name: String, _ message: String) { errors.append((name, message)) }

    /// Throws the validation problem when anything was wrong.
    func check() throws {
        guard errors.isEmpty else { throw Problem.validation(errors) }
    }

    /// `limit`: 1 to 100, `value` when absent.
    mutating func limit(default value: Int) -> Int {
        guard let text = self.value("limit") else { return value }
        guard let limit = Int(text), (1...100).contains(limit) else {
            fail("limit", "must be an integer from 1 to 100")
            return value
        }
        return limit
    }

    /// A containment filter: a JSON object, small enough that a query costs a bounded number of index
    /// lookups (each key and array element is one jsonb_path_ops entry to intersect). nil when absent
    /// or `{}`, which every instance contains.
    mutating func containmentFilter(_ name: String) -> JSONText? {
        guard let text = value(name) else { return nil }
        switch JSONFilter.parse(text) {
        case .success(let filter): return filter
        case .failure(let reason):
            fail(name, reason.message)
            return nil
        }
    }
}

/// The limits of a containment filter and how a filter breaks them.
enum JSONFilter {
    static let maxBytes = 2048
    static let maxDepth = 8
    static let maxKeys = 16

    struct Rejection: Error, Equatable {
        let message: String
    }

    static func parse(_ text: String) -> Result<JSONText?, Rejection> {
        let bytes = Array(text.utf8)
        guard bytes.count <= maxBytes else {
            return .failure(Rejection(message: "is \(bytes.count) bytes long; at most \(maxBytes) bytes are allowed"))
        }
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes, maxDepth: maxDepth)
        } catch {
            if error.tooDeep {
                return .failure(Rejection(message: "is nested deeper than \(maxDepth) levels of objects and arrays"))
            }
            return .failure(Rejection(message: "is not valid JSON: \(error.message) (at byte \(error.offset))"))
        }
        guard case .object(let members) = value else {
            return .failure(Rejection(message: "must be a JSON object, not \(value.typeName)"))
        }
        let keys = keyCount(value)
        guard keys <= maxKeys else {
            return .failure(Rejection(message: "has \(keys) keys (counting those of nested objects); at most \(maxKeys) are allowed"))
        }
        return .success(members.isEmpty ? nil : JSONText(unchecked: value.serialized))
    }

    private static func keyCount(_ value: JSONValue) -> Int {
        switch value {
        case .object(let members): members.count + members.reduce(0) { $0 + keyCount($1.value) }
        case .array(let items): items.reduce(0) { $0 + keyCount($1) }
        default: 0
        }
    }
}

/// `GET /api/v1/workflows`: its parameters, declared once, and the filter they make.
enum InstanceListing {
    static let parameters = ["status", "workflowId", "userId", "context", "stepData", "limit", "cursor"]

    static func filter(_ request: APIRequest) throws -> WorkflowService.ListFilter {
        var query = ListingQuery(request, accepting: parameters)
        var filter = WorkflowService.ListFilter()
        if let text = query.value("status") {
            if let status = WorkflowStatus(rawValue: text) { filter.status = status } else {
                query.fail("status", "must be one of \(WorkflowStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        if let text = query.value("workflowId") {
            if (1...64).contains(text.count) { filter.definitionId = text } else { query.fail("workflowId", "must be 1 to 64 characters") }
        }
        if let text = query.value("userId") {
            if let id = UUID(text: text) { filter.userId = id } else { query.fail("userId", "must be a UUID") }
        }
        filter.context = query.containmentFilter("context")
        filter.stepData = query.containmentFilter("stepData")
        filter.limit = query.limit(default: 20)
        filter.cursor = query.value("cursor")
        try query.check()
        return filter
    }
}

/// `GET /api/v1/workflows/{id}/events`: its parameters, declared once, and the page they ask for.
enum EventListing {
    static let parameters = ["limit", "cursor", "after", "wait"]

    /// `after`: events with a greater id (as sent in an event's `id`); `wait`: seconds to hold the request
    /// open when there are none yet (long-poll), 0 to answer at once.
    static func page(_ request: APIRequest) throws -> (cursor: String?, limit: Int, after: Int64?, wait: Int) {
        var query = ListingQuery(request, accepting: parameters)
        let limit = query.limit(default: 50)
        var after: Int64?
        if let text = query.value("after") {
            if let id = Int64(text), id >= 0 { after = id } else { query.fail("after", "must be an event id (a non-negative integer)") }
        }
        var wait = 0
        if let text = query.value("wait") {
            if let seconds = Int(text), (0...LiveSettings.maxWaitSeconds).contains(seconds) { wait = seconds } else {
                query.fail("wait", "must be an integer from 0 to \(LiveSettings.maxWaitSeconds) (seconds)")
            }
        }
        let cursor = query.value("cursor")
        if after != nil, cursor != nil { query.fail("after", "cannot be combined with cursor") }
        try query.check()
        return (cursor, limit, after, wait)
    }
}

/// `GET /api/v1/tasks`: its parameters, declared once, and the page they ask for.
enum TaskListing {
    static let parameters = ["kind", "limit", "cursor"]

    static func page(_ request: APIRequest) throws -> (kind: Awaiting.Kind?, cursor: String?, limit: Int) {
        var query = ListingQuery(request, accepting: parameters)
        var kind: Awaiting.Kind?
        if let text = query.value("kind") {
            kind = Awaiting.Kind(rawValue: text)
            if kind == nil { query.fail("kind", "must be input or approval") }
        }
        let limit = query.limit(default: 20)
        try query.check()
        return (kind, query.value("cursor"), limit)
    }
}
