import Dispatch
import Foundation
import Logging
import Metrics
import Synchronization
import TextCoding
import WebhookClient
import WorkflowStore
import Workflows

/// The webhook delivery workers of this process: threads that claim due deliveries from the outbox,
/// POST them (signed) and record the outcome. Every workflowd process runs them; they share the work
/// through the claim (`FOR UPDATE SKIP LOCKED` plus a lease), so no delivery is sent by two at once, and a
/// delivery whose worker died is claimed again when its lease lapses.
///
/// Stopping is prompt: idle workers wake at once, a request in flight is aborted within about a second
/// (curl's progress callback asks), and deliveries claimed but not sent are handed back.
final class WebhookDeliveryJob: BackgroundJob {
    let name = "webhook_delivery"
    private let repository: PostgresWebhookRepository
    private let policy: DestinationPolicy
    private let workers: Int
    private let logger: Logger
    private let options: HTTPPoster.Options
    private let retry: WebhookRetryPolicy
    /// How long an idle worker waits before it looks for due deliveries again.
    private let idlePause: Duration
    private let batch: Int
    /// Longer than an attempt can take (the HTTP timeout plus the time to record), so a live worker
    /// never loses its claim.
    private let lease: Duration
    private let metrics = WebhookMetrics()
    private let started = Atomic(false)
    private let stopping = Atomic(false)
    private let wake = DispatchSemaphore(value: 0)
    private let running = DispatchGroup()

    init(
        repository: PostgresWebhookRepository, policy: DestinationPolicy, workers: Int, logger: Logger,
        options: HTTPPoster.Options = HTTPPoster.Options(), retry: WebhookRetryPolicy = WebhookRetryPolicy(),
        idlePause: Duration = .milliseconds(500), batch: Int = 8, lease: Duration = .seconds(60)
    ) {
        self.repository = repository
        self.policy = policy
        self.workers = workers
        self.logger = logger
        self.options = options
        self.retry = retry
        self.idlePause = idlePause
        self.batch = batch
        self.lease = lease
    }

    func start() {
        guard started.exchange(true, ordering: .acquiringAndReleasing) == false else { return }
        for index in 0..<workers {
            running.enter()
            let thread = Thread { @Sendable [self] in
                self.loop()
                self.running.leave()
            }
            thread.name = "webhook-\(index)"
            thread.start()
        }
    }

    func requestStop() {
        guard stopping.exchange(true, ordering: .acquiringAndReleasing) == false else { return }
        for _ in 0..<workers { wake.signal() }
    }

    func waitUntilStopped(deadline: ContinuousClock.Instant) -> Bool {
        running.wait(timeout: .now() + max(deadline - .now, .zero).dispatchInterval) == .success
    }

    private var isStopping: Bool { stopping.load(ordering: .acquiring) }

    private func loop() {
        let poster = HTTPPoster(policy: policy, options: options)
        while !isStopping {
            let claimed: [PostgresWebhookRepository.ClaimedDelivery]
            // The lease runs from the claiming statement's start (PostgreSQL's now()), which is no earlier
            // than this: a claim that was slow to return (a lock wait, a restart) leaves less lease to use.
            let claimStarted = ContinuousClock.now
            do {
                claimed = try repository.claimDueDeliveries(limit: batch, lease: lease)
            } catch {
                logger.warning("webhook claim failed", metadata: ["error": "\(error)"])
                _ = wake.wait(timeout: .now() + (idlePause * 4).dispatchInterval)
                continue
            }
            if claimed.isEmpty {
                _ = wake.wait(timeout: .now() + idlePause.dispatchInterval)
                continue
            }
            // A batch is sent one by one; an attempt may start only while its lease outlasts it, or a worker
            // that claimed it after the lease lapsed could be sending it at the same time.
            let latestStart = claimStarted + lease - options.timeout - .seconds(2)
            for (index, delivery) in claimed.enumerated() {
                guard !isStopping, ContinuousClock.now < latestStart else {
                    claimed[index...].forEach(handBack)
                    break
                }
                deliver(delivery, with: poster)
            }
        }
    }

    /// Gives a claimed delivery back to the others at once instead of at the end of its lease.
    private func handBack(_ delivery: PostgresWebhookRepository.ClaimedDelivery) {
        do { try repository.release(delivery) } catch {
            logger.warning("webhook lease not released; it lapses by itself", metadata: ["webhook.id": "\(delivery.id.lowercaseText)", "error": "\(error)"])
        }
    }

