import Dispatch
import Foundation
import Locking
import Logging
import Metrics
import PostgresClient
import Synchronization
import TextCoding

/// Tells every workflowd process's listener which instances changed: `pg_notify(channel, payload)` on a
/// connection of its own, after the writes committed, coalescing whatever committed meanwhile into one
/// notification (payload: `instanceId/ownerId,…`, at most ~7,900 bytes each), at most one per 5 ms.
///
/// Why not NOTIFY inside the writing transaction (a trigger), which would make the notification atomic
/// with the change: PostgreSQL holds a global lock from a notifying transaction's pre-commit until its
/// commit record is flushed, so notifying writes commit one at a time. Measured here (bench/notify-cost.sh,
/// pgbench, fsync on): create and transition statements with a per-statement trigger ran at 6–31 % of
/// their throughput without it, at 16 and 64 connections. Here the writes never take that lock; this connection does, with
/// `synchronous_commit = off` (a notification is not data: nothing to flush), once per batch.
///
/// What this gives up: a process that dies between a commit and its notification leaves waiters elsewhere
/// unwoken until their own deadline, which re-reads the table (a long-poll's `wait`, a stream's lifetime,
/// after which the client resumes with `Last-Event-ID`): late, never lost. After a failed send it
/// notifies `*` (everyone looks again) once it is connected again.
///
/// Metrics: `workflowd_notifications_sent_total`, `workflowd_notify_failures_total`.
final class ChangeNotifier: BackgroundJob {
    let name = "change_notifier"
    static let maxPayloadBytes = 7_900
    /// At most one notification per interval: under a full write load the notifier would otherwise send
    /// back to back and contend for PostgreSQL's notify lock with nobody gaining. 5 ms of added wake
    /// latency at most, under load only (an idle notifier sends at once). Measured against the C responder
    /// (README, Performance): PostgreSQL's extra CPU per write 55–90 µs at 2 ms, 22–39 µs at 5 ms.
    static let minimumInterval = Duration.milliseconds(5)
    private let configuration: PostgresConfiguration
    private let channel: String
    private let logger: Logger
    private let pending = Locked<(changes: [Change], seen: Set<Change>, everyone: Bool)>(([], [], false))
    private let work = DispatchSemaphore(value: 0)
    private let stopping = Atomic(false)
    private let thread: JobThread
    private let sent: Counter
    private let failed: Counter

    init(configuration: PostgresConfiguration, channel: String, logger: Logger, metrics: any MetricsFactory = MetricsSystem.factory) {
        var configuration = configuration
        configuration.applicationName = "workflowd-notifier"
        self.configuration = configuration
        self.channel = channel
        self.logger = logger
        thread = JobThread(name: "change_notifier", logger: logger)
        sent = Counter(label: "workflowd_notifications_sent_total", factory: metrics)
        failed = Counter(label: "workflowd_notify_failures_total", factory: metrics)
    }

    /// Called after a change to `instanceId` (owned by `ownerId`) committed; returns at once.
    @Sendable func changed(instanceId: UUID, ownerId: UUID) {
        // Kept as ids: the text is written on the notifier's thread, not on the request's.
        let entry = Change(instanceId: instanceId, ownerId: ownerId)
        let first = pending.withLock { state -> Bool in
            guard state.seen.insert(entry).inserted else { return false }
            state.changes.append(entry)
            return state.changes.count == 1
        }
        if first { work.signal() }
    }

    /// One committed change: the instance and its owner (whose inbox and feed look again).
    struct Change: Hashable {
        let instanceId: UUID
        let ownerId: UUID
        /// `instanceId/ownerId`: 73 bytes, as the listener parses it.
        static let textCount = 73
        func append(to out: inout [UInt8]) {
            instanceId.appendLowercaseText(to: &out)
            out.append(UInt8(ascii: "/"))
            ownerId.appendLowercaseText(to: &out)
        }
    }

    func start() { thread.start { [self] in loop() } }

    func requestStop() {
        if stopping.exchange(true, ordering: .acquiringAndReleasing) == false { work.signal() }
    }

    func waitUntilStopped(deadline: ContinuousClock.Instant) -> Bool { thread.wait(until: deadline) }

    /// Payloads of at most `maxPayloadBytes`, in the order the changes came: the changes' text written as
    /// bytes into one buffer per payload (a `String` per id and per join cost the notifier's thread ~2 k
    /// instructions a change; bench/instructions.sh).
    static func payloads(_ changes: [Change]) -> [String] {
        var result: [String] = []
        var current: [UInt8] = []
        current.reserveCapacity(min(maxPayloadBytes, changes.count * (Change.textCount + 1)))
        for change in changes {
            if !current.isEmpty, current.count + 1 + Change.textCount > maxPayloadBytes {
                result.append(String(decoding: current, as: UTF8.self))
                current.removeAll(keepingCapacity: true)
            }
            if !current.isEmpty { current.append(UInt8(ascii: ",")) }
            change.append(to: &current)
        }
        if !current.isEmpty { result.append(String(decoding: current, as: UTF8.self)) }
        return result
    }

    private func loop() {
        var connection: PostgresConnection?
        var lastSend = ContinuousClock.now - Self.minimumInterval
        while true {
            // Woken by the first change after a send, or by stop; a timeout re-tries after a failure.
            _ = work.wait(timeout: .now() + .milliseconds(500))
            let since = ContinuousClock.now - lastSend
            if since < Self.minimumInterval { Thread.sleep(forTimeInterval: Double((Self.minimumInterval - since) / .microseconds(1)) / 1e6) }
            lastSend = .now
            let batch = pending.withLock { state -> (changes: [Change], everyone: Bool) in
                // The set keeps its capacity: the next batch is about as large (a new one regrew per batch).
                defer { state.changes = []; state.seen.removeAll(keepingCapacity: true); state.everyone = false }
                return (state.changes, state.everyone)
            }
            let payloads = batch.everyone ? ["*"] : Self.payloads(batch.changes)
            if !payloads.isEmpty {
                do {
                    if connection == nil {
                        let opened = try PostgresConnection(configuration: configuration)
                        try opened.execute("SET synchronous_commit = off")
                        connection = opened
                    }
                    for payload in payloads {
                        try connection!.query("SELECT pg_notify(\(channel), \(payload))")
                        sent.increment()
                    }
                } catch {
                    failed.increment()
                    logger.warning("sending change notifications failed; waiters will be told to look again", metadata: ["error": "\(error)"])
                    connection?.close()
                    connection = nil
                    pending.withLock { $0.everyone = true }
                }
            }
            if stopping.load(ordering: .acquiring) { break }
        }
        connection?.close()
    }
}
