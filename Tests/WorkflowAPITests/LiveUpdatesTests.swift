import Foundation
import HTTPHead
import HTTPTypes
import Logging
import TestSupport
import Testing
import TextCoding
@testable import WorkflowAPI
import Workflows

extension WorkflowAPI {
    /// `reply` for the `HTTPTypes` requests these tests build.
    func reply(_ head: HTTPRequest, body: [UInt8]) -> APIReply { reply(RequestHead(head), body: body) }
}

/// Long-poll and stream replies without sockets: what waits, what answers at once, what a wake-up sends.
@Suite struct LiveUpdatesAPITests {
    let api: WorkflowAPI
    let participant = UUID()

    init() async throws {
        let verifier = try await TokenVerifier.make(configuration: TokenVerifierConfiguration(
            hmacSecret: TestTokens.secret, jwksJSON: nil, issuer: nil, audience: nil))
        api = WorkflowAPI(
            service: WorkflowService(repository: InMemoryWorkflowRepository()), verifier: verifier, maxBodyBytes: 1000,
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() },
            live: LiveSettings(heartbeatEvery: .seconds(15), streamLifetime: .seconds(300))
        ) { .ready }
    }

    func request(_ method: HTTPRequest.Method, _ path: String, token: String? = nil, headers: [String: String] = [:]) -> HTTPRequest {
        var head = HTTPRequest(method: method, scheme: "http", authority: "localhost", path: path)
        head.headerFields[.authorization] = "Bearer " + (token ?? TestTokens.token(user: participant, roles: ["Participant"]))
        for (name, value) in headers { head.headerFields[HTTPField.Name(name)!] = value }
        return head
    }

    func create() throws -> String {
        var head = request(.post, "/api/v1/workflows")
        head.headerFields[.contentType] = "application/json"
        let body = Array(#"{"workflowId":"create-prd"}"#.utf8)
        let (response, bytes) = api.handle(head, body: body)
        #expect(response.status == .created)
        let json = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
        return try #require(json?["id"] as? String)
    }

    func transition(_ id: String, to status: String) {
        var head = request(.post, "/api/v1/workflows/\(id)/transitions")
        head.headerFields[.contentType] = "application/json"
        #expect(api.handle(head, body: Array(#"{"to":"\#(status)"}"#.utf8)).0.status == .ok)
    }

    @Test func aLongPollWithNewEventsAnswersAtOnceAndWithoutThemWaitsOnItsInstance() throws {
        let id = try create()
        guard case .respond(let now, _) = api.reply(request(.get, "/api/v1/workflows/\(id)/events?after=0&wait=10"), body: []) else {
            Issue.record("an existing event must answer at once")
            return
        }
        #expect(now.status == .ok)
        guard case .wait(let waiter) = api.reply(request(.get, "/api/v1/workflows/\(id)/events?after=1&wait=10"), body: []) else {
            Issue.record("nothing after event 1: the request waits")
            return
        }
        #expect(waiter.keys == ["i:\(id)"])
        #expect(waiter.stream == nil)
        #expect(waiter.deadline > .now + .seconds(9) && waiter.deadline <= .now + .seconds(10))
        #expect(waiter.next(false) == .wait(sending: []), "a wake-up with nothing new keeps it waiting")
        transition(id, to: "Running")
        guard case .finish(let head?, let body) = waiter.next(false) else {
            Issue.record("the new event answers it")
            return
        }
        #expect(head.status == .ok)
        #expect(String(decoding: body, as: UTF8.self).contains(#""toStatus":"Running""#))
        #expect(waiter.whenFull.0.status == .serviceUnavailable && waiter.whenFull.0.headerFields[.retryAfter] != nil)
    }

    @Test func aLongPollAnswersAnEmptyPageAtItsDeadline() throws {
        let id = try create()
        guard case .wait(let waiter) = api.reply(request(.get, "/api/v1/workflows/\(id)/events?after=1&wait=1"), body: []) else {
            Issue.record("expected a waiter")
            return
        }
        guard case .finish(let head?, let body) = waiter.next(true) else {
            Issue.record("the deadline answers")
            return
        }
        #expect(head.status == .ok)
        #expect(String(decoding: body, as: UTF8.self) == #"{"items":[],"nextCursor":null}"#)
    }

    @Test func aStreamStartsAfterLastEventIDAndSendsEachNewEventOnce() throws {
        let id = try create()
        transition(id, to: "Running")
        guard case .wait(let waiter) = api.reply(request(.get, "/api/v1/workflows/\(id)/events/stream", headers: ["Last-Event-ID": "1"]), body: []) else {
            Issue.record("a stream waits")
            return
        }
        let stream = try #require(waiter.stream)
        #expect(stream.head.headerFields[.contentType] == "text/event-stream")
        #expect(stream.head.headerFields[.contentLength] == nil)
        let first = String(decoding: stream.first, as: UTF8.self)
        #expect(first.hasPrefix("retry: 1000\n\nid: 2\nevent: StatusChanged\ndata: {\"id\":2,"), "\(first)")
        #expect(!first.contains("id: 1\n"))
        #expect(waiter.next(false) == .wait(sending: []))
        transition(id, to: "Paused")
        guard case .wait(let sent) = waiter.next(false) else {
            Issue.record("a stream keeps waiting")
            return
        }
        #expect(String(decoding: sent, as: UTF8.self).hasPrefix("id: 3\nevent: StatusChanged\n"))
        #expect(waiter.next(false) == .wait(sending: []), "nothing is sent twice")
        #expect(waiter.next(true) == .finish(nil, []))
    }

    @Test func aStreamEndsNoLaterThanItsTokenExpires() throws {
        let id = try create()
        let token = TestTokens.token(user: participant, roles: ["Participant"], expiresIn: 30)
        guard case .wait(let waiter) = api.reply(request(.get, "/api/v1/workflows/\(id)/events/stream", token: token), body: []) else {
            Issue.record("a stream waits")
            return
        }
        #expect(waiter.deadline <= .now + .seconds(30))
        #expect(waiter.deadline > .now + .seconds(28))
    }

    @Test func aNotificationWakesTheWaitersOfEachInstanceAndOwnerItNamesAndEveryChangeFeedsAndStarWakesEveryone() {
        let a = "6f1c2f7e-4a51-4a55-9a8e-0c4f3b1e2d3c", b = "7f1c2f7e-4a51-4a55-9a8e-0c4f3b1e2d3c"
        let owner = "8f1c2f7e-4a51-4a55-9a8e-0c4f3b1e2d3c"
        #expect(LiveUpdates.keys(forNotification: "\(a)/\(owner),\(b)/\(owner)") == ["i:\(a)", "u:\(owner)", "i:\(b)", "all"])
        #expect(LiveUpdates.keys(forNotification: "*") == nil, "sent after notifications may have been lost")
        #expect(LiveUpdates.keys(forNotification: "") == nil)
    }

    func json(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test func theFeedStartsNowAndCarriesTheCallersInstancesOnlyWithTheirIds() throws {
        _ = try create()
        let (head, body) = api.handle(request(.get, "/api/v1/events"), body: [])
        #expect(head.status == .ok)
        let empty = try json(body)
        #expect((empty["items"] as? [Any])?.isEmpty == true, "without after the feed starts now")
        let now = try #require(empty["nextCursor"] as? String)
        let id = try create()
        transition(id, to: "Running")
        let stranger = TestTokens.token(user: UUID(), roles: ["Participant"])
        var strange = request(.get, "/api/v1/events?after=\(now)", token: stranger)
        let other = try json(api.handle(strange, body: []).1)
        #expect((other["items"] as? [Any])?.isEmpty == true, "another user's instances are not in their feed")
        let page = try json(api.handle(request(.get, "/api/v1/events?after=\(now)&limit=1"), body: []).1)
        let items = try #require(page["items"] as? [[String: Any]])
        #expect(items.map { $0["type"] as? String } == ["InstanceCreated"])
        #expect(items.first?["workflowInstanceId"] as? String == id)
        let next = try #require(page["nextCursor"] as? String)
        let rest = try json(api.handle(request(.get, "/api/v1/events?after=\(next)"), body: []).1)
        #expect((rest["items"] as? [[String: Any]])?.map { $0["toStatus"] as? String } == ["Running"])
        let admin = TestTokens.token(user: UUID(), roles: ["Admin"])
        strange = request(.get, "/api/v1/events?after=\(now)", token: admin)
        #expect((try json(api.handle(strange, body: []).1)["items"] as? [Any])?.count == 2, "an Admin sees everyone's")
        #expect(api.handle(request(.get, "/api/v1/events?after=12"), body: []).0.status == .badRequest, "a position is opaque")
        #expect(api.handle(request(.get, "/api/v1/events?cursor=x"), body: []).0.status == .badRequest)
    }

    @Test func aFeedLongPollWaitsOnItsOwnersKeyAndAnAdminsOnEveryChange() throws {
        guard case .wait(let waiter) = api.reply(request(.get, "/api/v1/events?wait=5"), body: []) else {
            Issue.record("nothing new: the feed long-poll waits")
            return
        }
        #expect(waiter.keys == ["u:\(participant.uuidString.lowercased())"])
        #expect(waiter.next(false) == .wait(sending: []))
        let id = try create()
        guard case .finish(let head?, let body) = waiter.next(false) else {
            Issue.record("the caller's new instance answers it")
            return
        }
        #expect(head.status == .ok)
        #expect((try json(body)["items"] as? [[String: Any]])?.first?["workflowInstanceId"] as? String == id)
        let admin = TestTokens.token(user: UUID(), roles: ["Admin"])
        guard case .wait(let everything) = api.reply(request(.get, "/api/v1/events?wait=5", token: admin), body: []) else {
            Issue.record("an Admin's feed long-poll waits")
            return
        }
        #expect(everything.keys == ["all"])
        let approver = TestTokens.token(user: UUID(), roles: ["Approver"])
        guard case .wait(let approvals) = api.reply(request(.get, "/api/v1/events/stream", token: approver), body: []) else {
            Issue.record("a feed stream waits")
            return
        }
        #expect(approvals.keys == ["all"], "an approval wait on anyone's instance may concern an Approver")
    }

    @Test func aFeedStreamsIdsAreFeedPositionsToResumeAfter() throws {
        let (_, body) = api.handle(request(.get, "/api/v1/events"), body: [])
        let now = try #require(try json(body)["nextCursor"] as? String)
        guard case .wait(let waiter) = api.reply(request(.get, "/api/v1/events/stream?after=\(now)"), body: []) else {
            Issue.record("a stream waits")
            return
        }
        #expect(String(decoding: try #require(waiter.stream).first, as: UTF8.self) == "retry: 1000\n\n")
        let id = try create()
        transition(id, to: "Running")
        guard case .wait(let sent) = waiter.next(false) else {
            Issue.record("a stream keeps waiting")
            return
        }
        let text = String(decoding: sent, as: UTF8.self)
        let ids = text.split(separator: "\n").filter { $0.hasPrefix("id: ") }.map { String($0.dropFirst(4)) }
        #expect(ids.count == 2)
        #expect(text.contains("event: InstanceCreated\ndata: {\"id\":"))
        guard case .wait(let resumed) = api.reply(request(.get, "/api/v1/events/stream", headers: ["Last-Event-ID": ids[0]]), body: []) else {
            Issue.record("a resumed stream waits")
            return
        }
        let again = String(decoding: try #require(resumed.stream).first, as: UTF8.self)
        #expect(again.contains("id: \(ids[1])\nevent: StatusChanged\n") && !again.contains(ids[0]), "exactly the events after it")
        #expect(api.handle(request(.get, "/api/v1/events/stream", headers: ["Last-Event-ID": "7"]), body: []).0.status == .badRequest)
    }

    @Test func aTicketCarriesItsCallerAndExpiresAfterAMinuteOrWithItsToken() throws {
        let tickets = StreamTickets(secrets: [TestTokens.secret])
        let caller = Principal(userId: UUID(), roles: [.viewer, .admin])
        let now = Date()
        let made = tickets.make(for: caller, tokenExpires: now.addingTimeInterval(3600), now: now)
        let claims = try tickets.verify(made.ticket, now: now)
        #expect(claims.principal == caller)
        #expect(abs(claims.ticketExpires.timeIntervalSince(now) - 60) < 1)
        #expect(throws: AuthenticationError.self) { try tickets.verify(made.ticket, now: now.addingTimeInterval(61)) }
        let shortToken = tickets.make(for: caller, tokenExpires: now.addingTimeInterval(10), now: now)
        #expect(throws: AuthenticationError.self) { try tickets.verify(shortToken.ticket, now: now.addingTimeInterval(11)) }
        #expect(throws: AuthenticationError.self, "another secret's ticket") {
            try StreamTickets(secrets: [String(repeating: "x", count: 32)]).verify(made.ticket, now: now)
        }
        var parts = made.ticket.split(separator: ".").map(String.init)
        parts[1] = Base64URL.encode("\(UUID().uuidString.lowercased())|Admin|\(Int(now.timeIntervalSince1970) + 60)|0".utf8)
        #expect(throws: AuthenticationError.self, "a payload changed under the same MAC") { try tickets.verify(parts.joined(separator: "."), now: now) }
    }

    @Test func ticketsFollowTheVerifiersSecretsAcrossAReload() async throws {
        let a = String(repeating: "a", count: 32), b = String(repeating: "b", count: 32)
        let verifier = try await TokenVerifier.make(configuration: TokenVerifierConfiguration(hmacSecret: a))
        let tickets = StreamTickets { verifier.ticketKeys }
        let caller = Principal(userId: UUID(), roles: [.viewer])
        let underA = tickets.make(for: caller, tokenExpires: Date().addingTimeInterval(3600)).ticket
        // Rotation starts: B signs, A's tickets still open streams.
        try await verifier.reload(TokenKeyMaterial(hmacSecrets: [b, a]))
        let underB = tickets.make(for: caller, tokenExpires: Date().addingTimeInterval(3600)).ticket
        #expect(try tickets.verify(underA).principal == caller)
        #expect(try StreamTickets(secrets: [b]).verify(underB).principal == caller, "made with the current secret")
        // Rotation ends: A is gone, and with it every ticket made under it.
        try await verifier.reload(TokenKeyMaterial(hmacSecrets: [b]))
        #expect(throws: AuthenticationError.self) { try tickets.verify(underA) }
        #expect(try tickets.verify(underB).principal == caller)
    }
}
