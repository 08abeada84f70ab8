import Foundation
import PostgresClient
import TestSupport
import Testing
import WebhookClient

/// Webhook delivery end to end: real workflowd processes, PostgreSQL and a receiver on loopback
/// (scripts/webhook-receiver.py) that fails on purpose.
@Suite(requiresStack, .enabled(if: WebhookReceiver.isAvailable, "python3 is missing"))
struct WebhookDeliveryTests {
    /// Loopback allowed for exactly the receiver's address; short first retries and leases so the test is quick.
    static let environment = [
        "WORKFLOWD_WEBHOOK_ALLOW": "127.0.0.1/32", "WORKFLOWD_WEBHOOK_FIRST_RETRY_MS": "200",
        "WORKFLOWD_WEBHOOK_LEASE_SECONDS": "15",
    ]

    func subscribe(_ admin: APIUser, url: String) throws -> (id: String, key: [UInt8]) {
        let created = try admin.call("POST", "/api/v1/webhooks", json: ["url": url])
        #expect(created.status == 201, "\(created)")
        let secret = try #require(created.json["secret"] as? String)
        let key = try #require(Data(base64Encoded: String(secret.dropFirst("whsec_".count))))
        return (try #require(created.json["id"] as? String), Array(key))
    }

    func scalar(_ database: TestDatabase, _ query: PostgresQuery) -> String? { try? database.scalar(query) }

    /// The subscription's newest delivery as the API lists it (empty when there is none yet).
    func latestDelivery(_ admin: APIUser, _ webhookId: String) -> [String: Any] {
        ((try? admin.call("GET", "/api/v1/webhooks/\(webhookId)/deliveries"))?.json["items"] as? [[String: Any]])?.first ?? [:]
    }

    /// Polls until `condition` holds, at most `seconds`.
    func waitUntil(_ seconds: TimeInterval, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return condition()
    }

    @Test func everyEventArrivesAtLeastOnceSignedAndInOrderThroughAStormAndADatabaseRestart() throws {
        let cluster = try PostgresCluster.start(name: "webhook-storm")
        defer { cluster.destroy() }
        let database = try TestDatabase.create(baseURL: cluster.url)
        let stack = try Stack(name: "webhook-storm", responders: 2, environment: Self.environment, databaseURL: database.url)
        var receiver = try WebhookReceiver(["--fail-rate", "0.3", "--drop-rate", "0.1", "--hang-rate", "0.03", "--hang-seconds", "11"])
        defer { receiver.stop() }
        let admin = try APIUser(stack, roles: ["Admin"])
        let (_, key) = try subscribe(admin, url: "http://127.0.0.1:\(receiver.port)/hook")

        // 8 instances × 4 events (created, Running, Paused, Running), written from 4 threads.
        let ids = (0..<8).compactMap { _ in try? admin.create()["id"] as? String }
        #expect(ids.count == 8)
        DispatchQueue.concurrentPerform(iterations: 4) { part in
            for id in ids[(part * 2)..<(part * 2 + 2)] {
                for status in ["Running", "Paused", "Running"] { _ = try? admin.transition(id, to: status) }
            }
        }
        // Refused connections for a while, then the same port again.
        let port = receiver.port
        receiver.stop()
        // Killing the receiver closed its connections: a request it was hanging on ended here, not at the
        // sender's timeout, and may be sent again at once (seen in CI: a retry 4 s into a "hang").
        let firstReceiverStopped = Date().timeIntervalSince1970
        Thread.sleep(forTimeInterval: 1.5)
        receiver = try WebhookReceiver(["--fail-rate", "0.3", "--drop-rate", "0.1", "--seed", "7"], port: port, logPath: receiver.logPath)
        // PostgreSQL restarted mid-stream.
        try cluster.restart()

        let total = 32
        #expect(scalar(database, "SELECT count(*) FROM workflow_events") == String(total))
        let delivered = waitUntil(150) {
            scalar(database, "SELECT count(*) FROM webhook_deliveries WHERE state = 'succeeded'") == String(total)
        }
        #expect(delivered, "succeeded: \(scalar(database, "SELECT count(*) FROM webhook_deliveries WHERE state = 'succeeded'") ?? "?") of \(total)")

        let requests = receiver.settledRequests()
        struct Attempt {
            let id: String
            let event: Int
            let instance: String
            let status: Int
            let received: Double
            let answered: Double?
        }
        var attempts: [Attempt] = []
        for request in requests {
            let body = try #require(request["body"] as? String)
            let id = try #require(request["id"] as? String)
            let timestamp = try #require(Int64(request["timestamp"] as? String ?? ""))
            let signature = try #require(request["signature"] as? String)
            #expect(WebhookSigner.verify(header: signature, id: id, timestamp: timestamp, body: Array(body.utf8), key: key), "\(request)")
            let event = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
            attempts.append(Attempt(
                id: id, event: try #require(event["id"] as? Int), instance: try #require(event["workflowInstanceId"] as? String),
                status: request["status"] as? Int ?? 0, received: request["received"] as? Double ?? 0, answered: request["answered"] as? Double))
        }
        // It was a storm: 500s, dropped connections and hangs (timeouts) all happened.
        #expect(Set(attempts.map(\.status)).isSuperset(of: [500, 200, 0]), "\(Set(attempts.map(\.status)))")
        // Every event at least once with a 2xx; every attempt of one event under one webhook-id.
        let events = Dictionary(grouping: attempts, by: \.event)
        #expect(events.count == total)
        for (event, tries) in events {
            #expect(tries.contains { $0.status == 200 }, "event \(event) never answered 200")
            #expect(Set(tries.map(\.id)).count == 1, "event \(event) had several webhook-ids")
            // Never two attempts of one delivery at once: each begins after the previous one ended.
            let sorted = tries.sorted { $0.received < $1.received }
            for (previous, next) in zip(sorted, sorted.dropFirst()) {
                // The sender gives up after 10 s, whenever a hung receiver gets round to answering.
                var ended = min(previous.answered ?? (previous.received + (previous.status == -1 ? 9.5 : 0)), previous.received + 9.5)
                if previous.received < firstReceiverStopped { ended = min(ended, firstReceiverStopped) }
                #expect(next.received >= ended - 0.05, "event \(event): attempts overlap")
            }
        }
        // Per instance, no event is sent before the previous event was answered with a 2xx.
        for (instance, tries) in Dictionary(grouping: attempts, by: \.instance) {
            let successes = Dictionary(grouping: tries.filter { $0.status == 200 }, by: \.event).mapValues { $0.map(\.received).min()! }
            for attempt in tries {
                for (earlier, succeeded) in successes where earlier < attempt.event {
                    #expect(attempt.received >= succeeded, "instance \(instance): event \(attempt.event) sent before \(earlier) succeeded")
                }
            }
        }
        withExtendedLifetime(stack) {}
    }

    @Test func aDeliveryWhoseProcessWasKilledMidAttemptIsSentByAnotherProcess() throws {
        let receiver = try WebhookReceiver(["--hang-first", "1", "--hang-seconds", "30"])
        defer { receiver.stop() }
        let stack = try Stack(name: "webhook-kill", environment: Self.environment)
        let admin = try APIUser(stack, roles: ["Admin"])
        _ = try subscribe(admin, url: "http://127.0.0.1:\(receiver.port)/hook")
        _ = try admin.create()
        #expect(waitUntil(20) { receiver.requests().count == 1 }, "the first attempt never arrived")
        let second = try WorkflowdProcess.start(
            directory: stack.directory, socketPath: "\(stack.directory)/second.sock", environment: Self.environment, name: "second")
        defer { second.stop() }
        stack.responders[0].signal(SIGKILL)
        #expect(waitUntil(40) { receiver.requests().contains { $0["status"] as? Int == 200 } }, "\(receiver.requests())")
        let requests = receiver.settledRequests()
        #expect(requests.count == 2)
        #expect(Set(requests.compactMap { $0["id"] as? String }).count == 1, "a retry keeps its webhook-id")
        #expect(second.log.contains("\"webhook attempt\"") || second.log.contains("webhook attempt"))
        #expect(try stack.database.scalar("SELECT state || ' ' || attempts FROM webhook_deliveries") == "succeeded 2")
    }

    @Test func loopbackIsRefusedByDefaultAndTheRefusalIsVisible() throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let stack = try Stack(name: "webhook-refused")
        let admin = try APIUser(stack, roles: ["Admin"])
        let (id, _) = try subscribe(admin, url: "http://127.0.0.1:\(receiver.port)/hook")
        _ = try admin.create()
        var last: [String: Any] = [:]
        let refused = waitUntil(20) {
            last = latestDelivery(admin, id)
            return (last["lastError"] as? String)?.contains("refused") == true
        }
        #expect(refused, "\(last)")
        #expect(last["state"] as? String == "pending")
        #expect(receiver.requests().isEmpty)
    }

