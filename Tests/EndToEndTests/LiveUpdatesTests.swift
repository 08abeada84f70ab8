import Foundation
import PostgresClient
import Synchronization
import TestSupport
import Testing

/// One Server-Sent Event as a test reads it.
struct SentEvent: Equatable {
    let id: Int
    let type: String
    let data: [String: Any]
    static func == (a: SentEvent, b: SentEvent) -> Bool { a.id == b.id && a.type == b.type }
}

/// Parses a `text/event-stream` body: its events (comments and `retry` skipped) and whether it had a heartbeat.
func sentEvents(_ text: String) -> (events: [SentEvent], heartbeats: Int) {
    var events: [SentEvent] = []
    var heartbeats = 0
    for block in text.components(separatedBy: "\n\n") {
        var id: Int?, type: String?, data: [String: Any]?
        for line in block.split(separator: "\n") {
            if line.hasPrefix(": heartbeat") { heartbeats += 1 }
            if line.hasPrefix("id: ") { id = Int(line.dropFirst(4)) }
            if line.hasPrefix("event: ") { type = String(line.dropFirst(7)) }
            if line.hasPrefix("data: ") {
                data = (try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8))) as? [String: Any]
            }
        }
        if let id, let type, let data { events.append(SentEvent(id: id, type: type, data: data)) }
    }
    return (events, heartbeats)
}

@Suite(requiresStack)
struct LiveUpdatesEndToEndTests {
    @Test func aLongPollIsAnsweredByATransitionMadeThroughAnotherProcess() throws {
        let stack = try Stack(name: "live-longpoll", responders: 2)
        let marcus = try APIUser(stack, roles: ["Participant"])
        let id = try #require(marcus.create()["id"] as? String)
        let created = try marcus.call("GET", "/api/v1/workflows/\(id)/events")
        let last = try #require((created.json["items"] as? [[String: Any]])?.last?["id"] as? Int)
        let client = stack.client, token = marcus.token
        // nginx alternates between the two processes: one long-poll waits on each.
        let polls = (0..<2).map { _ in
            inBackground { try client.request("GET", "/api/v1/workflows/\(id)/events?after=\(last)&wait=20", token: token) }
        }
        Thread.sleep(forTimeInterval: 0.5)
        let started = Date()
        #expect(try marcus.transition(id, to: "Running").status == 200)
        for poll in polls {
            let answer = try #require(poll())
            #expect(answer.status == 200, "\(answer)")
            let items = try #require(answer.json["items"] as? [[String: Any]])
            #expect(items.map { $0["type"] as? String } == ["StatusChanged"])
            #expect(items.first?["toStatus"] as? String == "Running")
        }
        #expect(Date().timeIntervalSince(started) < 2, "woken by the commit, not by the deadline")
    }

    @Test func aLongPollWithNothingNewAnswersAnEmptyPageWhenTheWaitRunsOut() throws {
        let stack = try Stack(name: "live-longpoll-empty")
        let marcus = try APIUser(stack, roles: ["Participant"])
        let id = try #require(marcus.create()["id"] as? String)
        let started = Date()
        let answer = try marcus.call("GET", "/api/v1/workflows/\(id)/events?after=999999&wait=1")
        let waited = Date().timeIntervalSince(started)
        #expect(answer.status == 200)
        #expect((answer.json["items"] as? [Any])?.isEmpty == true)
        #expect(waited >= 0.9 && waited < 3, "waited \(waited) s")
        // Existing events answer at once, as the plain listing does.
        let immediate = try marcus.call("GET", "/api/v1/workflows/\(id)/events?after=0&wait=30")
        #expect((immediate.json["items"] as? [Any])?.count == 1)
        #expect(isProblem(try marcus.call("GET", "/api/v1/workflows/\(id)/events?wait=31"), status: 400))
        let stranger = try APIUser(stack, roles: ["Participant"])
        #expect(isProblem(try stranger.call("GET", "/api/v1/workflows/\(id)/events?after=0&wait=1"), status: 404), "same visibility as the listing")
    }

