#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import Logging
import TextCoding

/// What a request's log lines carry — its id, the caller, the instance — kept as plain values; the `Logger`
/// with them as metadata is built only when a line is written. Most requests write none: building it on every
/// request (a copy-on-write of the logger's storage and a metadata dictionary of three keys) cost a get ~5 k
/// instructions and ~180 of its ~2,650 instruction-cache misses (bench/instructions.sh).
public struct RequestLog: Sendable {
    public let base: Logger
    public let requestId: String
    public var userId: UUID?
    public var workflowId: Substring?

    public init(base: Logger, requestId: String) {
        self.base = base
        self.requestId = requestId
    }

    /// The logger for a line about this request: metadata `request_id`, and `user_id` and `workflow_id`
    /// once known.
    public var logger: Logger {
        var logger = base
        logger[metadataKey: "request_id"] = .string(requestId)
        if let userId { logger[metadataKey: "user_id"] = .string(userId.lowercaseText) }
        if let workflowId { logger[metadataKey: "workflow_id"] = .string(String(workflowId)) }
        return logger
    }
}

/// The request being served. The API binds it around each handler; the service and the store log through
/// `logger`, so every line a request causes carries its id without a logger parameter on every signature.
/// A task-local value: bound per worker thread for the duration of one synchronous request, never shared
/// between requests.
public enum RequestScope {
    @TaskLocal public static var request: RequestLog?

    /// The logger of the request being served; nil outside one.
    public static var logger: Logger? { request?.logger }
}