    private func deliver(_ delivery: PostgresWebhookRepository.ClaimedDelivery, with poster: HTTPPoster) {
        let body = Array(delivery.payload.utf8)
        let webhookId = delivery.id.lowercaseText
        let headers = WebhookSigner.headers(
            id: webhookId, timestamp: Int64(Date().timeIntervalSince1970), body: body, keys: delivery.secrets.compactMap(\.key))
        let result = poster.post(url: delivery.url, headers: headers, body: body) { [self] in isStopping }
        var metadata: Logger.Metadata = [
            "webhook.id": "\(webhookId)", "webhook.subscription_id": "\(delivery.subscriptionId.lowercaseText)",
            "webhook.attempt": "\(delivery.attempt)", "workflow_id": "\(delivery.workflowInstanceId.lowercaseText)",
            "event_id": "\(delivery.eventId)", "duration_ms": "\(result.durationNanoseconds / 1_000_000)",
        ]
        if result.failure == .cancelled {
            handBack(delivery)
            logger.info("webhook attempt abandoned: stopping", metadata: metadata)
            return
        }
        let error = Self.errorText(result)
        let attempt = PostgresWebhookRepository.AttemptResult(
            succeeded: result.succeeded, statusCode: result.statusCode, error: error,
            durationMilliseconds: Int(result.durationNanoseconds / 1_000_000), retryDelay: retry.delay(afterAttempt: delivery.attempt))
        metrics.record(subscription: delivery.subscriptionId, succeeded: result.succeeded, nanoseconds: result.durationNanoseconds)
        if let status = result.statusCode { metadata["status"] = "\(status)" }
        if let error { metadata["error"] = "\(error)" }
        metadata["outcome"] = "\(result.succeeded ? "succeeded" : "failed")"
        let recorded: PostgresWebhookRepository.Recorded
        do {
            recorded = try repository.record(delivery, attempt, policy: retry)
        } catch {
            // At least once: the lease lapses and the delivery is sent again.
            metadata["record_error"] = "\(error)"
            logger.warning("webhook attempt not recorded; it will be retried when its lease lapses", metadata: metadata)
            return
        }
        switch recorded.state {
        case nil:
            logger.warning("webhook attempt finished after its lease lapsed; another worker owns the delivery", metadata: metadata)
        case .failed?:
            metrics.gaveUp(subscription: delivery.subscriptionId)
            logger.warning("webhook delivery given up after its retry window; redeliver to try again", metadata: metadata)
        default:
            logger.info("webhook attempt", metadata: metadata)
        }
        if recorded.disabledSubscription {
            metrics.disabled(subscription: delivery.subscriptionId)
            logger.warning("webhook subscription disabled after continuous failures", metadata: metadata)
        }
    }

    /// What the delivery log keeps: the status and a short, printable excerpt of the answer, never the whole body.
    static func errorText(_ result: PostResult) -> String? {
        switch result.failure {
        case .refusedDestination(let why)?: return "refused: \(why)"
        case .timedOut?: return "timed out"
        case .cancelled?: return "cancelled"
        case .transport(let why)?: return why
        case nil:
            guard !result.succeeded else { return nil }
            let excerpt = String(decoding: result.bodyExcerpt.prefix(200), as: UTF8.self)
                .unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : String($0) }.joined()
            let status = result.statusCode.map { "HTTP \($0)" } ?? "no status"
            return excerpt.isEmpty ? status : "\(status): \(excerpt)"
        }
    }
}

/// `webhook_deliveries_{attempted,succeeded,failed,given_up}_total{subscription}`,
/// `webhook_subscriptions_disabled_total{subscription}` and `webhook_attempt_duration_seconds`.
final class WebhookMetrics: Sendable {
    private struct Handles {
        let attempted: Counter
        let succeeded: Counter
        let failed: Counter
    }

    private let handles = Mutex<[UUID: Handles]>([:])
    private let duration = Metrics.Timer(label: "webhook_attempt_duration_seconds")

    func record(subscription: UUID, succeeded: Bool, nanoseconds: Int64) {
        let found = handles.withLock { table in
            if let found = table[subscription] { return found }
            let label = [("subscription", subscription.lowercaseText)]
            let made = Handles(
                attempted: Counter(label: "webhook_deliveries_attempted_total", dimensions: label),
                succeeded: Counter(label: "webhook_deliveries_succeeded_total", dimensions: label),
                failed: Counter(label: "webhook_deliveries_failed_total", dimensions: label))
            table[subscription] = made
            return made
        }
        found.attempted.increment()
        (succeeded ? found.succeeded : found.failed).increment()
        duration.recordNanoseconds(nanoseconds)
    }

    func gaveUp(subscription: UUID) {
        Counter(label: "webhook_deliveries_given_up_total", dimensions: [("subscription", subscription.lowercaseText)]).increment()
    }

    func disabled(subscription: UUID) {
        Counter(label: "webhook_subscriptions_disabled_total", dimensions: [("subscription", subscription.lowercaseText)]).increment()
    }
}