    /// `WORKFLOWD_WEBHOOK_ALLOW=127.0.0.1/32` (as in `make run`) opens exactly that address: the rest of
    /// loopback stays refused, on the address curl would connect to.
    @Test func anAllowedAddressOpensOnlyThatAddressOfLoopback() throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let stack = try Stack(name: "webhook-allow", environment: Self.environment)
        let admin = try APIUser(stack, roles: ["Admin"])
        let (allowed, _) = try subscribe(admin, url: "http://127.0.0.1:\(receiver.port)/hook")
        let (other, _) = try subscribe(admin, url: "http://127.0.0.2:\(receiver.port)/hook")
        _ = try admin.create()
        #expect(waitUntil(20) { latestDelivery(admin, allowed)["state"] as? String == "succeeded" }, "\(latestDelivery(admin, allowed))")
        #expect(waitUntil(20) { (latestDelivery(admin, other)["lastError"] as? String)?.hasPrefix("refused") == true },
                "\(latestDelivery(admin, other))")
        #expect(receiver.requests().count == 1)
    }

    @Test func aRedirectIsNotFollowed() throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let stack = try Stack(name: "webhook-redirect", environment: Self.environment)
        let admin = try APIUser(stack, roles: ["Admin"])
        let (id, _) = try subscribe(admin, url: "http://127.0.0.1:\(receiver.port)/redirect")
        _ = try admin.create()
        var last: [String: Any] = [:]
        let answered = waitUntil(20) {
            last = latestDelivery(admin, id)
            return last["lastStatusCode"] as? Int == 302
        }
        #expect(answered, "\(last)")
        #expect(last["state"] as? String == "pending", "a 3xx is a failed attempt")
        #expect(receiver.requests().allSatisfy { $0["path"] as? String == "/redirect" })
        // Redeliver: due again at once, same id.
        let deliveryId = try #require(last["id"] as? String)
        let again = try admin.call("POST", "/api/v1/webhooks/\(id)/deliveries/\(deliveryId)/redeliver")
        #expect(again.status == 202 && again.json["id"] as? String == deliveryId)
    }
}
