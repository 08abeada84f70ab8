public import HTTPHead
import HTTPTypes
import Logging
import Synchronization
import TextCoding
import Workflows

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What the API answers: a response now, or a request that waits for events (a long-poll or a stream)
/// without holding a thread. The executable hands a waiter to the FastCGI server's parking lot.
public enum APIReply: Sendable {
    case respond(ResponseHead, [UInt8])
    case wait(Waiter)
}

/// A request that waits until one of its `keys` is woken (`LiveUpdates.keys(forNotification:)` names the
/// keys a committed change wakes), its deadline passes or the server stops.
public struct Waiter: Sendable {
    public let keys: [String]
    public let deadline: ContinuousClock.Instant
    /// A stream's head and first events, written at once, and its heartbeat; nil for a long-poll.
    public let stream: StreamStart?
    /// The answer when too many requests wait already: 503 with Retry-After.
    public let whenFull: (ResponseHead, [UInt8])
    /// Look again after this long even if nothing wakes it (events held back when it started waiting).
    public let recheckAfter: Duration?
    /// Looks again (re-runs the query). `final`: the deadline passed or the server stops, so answer now.
    /// Never runs twice at once for one waiter.
    public let next: @Sendable (_ final: Bool) -> WaiterStep
}

public struct StreamStart: Sendable {
    public let head: ResponseHead
    public let first: [UInt8]
    public let heartbeatEvery: Duration
    public let heartbeat: [UInt8]
}

public enum WaiterStep: Sendable, Equatable {
    /// Keep waiting after sending these bytes (a stream's new events; none for a long-poll).
    case wait(sending: [UInt8])
    /// As `wait`, and look again after `after` unwoken (events are held back behind a running transaction).
    case recheck(sending: [UInt8], after: Duration)
    /// End the request with this head (nil for a stream, whose head went out first) and body.
    case finish(ResponseHead?, [UInt8])
}

/// Settings of the live-update endpoints.
public struct LiveSettings: Sendable {
    /// The longest `wait` a long-poll may ask for.
    public static let maxWaitSeconds = 30
    /// Comment lines sent on an idle stream, so that proxies and clients see the connection alive.
    public var heartbeatEvery: Duration
    /// The server ends a stream after this long; the client reconnects with `Last-Event-ID`.
    public var streamLifetime: Duration

    public init(heartbeatEvery: Duration = .seconds(15), streamLifetime: Duration = .seconds(300)) {
        self.heartbeatEvery = heartbeatEvery
        self.streamLifetime = streamLifetime
    }
}

/// How a committed change reaches waiting requests: the writing process notifies channel
/// `workflow_events` with `instanceId/ownerId,…` after the commit. A waiter on one instance waits on its
/// instance key; a feed waiter on its owner key, or, when it may see others' instances (an Admin, an
/// Approver), on the key every notification wakes.
public enum LiveUpdates {
    public static let channel = "workflow_events"

    static func instanceKey(_ id: UUID) -> String { "i:" + id.lowercaseText }
    static func ownerKey(_ id: UUID) -> String { "u:" + id.lowercaseText }
    static let everyChangeKey = "all"

    /// The keys a feed waiter waits on: what can change what `Principal.canSee` lets it see.
    static func feedKeys(for principal: Principal) -> [String] {
        principal.isAdmin || principal.has(.approver) ? [everyChangeKey] : [ownerKey(principal.userId)]
    }

    /// The keys a notification wakes; nil: every waiter (`*`, sent after notifications may have been
    /// lost, or a payload not understood).
    /// Byte-wise: every process parses every notification, and Character-wise splitting walked grapheme
    /// clusters for what is ASCII by construction (`id/owner,id/owner,…`, 73 bytes per entry).
    public static func keys(forNotification payload: String) -> [String]? {
        var keys: [String] = []
        var owners = Set<String>()
        let bytes = Array(payload.utf8)
        var start = 0
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: ",")) ?? bytes.count
            // `<36-char id>/<36-char owner>`
            guard end - start == 73, bytes[start + 36] == UInt8(ascii: "/") else { return nil }
            keys.append("i:" + String(decoding: bytes[start..<(start + 36)], as: UTF8.self))
            let owner = "u:" + String(decoding: bytes[(start + 37)..<end], as: UTF8.self)
            if owners.insert(owner).inserted { keys.append(owner) }
            start = end + 1
        }
        return keys.isEmpty ? nil : keys + [everyChangeKey]
    }
}

/// A response that waits: the handler found nothing new yet (a long-poll), or streams.
struct Waiting: Sendable {
    var keys: [String]
    var deadline: ContinuousClock.Instant
    /// A stream: the response it is attached to is the stream's head and first bytes.
    var isStream: Bool
    /// Look again after this long, unwoken: what the first look found is held back behind a running transaction.
    var recheckAfter: Duration? = nil
    /// Looks again. A long-poll returns the response to end with, or `.nothing` while there is nothing
    /// new (`final`: must answer). A stream returns `.send` with its new events.
    var next: @Sendable (_ final: Bool) throws -> Step

    enum Step {
        case nothing
        case respond(Response)
        case send([UInt8])
        /// Send these bytes (maybe none) and look again after a while, unwoken.
        case recheck([UInt8], after: Duration)
    }
}

