import Dispatch
import Foundation
import PostgresClient
import Synchronization
import TestSupport
import Testing

/// One feed event as a test reads it: the SSE id is an opaque feed position.
struct FeedEvent {
    let position: String
    let type: String
    let data: [String: Any]
    var id: Int { data["id"] as? Int ?? 0 }
    var instance: String { data["workflowInstanceId"] as? String ?? "" }
}

func feedEvents(_ text: String) -> [FeedEvent] {
    text.components(separatedBy: "\n\n").compactMap { block in
        var position: String?, type: String?, data: [String: Any]?
        for line in block.split(separator: "\n") {
            if line.hasPrefix("id: ") { position = String(line.dropFirst(4)) }
            if line.hasPrefix("event: ") { type = String(line.dropFirst(7)) }
            if line.hasPrefix("data: ") {
                data = (try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8))) as? [String: Any]
            }
        }
        guard let position, let type, let data else { return nil }
        return FeedEvent(position: position, type: type, data: data)
    }
}

/// A stack on a PostgreSQL cluster of its own: the feed serves events below the cluster's oldest running
/// writer, in any database, and a test elsewhere holding a row lock for seconds would hold the feed back.
func feedStack(name: String, responders: Int, environment: [String: String] = [:]) throws -> (Stack, PostgresCluster) {
    let cluster = try PostgresCluster.start(name: name)
    do {
        let database = try TestDatabase.create(migrated: false, baseURL: cluster.url)
        return (try Stack(name: name, responders: responders, environment: environment, databaseURL: database.url), cluster)
    } catch {
        cluster.destroy()
        throw error
    }
}

