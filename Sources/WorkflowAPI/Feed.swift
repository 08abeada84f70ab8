import HTTPHead
import HTTPTypes
import Synchronization
import Workflows

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `GET /api/v1/events`: its parameters, declared once.
enum FeedListing {
    static let parameters = ["limit", "after", "wait"]

    /// `after`: a feed position (a page's `nextCursor`, or a feed stream's event id); `wait` as for an
    /// instance's events.
    static func page(_ request: APIRequest) throws -> (after: String?, limit: Int, wait: Int) {
        var query = ListingQuery(request, accepting: parameters)
        let limit = query.limit(default: 50)
        var wait = 0
        if let text = query.value("wait") {
            if let seconds = Int(text), (0...LiveSettings.maxWaitSeconds).contains(seconds) { wait = seconds } else {
                query.fail("wait", "must be an integer from 0 to \(LiveSettings.maxWaitSeconds) (seconds)")
            }
        }
        try query.check()
        return (query.value("after"), limit, wait)
    }
}

/// How soon a waiter whose events are held back behind a running transaction looks again: soon at first
/// (a write transaction usually ends within milliseconds), less often while it stays open.
final class RecheckBackoff: Sendable {
    private let streak = Mutex(0)

    func next(heldBack: Bool) -> Duration? {
        streak.withLock { count in
            guard heldBack else {
                count = 0
                return nil
            }
            defer { count = min(count + 1, 7) }
            return .milliseconds(10 << count)
        }
    }
}

/// The feed of the caller's work: the events of every instance the caller may see, one connection for
/// all of them. Ordering: each instance's events in id order; across instances, feed order (by writing
/// transaction, then id), which a client may treat as arbitrary but stable: resuming after a position
/// never skips or repeats an event, even one whose transaction committed late.
extension WorkflowAPI {
    /// The page, and its long-poll form. Without `after` the feed starts now; `nextCursor` is always set.
    func feed(_ c: RouteContext) throws -> Response {
        let principal = c.principal!
        let asked = try FeedListing.page(c.request)
        let start = try asked.after.map(service.feedPosition(cursor:)) ?? service.feedStart()
        let service = service
        let render = { @Sendable (page: WorkflowService.FeedPage) in
            Response(status: .ok, json: JSONWriter.events(
                Page(items: page.items.map { $0.event }, nextCursor: WorkflowService.feedCursor(page.next))))
        }
        let first = try service.feed(after: start, limit: asked.limit, for: principal)
        var response = render(first)
        guard asked.wait > 0, first.items.isEmpty else { return response }
        let position = Mutex(first.next)
        let backoff = RecheckBackoff()
        let deadline = ContinuousClock.now + min(.seconds(asked.wait), live.streamLifetime)
        response.waiting = Waiting(keys: LiveUpdates.feedKeys(for: principal), deadline: deadline, isStream: false) { final in
            let page = try service.feed(after: position.withLock { $0 }, limit: asked.limit, for: principal)
            position.withLock { $0 = page.next }
            if final || !page.items.isEmpty { return .respond(render(page)) }
            return backoff.next(heldBack: page.heldBack).map { .recheck([], after: $0) } ?? .nothing
        }
        response.waiting?.recheckAfter = backoff.next(heldBack: first.heldBack)
        return response
    }

    /// Server-Sent Events of the feed: from after `Last-Event-ID` (or `?after=`), else from now. Each
    /// event's SSE id is its feed position.
    func feedStream(_ c: RouteContext) throws -> Response {
        let principal = c.principal!
        let header = c.request.head.headerFields[.lastEventID]
        let given = header ?? c.request.queryValue("after")
        let start: FeedPosition
        if let given, !given.isEmpty {
            do { start = try service.feedPosition(cursor: given) } catch {
                throw Problem.validation([(header != nil ? "Last-Event-ID" : "after", "must be a feed position, as sent in an event's id")])
            }
        } else {
            start = try service.feedStart()
        }
        let service = service
        let position = Mutex(start)
        let backoff = RecheckBackoff()
        let next = { @Sendable () throws -> (bytes: [UInt8], heldBack: Bool) in
            var out: [UInt8] = []
            for _ in 0..<10 {
                let page = try service.feed(after: position.withLock { $0 }, limit: 100, for: principal)
                for item in page.items { out += Self.serverSentEvent(item.event, id: WorkflowService.feedCursor(item.position)) }
                position.withLock { $0 = page.next }
                if !page.more { return (out, page.heldBack) }
            }
            return (out, false)
        }
        let first = try next()
        var response = Response(status: .ok, json: "retry: 1000\n\n" + String(decoding: first.bytes, as: UTF8.self))
        response.contentType = "text/event-stream"
        response.headers[.xAccelBuffering] = "no"
        response.waiting = Waiting(keys: LiveUpdates.feedKeys(for: principal), deadline: streamDeadline(c), isStream: true) { _ in
            let found = try next()
            if let after = backoff.next(heldBack: found.heldBack) { return .recheck(found.bytes, after: after) }
            return found.bytes.isEmpty ? .nothing : .send(found.bytes)
        }
        response.waiting?.recheckAfter = backoff.next(heldBack: first.heldBack)
        return response
    }
}