extension WorkflowAPI {
    /// Turns a handler's `Waiting` into a `Waiter`: `rendered` is the response it came with (a stream's
    /// head and first events). Renders later responses for this request and ends a wait whose query
    /// fails with that error (a stream just ends: its head went out already).
    func waiter(_ waiting: Waiting, rendered: (ResponseHead, [UInt8]), for request: APIRequest, logger: Logger) -> Waiter {
        var full = Problem.unavailable("Too many clients are waiting for events; retry shortly.", retryAfter: 2)
        full.type = "urn:workflowd:problem:too-many-waiters"
        let (fullHead, fullBody) = Response.problem(full).render(request: request)
        var stream: StreamStart?
        if waiting.isStream {
            var head = rendered.0
            head.headerFields[.contentLength] = nil
            stream = StreamStart(head: head, first: rendered.1, heartbeatEvery: live.heartbeatEvery, heartbeat: Array(": heartbeat\n\n".utf8))
        }
        let isStream = waiting.isStream
        return Waiter(
            keys: waiting.keys, deadline: waiting.deadline, stream: stream, whenFull: (fullHead, fullBody), recheckAfter: waiting.recheckAfter
        ) { final in
            do {
                switch try waiting.next(final) {
                case .nothing: return final ? .finish(nil, []) : .wait(sending: [])
                case .send(let bytes): return final ? .finish(nil, bytes) : .wait(sending: bytes)
                case .recheck(let bytes, let after): return final ? .finish(nil, bytes) : .recheck(sending: bytes, after: after)
                case .respond(let response):
                    let (head, body) = response.render(request: request)
                    return .finish(isStream ? nil : head, body)
                }
            } catch {
                logger.warning("a waiting request failed", metadata: ["error": "\(String(reflecting: error))", "path": "\(request.path)"])
                if isStream { return .finish(nil, []) }
                let problem = (error as? Problem) ?? (error as? WorkflowError).map(Problem.from) ?? .internalError
                let (head, body) = Response.problem(problem).render(request: request)
                return .finish(head, body)
            }
        }
    }

    // MARK: Streams

    /// `GET /api/v1/workflows/{id}/events/stream`: Server-Sent Events from after `Last-Event-ID` (or
    /// `?after=`, or the beginning), until the stream's lifetime or the caller's token runs out.
    func stream(_ c: RouteContext) throws -> Response {
        let (request, id, principal) = (c.request, c.instanceId, c.principal!)
        let after = try streamPosition(request)
        let service = service
        let position = Mutex(after)
        // Pages of 100 until nothing is left, so a stream that resumes far behind catches up at once.
        let next = { @Sendable () throws -> [UInt8] in
            var out: [UInt8] = []
            for _ in 0..<20 {
                let from = position.withLock { $0 }
                let page = try service.events(instanceId: id, cursor: nil, afterId: from, limit: 100, for: principal)
                for event in page.items { out += Self.serverSentEvent(event, id: String(event.id)) }
                if let last = page.items.last { position.withLock { $0 = last.id } }
                if page.nextCursor == nil { break }
            }
            return out
        }
        // `retry` tells EventSource how soon to reconnect after the server ends the stream.
        var response = Response(status: .ok, json: "retry: 1000\n\n")
        response.body += try next()
        response.contentType = "text/event-stream"
        response.headers[.xAccelBuffering] = "no"
        response.waiting = Waiting(keys: [LiveUpdates.instanceKey(id)], deadline: streamDeadline(c), isStream: true) { _ in
            let bytes = try next()
            return bytes.isEmpty ? .nothing : .send(bytes)
        }
        return response
    }

    /// `id` (where to resume after it), `event` (the event's type) and `data` (the event as in the
    /// listing) of one event.
    static func serverSentEvent(_ event: WorkflowEvent, id: String) -> [UInt8] {
        var out = JSONBuffer(reservingCapacity: JSONWriter.eventCapacity(for: event))
        out.raw("id: ")
        out.raw(id)
        out.raw("\nevent: ")
        out.raw(event.type.rawValue)
        out.raw("\ndata: ")
        JSONWriter.event(event, into: &out)
        out.raw("\n\n")
        return out.bytes
    }

    /// Where a stream starts: after `Last-Event-ID` (a reconnecting EventSource sends it), else `?after=`.
    func streamPosition(_ request: APIRequest) throws -> Int64? {
        let (name, text): (String, String?) = request.head.headerFields[.lastEventID].map { ("Last-Event-ID", $0) } ?? ("after", request.queryValue("after"))
        guard let text, !text.isEmpty else { return nil }
        guard let id = Int64(text), id >= 0 else { throw Problem.validation([(name, "must be an event id (a non-negative integer)")]) }
        return id
    }

    /// The stream's lifetime, cut short by the expiry of the caller's token: a stream never outlives the
    /// credential that opened it.
    func streamDeadline(_ c: RouteContext) -> ContinuousClock.Instant {
        var deadline = ContinuousClock.now + live.streamLifetime
        if let expires = c.credentialExpires {
            let left = max(0, expires.timeIntervalSinceNow)
            deadline = min(deadline, .now + .milliseconds(Int64(left * 1000)))
        }
        return deadline
    }

    /// `POST /api/v1/stream-tickets`: a ticket for `?ticket=` on a stream URL.
    func streamTicket(_ c: RouteContext) throws -> Response {
        let made = tickets.make(for: c.principal, tokenExpires: c.credentialExpires ?? Date())
        return Response(
            status: .created,
            json: "{\"ticket\":\(JSONString.quoted(made.ticket)),\"expiresAt\":\"\(RFC3339.utcMilliseconds(microsecondsSinceEpoch: Int64(made.expires.timeIntervalSince1970 * 1_000_000)))\"}")
    }
}

extension HTTPField.Name {
    static let lastEventID = HTTPField.Name("Last-Event-ID")!
    static let xAccelBuffering = HTTPField.Name("X-Accel-Buffering")!
}