    @Test func aStreamEndedByTheServerResumesWithLastEventIDWithoutLossOrDuplicates() throws {
        let stack = try Stack(name: "live-stream", environment: ["WORKFLOWD_STREAM_LIFETIME_SECONDS": "2", "WORKFLOWD_HEARTBEAT_SECONDS": "1"])
        let marcus = try APIUser(stack, roles: ["Participant"])
        let id = try #require(marcus.create()["id"] as? String)
        #expect(try marcus.transition(id, to: "Running").status == 200)
        let client = stack.client, token = marcus.token
        let first = inBackground { try client.request("GET", "/api/v1/workflows/\(id)/events/stream", token: token) }
        Thread.sleep(forTimeInterval: 0.3)
        #expect(try marcus.transition(id, to: "Paused").status == 200)
        let streamed = try #require(first())
        #expect(streamed.status == 200)
        #expect(streamed.header("content-type") == "text/event-stream")
        let (events, heartbeats) = sentEvents(streamed.text)
        #expect(events.map(\.type) == ["InstanceCreated", "StatusChanged", "StatusChanged"])
        #expect(events.last?.data["toStatus"] as? String == "Paused")
        #expect(heartbeats >= 1, "an idle stream sends heartbeats")
        // Changes while disconnected, then the reconnect EventSource makes.
        #expect(try marcus.transition(id, to: "Running").status == 200)
        let resumeAfter = events[1].id
        let second = inBackground {
            try client.request("GET", "/api/v1/workflows/\(id)/events/stream", headers: ["Last-Event-ID": "\(resumeAfter)"], token: token)
        }
        Thread.sleep(forTimeInterval: 0.3)
        #expect(try marcus.transition(id, to: "Completed").status == 200)
        let resumed = sentEvents(try #require(second()).text).events
        #expect(resumed.first?.id == events[2].id && resumed.count == 3, "\(resumed.map(\.id))")
        let all = try marcus.call("GET", "/api/v1/workflows/\(id)/events").json["items"] as? [[String: Any]] ?? []
        #expect(Array(events.prefix(2)).map(\.id) + resumed.map(\.id) == all.compactMap { $0["id"] as? Int }, "every event exactly once, in order")
    }

    @Test func aStreamEndsWhenItsTokenExpiresAndAReconnectWithItIsRefused() throws {
        let stack = try Stack(name: "live-expiry")
        let user = UUID()
        let marcus = try APIUser(stack, roles: ["Participant"], id: user)
        let id = try #require(marcus.create()["id"] as? String)
        // Within the verifier's 60 s leeway the token is accepted, but a stream ends at its exp.
        let shortLived = TestTokens.token(user: user, roles: ["Participant"], expiresIn: 2)
        let started = Date()
        let streamed = try stack.client.request("GET", "/api/v1/workflows/\(id)/events/stream", token: shortLived)
        let lasted = Date().timeIntervalSince(started)
        #expect(streamed.status == 200)
        #expect(sentEvents(streamed.text).events.count == 1)
        #expect(lasted >= 1 && lasted < 5, "ended after \(lasted) s")
        let expired = TestTokens.token(user: user, roles: ["Participant"], expiresIn: -120)
        #expect(isProblem(try stack.client.request("GET", "/api/v1/workflows/\(id)/events/stream", token: expired), status: 401))
    }

    @Test func aBrowserOpensAStreamWithATicketThatOpensNothingElse() throws {
        let stack = try Stack(name: "live-ticket", environment: ["WORKFLOWD_STREAM_LIFETIME_SECONDS": "1"])
        let marcus = try APIUser(stack, roles: ["Participant"])
        let id = try #require(marcus.create()["id"] as? String)
        let issued = try marcus.call("POST", "/api/v1/stream-tickets")
        #expect(issued.status == 201, "\(issued)")
        let ticket = try #require(issued.json["ticket"] as? String)
        let streamed = try stack.client.request("GET", "/api/v1/workflows/\(id)/events/stream?ticket=\(ticket)")
        #expect(streamed.status == 200)
        #expect(sentEvents(streamed.text).events.map(\.type) == ["InstanceCreated"])
        #expect(isProblem(try stack.client.request("GET", "/api/v1/workflows/\(id)?ticket=\(ticket)"), status: 401), "a ticket is no bearer token")
        #expect(isProblem(try stack.client.request("GET", "/api/v1/workflows/\(id)/events/stream", headers: ["Authorization": "Bearer \(ticket)"]), status: 401))
        let forged = String(ticket.dropLast(2)) + (ticket.hasSuffix("AA") ? "BB" : "AA")
        #expect(isProblem(try stack.client.request("GET", "/api/v1/workflows/\(id)/events/stream?ticket=\(forged)"), status: 401))
    }

    @Test func pastTheWaiterLimitALongPollIsAnswered503WithRetryAfter() throws {
        let stack = try Stack(name: "live-limit", environment: ["WORKFLOWD_MAX_WAITERS": "1"])
        let marcus = try APIUser(stack, roles: ["Participant"])
        let id = try #require(marcus.create()["id"] as? String)
        let client = stack.client, token = marcus.token
        let waiting = inBackground { try client.request("GET", "/api/v1/workflows/\(id)/events?after=1000000&wait=3", token: token) }
        Thread.sleep(forTimeInterval: 0.5)
        let refused = try marcus.call("GET", "/api/v1/workflows/\(id)/events?after=1000000&wait=3")
        #expect(isProblem(refused, status: 503), "\(refused)")
        #expect(refused.header("retry-after") != nil)
        #expect(refused.json["type"] as? String == "urn:workflowd:problem:too-many-waiters")
        #expect(try marcus.call("GET", "/api/v1/workflows/\(id)").status == 200, "ordinary requests are still served")
        #expect(waiting()?.status == 200)
    }

    @Test func waitersSurviveADatabaseRestartAndGetTheEventsCommittedAfterIt() throws {
        let cluster = try PostgresCluster.start(name: "live-restart")
        defer { cluster.destroy() }
        let database = try TestDatabase.create(baseURL: cluster.url)
        let stack = try Stack(name: "live-restart", environment: ["WORKFLOWD_STREAM_LIFETIME_SECONDS": "15"], databaseURL: database.url)
        let marcus = try APIUser(stack, roles: ["Participant"])
        let id = try #require(marcus.create()["id"] as? String)
        let created = try marcus.call("GET", "/api/v1/workflows/\(id)/events")
        let last = try #require((created.json["items"] as? [[String: Any]])?.last?["id"] as? Int)
        let client = stack.client, token = marcus.token
        let poll = inBackground { try client.request("GET", "/api/v1/workflows/\(id)/events?after=\(last)&wait=25", token: token) }
        let stream = inBackground { try client.request("GET", "/api/v1/workflows/\(id)/events/stream", token: token) }
        Thread.sleep(forTimeInterval: 0.5)
        try cluster.restart()
        // Committed while the listener may still be reconnecting, and without any notification at all:
        // only the re-check after the listener is back can find it.
        let direct = try database.connect()
        try direct.execute("SET session_replication_role = replica")
        try direct.query("""
            INSERT INTO workflow_events (workflow_instance_id, type, from_status, to_status, step, user_id)
            VALUES (\(UUID(uuidString: id)!), 'StatusChanged', 'Created', 'Running', 0, \(marcus.id))
            """)
        direct.close()
        let terminated = try database.scalar("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'workflowd-listener'")
        #expect(terminated == "1" || terminated == "0")
        let answer = try #require(poll())
        #expect(answer.status == 200, "\(answer)")
        #expect((answer.json["items"] as? [[String: Any]])?.first?["toStatus"] as? String == "Running")
        #expect(try marcus.transition(id, to: "Running").status == 200)
        let events = sentEvents(try #require(stream()).text).events
        #expect(events.map(\.type) == ["InstanceCreated", "StatusChanged", "StatusChanged"], "\(events.map(\.type))")
    }
}
