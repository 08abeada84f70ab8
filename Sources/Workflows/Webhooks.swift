#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
import TextCoding

/// A subscriber's endpoint and the events it wants. The signing secret is not part of it: it is shown
/// once, when created or rotated (`WebhookSecret`), and never read back through the API.
public struct WebhookSubscription: Sendable, Hashable {
    public let id: UUID
    public var url: String
    /// nil: every event type.
    public var eventTypes: [WorkflowEventType]?
    /// nil: every workflow instance.
    public var workflowIds: [UUID]?
    public var description: String
    public var active: Bool
    /// Set when workflowd switched the subscription off itself after continuous failures.
    public var disabledReason: String?
    public var consecutiveFailures: Int
    /// Until then the secret before the last rotation still signs (a second `v1,` signature).
    public var previousSecretExpiresAt: Timestamp?
    public let createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(
        id: UUID, url: String, eventTypes: [WorkflowEventType]?, workflowIds: [UUID]?, description: String, active: Bool,
        disabledReason: String?, consecutiveFailures: Int, previousSecretExpiresAt: Timestamp?, createdAt: Timestamp,
        updatedAt: Timestamp
    ) {
        self.id = id
        self.url = url
        self.eventTypes = eventTypes
        self.workflowIds = workflowIds
        self.description = description
        self.active = active
        self.disabledReason = disabledReason
        self.consecutiveFailures = consecutiveFailures
        self.previousSecretExpiresAt = previousSecretExpiresAt
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A signing secret in the Standard Webhooks form: `whsec_` + base64 of 32 random bytes. The HMAC key is
/// the decoded bytes.
public struct WebhookSecret: Sendable, Hashable {
    public let text: String

    public init(text: String) { self.text = text }

    public static func random() -> WebhookSecret {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return WebhookSecret(text: "whsec_" + Data(bytes).base64EncodedString())
    }

    /// The HMAC key; nil for text that is not a secret of this form.
    public var key: [UInt8]? {
        guard text.hasPrefix("whsec_"), let data = Data(base64Encoded: String(text.dropFirst(6))) else { return nil }
        return Array(data)
    }
}

/// What a create asks for (already validated by the API).
public struct NewWebhookSubscription: Sendable, Hashable {
    public let id: UUID
    public let url: String
    public let eventTypes: [WorkflowEventType]?
    public let workflowIds: [UUID]?
    public let description: String
    public let secret: WebhookSecret

    public init(id: UUID, url: String, eventTypes: [WorkflowEventType]?, workflowIds: [UUID]?, description: String, secret: WebhookSecret) {
        self.id = id
        self.url = url
        self.eventTypes = eventTypes
        self.workflowIds = workflowIds
        self.description = description
        self.secret = secret
    }
}

/// A partial update: nil leaves a member as it is; `.some(nil)` for the filters means "all".
public struct WebhookSubscriptionChange: Sendable, Hashable {
    public var url: String?
    public var eventTypes: [WorkflowEventType]??
    public var workflowIds: [UUID]??
    public var description: String?
    public var active: Bool?

    public init(
        url: String? = nil, eventTypes: [WorkflowEventType]?? = nil, workflowIds: [UUID]?? = nil, description: String? = nil,
        active: Bool? = nil
    ) {
        self.url = url
        self.eventTypes = eventTypes
        self.workflowIds = workflowIds
        self.description = description
        self.active = active
    }
}

/// One event on its way to one subscriber, with the outcome of its latest attempt.
public struct WebhookDelivery: Sendable, Hashable {
    public enum State: String, Sendable, CaseIterable {
        /// Not yet delivered; retried until `retryUntil`.
        case pending
        /// A 2xx answered it.
        case succeeded
        /// Retries ran out; `redeliver` starts again.
        case failed
    }

    /// Also the `webhook-id` header: the same on every attempt of this delivery.
    public let id: UUID
    public let subscriptionId: UUID
    public let eventId: Int64
    public let eventType: WorkflowEventType?
    public let workflowInstanceId: UUID
    public var state: State
    public var attempts: Int
    /// When a pending delivery is tried next.
    public var nextAttemptAt: Timestamp?
    public var lastAttemptAt: Timestamp?
    public var lastStatusCode: Int?
    public var lastError: String?
    public var lastDurationMilliseconds: Int?
    public let createdAt: Timestamp
    public var completedAt: Timestamp?

    public init(
        id: UUID, subscriptionId: UUID, eventId: Int64, eventType: WorkflowEventType?, workflowInstanceId: UUID, state: State,
        attempts: Int, nextAttemptAt: Timestamp?, lastAttemptAt: Timestamp?, lastStatusCode: Int?, lastError: String?,
        lastDurationMilliseconds: Int?, createdAt: Timestamp, completedAt: Timestamp?
    ) {
        self.id = id
        self.subscriptionId = subscriptionId
        self.eventId = eventId
        self.eventType = eventType
        self.workflowInstanceId = workflowInstanceId
        self.state = state
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.lastAttemptAt = lastAttemptAt
        self.lastStatusCode = lastStatusCode
        self.lastError = lastError
        self.lastDurationMilliseconds = lastDurationMilliseconds
        self.createdAt = createdAt
        self.completedAt = completedAt
    }
}

/// Storage of subscriptions and their deliveries (the Admin's side; the delivery workers have their own).
public protocol WebhookRepository: Sendable {
    func createSubscription(_ new: NewWebhookSubscription) throws -> WebhookSubscription
    func subscriptions() throws -> [WebhookSubscription]
    func subscription(id: UUID) throws -> WebhookSubscription?
    /// nil: no such subscription. Activating clears the failure count and the reason it was disabled.
    func updateSubscription(id: UUID, _ change: WebhookSubscriptionChange) throws -> WebhookSubscription?
    func deleteSubscription(id: UUID) throws -> Bool
    /// Replaces the secret; the old one keeps signing for `grace`. nil: no such subscription.
    func rotateSecret(id: UUID, to secret: WebhookSecret, grace: Duration) throws -> WebhookSubscription?
    /// Newest event first; nil: no such subscription.
    func deliveries(subscriptionId: UUID, limit: Int) throws -> [WebhookDelivery]?
    /// Makes the delivery pending and due now, with a fresh retry window; nil: no such delivery.
    func redeliver(subscriptionId: UUID, deliveryId: UUID) throws -> WebhookDelivery?
}

/// When a delivery is tried again, when it is given up, and when a subscription is switched off. Pure,
/// so the schedule is tested without a clock.
public struct WebhookRetryPolicy: Sendable, Hashable {
    /// The first retry waits about this long; each further one twice as long as the one before.
    public var firstDelay: Duration = .seconds(2)
    /// The longest wait between two attempts.
    public var maximumDelay: Duration = .seconds(3600)
    /// How long a delivery is retried before it is marked failed (the delivery's `retry_until`).
    public static let retryWindowHours = 24
    /// A subscription is disabled when this many attempts in a row failed…
    public var disableAfterFailures = 50
    /// …and nothing succeeded for this long.
    public var disableAfterFailingFor: Duration = .seconds(24 * 3600)
    /// How long the previous secret keeps signing after a rotation.
    public static let secretRotationGrace: Duration = .seconds(24 * 3600)

    public init() {}

    /// The wait after the `attempt`-th failed attempt (1-based): exponential, capped, with full jitter over
    /// its upper half so that retries of many deliveries do not arrive together.
    public func delay(afterAttempt attempt: Int, random: Double) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let base = min(firstDelay * (1 << exponent), maximumDelay)
        return base / 2 + base / 2 * min(max(random, 0), 1)
    }

    public func delay(afterAttempt attempt: Int) -> Duration {
        delay(afterAttempt: attempt, random: Double.random(in: 0...1))
    }
}

/// The Admin operations on webhooks. Validation of the input happens in the API; this adds what the
/// rules decide: ids and secrets.
public struct WebhookService: Sendable {
    public let repository: any WebhookRepository

    public init(repository: any WebhookRepository) {
        self.repository = repository
    }

    public func create(
        url: String, eventTypes: [WorkflowEventType]?, workflowIds: [UUID]?, description: String
    ) throws -> (WebhookSubscription, WebhookSecret) {
        let secret = WebhookSecret.random()
        let new = NewWebhookSubscription(
            id: UUID.random(), url: url, eventTypes: eventTypes, workflowIds: workflowIds, description: description, secret: secret)
        return (try repository.createSubscription(new), secret)
    }

    public func rotateSecret(id: UUID) throws -> (WebhookSubscription, WebhookSecret)? {
        let secret = WebhookSecret.random()
        return try repository.rotateSecret(id: id, to: secret, grace: WebhookRetryPolicy.secretRotationGrace).map { ($0, secret) }
    }
}
