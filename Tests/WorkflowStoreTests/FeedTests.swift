import Foundation
import Logging
import PostgresClient
import Synchronization
import TestSupport
import Testing
import Workflows
@testable import WorkflowStore

/// The feed's promise against a real PostgreSQL: an event whose transaction commits late is still
/// delivered, nothing is delivered twice, and each instance's events keep their order.
///
/// The feed's horizon is the cluster's oldest running writer, in any database: a test elsewhere holding a
/// row lock for seconds (the fault tests do) would hold these events back for as long. So each test
/// here runs on a cluster of its own (about a second to start), where only its own transactions count.
@Suite(.enabled(if: TestEnvironment.hasStack, Comment(rawValue: TestEnvironment.skipReason)))
final class FeedTests: Sendable {
    let cluster: PostgresCluster
    let store: PostgresWorkflowRepositoryTests
    var repository: PostgresWorkflowRepository { store.repository }
    var user: UUID { store.user }

    init() throws {
        cluster = try PostgresCluster.start(name: "feed")
        do {
            store = try PostgresWorkflowRepositoryTests(baseURL: cluster.url)
        } catch {
            cluster.destroy()
            throw error
        }
    }

    deinit { cluster.destroy() }

    func create() throws -> WorkflowInstance { try store.create() }

    func transition(_ id: UUID, to target: WorkflowStatus, from: [WorkflowStatus]) throws -> ChangeOutcome {
        // Conditions as the service builds them for these plain moves.
        try repository.transition(ConditionalTransition(
            instanceId: id, target: target, allowedFrom: from, firstStepFrom: [.created], ownerId: user, expectedVersion: nil,
            reason: nil, actorId: user))
    }

    /// The events of `instances` after `position`, page by page as a client resuming each time would get
    /// them, once `count` of them arrived (or 30 s passed), and whatever else arrived with them.
    func read(
        after position: FeedPosition, of instances: [UUID], count: Int = 0
    ) throws -> [(event: WorkflowEvent, position: FeedPosition)] {
        var all: [(event: WorkflowEvent, position: FeedPosition)] = []
        var position = position
        let until = Date().addingTimeInterval(30)
        while true {
            let slice = try repository.feed(FeedQuery(after: position, ownerId: nil, approverId: nil, scanLimit: 7))
            all += slice.items.filter { instances.contains($0.event.instanceId) }.map { ($0.event, $0.position) }
            position = slice.scannedTo ?? position
            if slice.more { continue }
            if all.count >= count || Date() > until { return all }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    @Test func anEventWhoseTransactionCommitsLateIsDeliveredAfterItOnceAndNothingTwice() throws {
        let early = try create()
        let late = try create()
        let start = try repository.feedStart()
        // A transaction takes an event id, then stays open while a later id commits.
        let held = try store.database.connect()
        defer { held.close() }
        try held.execute("BEGIN")
        try held.query("""
            INSERT INTO workflow_events (workflow_instance_id, type, from_status, to_status, step, user_id)
            VALUES (\(late.id), 'StatusChanged', 'Created', 'Running', 1, \(user))
            """)
        let lateId = try #require(try held.query("SELECT max(id) FROM workflow_events").first.map { try $0.int64(0) })
        guard case .applied = try transition(early.id, to: .running, from: [.created]) else {
            Issue.record("the transition applies")
            return
        }
        let committed = try repository.events(instanceId: early.id, afterId: nil, limit: 10).last!
        #expect(committed.id > lateId, "the later id commits first")

        // Reading by "id > the last one seen" would hand out the later id now and skip the earlier one for good.
        let whileOpen = try repository.feed(FeedQuery(after: start, ownerId: nil, approverId: nil, scanLimit: 100))
        #expect(!whileOpen.items.contains { $0.event.type != .instanceCreated }, "nothing past a transaction that may still write before it")
        #expect(whileOpen.heldBack, "the committed event waits behind the open transaction: look again soon")

        try held.execute("COMMIT")
        let ours = [early.id, late.id]
        // "Now" may include what committed moments before it, behind another transaction: only the two
        // events written after the instances' creation are in question here.
        let delivered = try read(after: start, of: ours, count: 2).filter { $0.event.type != .instanceCreated }
        #expect(delivered.map(\.event.id) == [lateId, committed.id])
        #expect(delivered.map(\.event.instanceId) == [late.id, early.id])
        #expect(zip(delivered, delivered.dropFirst()).allSatisfy { $0.position < $1.position }, "positions only grow")
        guard delivered.count == 2 else { return }
        #expect(try read(after: delivered[0].position, of: ours, count: 1).map(\.event.id) == [committed.id], "resuming after a position")
        #expect(try read(after: delivered[1].position, of: ours).isEmpty, "nothing twice")
    }

    @Test func concurrentWritersKeepEachInstancesOrderAndTheFeedCarriesEveryEventOnce() throws {
        let instances = try (0..<3).map { _ in try create() }
        let start = try repository.feedStart()
        for instance in instances { _ = try transition(instance.id, to: .running, from: [.created]) }
        // Eight writers pause and resume the same three instances at once; many of their writes collide,
        // and the writers that wait for an instance's lock take their transaction ids in any order.
        let threads = (0..<8).map { n in
            Thread.detachNewThreadWithResult {
                for round in 0..<15 {
                    let instance = instances[(n + round) % instances.count]
                    _ = try? self.transition(instance.id, to: .paused, from: [.running])
                    _ = try? self.transition(instance.id, to: .running, from: [.paused])
                }
            }
        }
        threads.forEach { $0() }
        var listed: [WorkflowEvent] = []
        for instance in instances {
            listed += try repository.events(instanceId: instance.id, afterId: nil, limit: 1000).filter { $0.type != .instanceCreated }
        }
        let fed = try read(after: start, of: instances.map(\.id), count: listed.count).filter { $0.event.type != .instanceCreated }
        for instance in instances {
            let events = listed.filter { $0.instanceId == instance.id }
            let inFeed = fed.map(\.event).filter { $0.instanceId == instance.id }
            #expect(inFeed.map(\.id) == events.map(\.id), "the instance's events, in id order, each once")
        }
        #expect(fed.count == listed.count)
        #expect(Set(fed.map(\.event.id)).count == fed.count)
    }
}

extension Thread {
    /// Runs `body` on a new thread; the returned function waits for it and returns its result.
    static func detachNewThreadWithResult<T: Sendable>(_ body: @escaping @Sendable () -> T) -> () -> T {
        let result = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            result.withLock { $0 = body() }
            done.signal()
        }
        return {
            done.wait()
            return result.withLock { $0! }
        }
    }
}