@Suite(requiresStack)
struct LiveFeedEndToEndTests {
    @Test func theFeedStreamCarriesTheCallersInstancesPastALateCommitAndResumesAcrossACutWithoutLossOrDuplicates() throws {
        let (stack, cluster) = try feedStack(
            name: "live-feed", responders: 2, environment: ["WORKFLOWD_STREAM_LIFETIME_SECONDS": "3", "WORKFLOWD_HEARTBEAT_SECONDS": "1"])
        defer { stack.stop(); cluster.destroy() }
        let marcus = try APIUser(stack, roles: ["Participant"])
        let stranger = try APIUser(stack, roles: ["Participant"])
        let a = try #require(marcus.create()["id"] as? String)
        let b = try #require(marcus.create()["id"] as? String)
        let c = try #require(stranger.create()["id"] as? String)
        let client = stack.client, token = marcus.token
        let first = inBackground { try client.request("GET", "/api/v1/events/stream", token: token) }
        Thread.sleep(forTimeInterval: 0.5)
        // A transaction takes an event id for B and stays open while A's later id commits.
        let held = try stack.database.connect()
        defer { held.close() }
        try held.execute("BEGIN")
        try held.query("""
            INSERT INTO workflow_events (workflow_instance_id, type, from_status, to_status, step, user_id)
            VALUES (\(UUID(uuidString: b)!), 'StatusChanged', 'Created', 'Running', 1, \(marcus.id))
            """)
        #expect(try marcus.transition(a, to: "Running").status == 200)
        #expect(try stranger.transition(c, to: "Running").status == 200)
        Thread.sleep(forTimeInterval: 0.5)
        // Committed without any notification: the waiter that saw A's event held back looks again by itself.
        try held.execute("COMMIT")
        let streamed = try #require(first())
        #expect(streamed.status == 200 && streamed.header("content-type") == "text/event-stream")
        let events = feedEvents(streamed.text).filter { $0.type != "InstanceCreated" }
        #expect(events.map(\.instance) == [b, a], "the late commit is delivered, before the event that waited for it")
        #expect(!feedEvents(streamed.text).contains { $0.instance == c }, "another user's instance is not in the feed")

        // Cut (the server ended the stream), changes meanwhile, then the reconnect EventSource makes.
        #expect(try marcus.transition(a, to: "Paused").status == 200)
        let resumeAfter = try #require(events.last?.position)
        let second = inBackground {
            try client.request("GET", "/api/v1/events/stream", headers: ["Last-Event-ID": resumeAfter], token: token)
        }
        Thread.sleep(forTimeInterval: 0.5)
        #expect(try marcus.transition(a, to: "Running").status == 200)
        let resumed = feedEvents(try #require(second()).text)
        #expect(resumed.map(\.type) == ["StatusChanged", "StatusChanged"])
        #expect(resumed.map { $0.data["toStatus"] as? String } == ["Paused", "Running"])
        var listed: [Int] = []
        for id in [a, b] {
            let items = try marcus.call("GET", "/api/v1/workflows/\(id)/events").json["items"] as? [[String: Any]] ?? []
            listed += items.filter { $0["type"] as? String != "InstanceCreated" }.compactMap { $0["id"] as? Int }
        }
        let delivered = (events + resumed).map(\.id)
        #expect(delivered.sorted() == listed.sorted(), "every event of the caller's instances exactly once")
        for id in [a, b] {
            let mine = (events + resumed).filter { $0.instance == id }.map(\.id)
            #expect(mine == mine.sorted(), "each instance's events in id order")
        }
    }

    @Test func aFeedLongPollIsAnsweredByAChangeMadeThroughAnotherProcess() throws {
        let (stack, cluster) = try feedStack(name: "live-feed-poll", responders: 2)
        defer { stack.stop(); cluster.destroy() }
        let marcus = try APIUser(stack, roles: ["Participant"])
        let now = try marcus.call("GET", "/api/v1/events")
        #expect(now.status == 200 && (now.json["items"] as? [Any])?.isEmpty == true)
        let cursor = try #require(now.json["nextCursor"] as? String)
        let client = stack.client, token = marcus.token
        // nginx alternates between the two processes: one long-poll waits on each.
        let polls = (0..<2).map { _ in
            inBackground { try client.request("GET", "/api/v1/events?after=\(cursor)&wait=20", token: token) }
        }
        Thread.sleep(forTimeInterval: 0.5)
        let started = Date()
        let id = try #require(marcus.create()["id"] as? String)
        for poll in polls {
            let answer = try #require(poll())
            #expect(answer.status == 200, "\(answer)")
            let items = try #require(answer.json["items"] as? [[String: Any]])
            #expect(items.map { $0["workflowInstanceId"] as? String } == [id])
            #expect(answer.json["nextCursor"] is String)
        }
        #expect(Date().timeIntervalSince(started) < 2, "woken by the commit, not by the deadline")
    }

    @Test func aStreamClientThatGoesAwayFreesItsWaiterSlot() throws {
        let stack = try Stack(name: "live-gone", environment: ["WORKFLOWD_MAX_WAITERS": "1"])
        let marcus = try APIUser(stack, roles: ["Participant"])
        let id = try #require(marcus.create()["id"] as? String)
        // curl holds the only slot with a stream for a second, then hangs up (nginx closes its FastCGI side).
        let url = "http://127.0.0.1:\(stack.nginx.port)/api/v1/workflows/\(id)/events/stream"
        let client = stack.client, token = marcus.token
        let output = Mutex<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let result = try? Shell.run(["curl", "-sN", "--max-time", "1", "-H", "Authorization: Bearer \(token)", url], check: false)
            output.withLock { $0 = result?.output }
            done.signal()
        }
        Thread.sleep(forTimeInterval: 0.5)
        let refused = try marcus.call("GET", "/api/v1/workflows/\(id)/events?after=1000000&wait=1")
        #expect(isProblem(refused, status: 503), "the stream holds the only slot: \(refused)")
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(output.withLock { $0 }?.contains("event: InstanceCreated") == true, "the stream was open until curl hung up")
        // The slot is freed once workflowd notices the hang-up (its watcher polls every 100 ms).
        var answered: HTTPResult?
        for _ in 0..<20 {
            let poll = try client.request("GET", "/api/v1/workflows/\(id)/events?after=1000000&wait=1", token: token)
            if poll.status == 200 {
                answered = poll
                break
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(answered?.status == 200, "a long-poll under the limit is accepted again")
    }
}
