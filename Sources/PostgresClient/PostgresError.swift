/// An error from PostgreSQL or libpq. It keeps the SQLSTATE; its description names the kind and state
/// only, so logging it never leaks row data. `message` holds the full text for a deliberate look.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        /// Could not connect, or the connection broke while in use.
        case connectionFailed
        /// No pooled connection became free within the pool's wait time.
        case poolTimeout
        /// The pool was closed (the process is shutting down).
        case poolClosed
        /// The server answered the statement with an error (see `sqlState`).
        case server
        /// A row value could not be read as the requested type.
        case decoding
    }

    public let kind: Kind
    /// Five-character SQLSTATE for `.server` errors, e.g. "23503".
    public let sqlState: String?
    /// The full server or libpq message. May contain data; do not log it blindly.
    public let message: String
    /// The constraint named by an integrity violation, when the server reports one.
    public let constraint: String?

    public init(kind: Kind, sqlState: String? = nil, message: String, constraint: String? = nil) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.constraint = constraint
    }

    public var description: String {
        var text = "PostgresError.\(kind.rawValue)"
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        if let constraint { text += " constraint=\(constraint)" }
        if kind == .connectionFailed || kind == .poolTimeout || kind == .poolClosed { text += ": \(message)" }
        return text
    }

    /// Transient conditions: the same request may well succeed when retried later.
    public var isTransient: Bool {
        switch kind {
        case .connectionFailed, .poolTimeout, .poolClosed: return true
        case .decoding: return false
        case .server:
            guard let state = sqlState else { return false }
            return Self.transientStates.contains(state) || state.hasPrefix("08") || state.hasPrefix("53")
                || state.hasPrefix("57P")
        }
    }

    /// Serialization failure and deadlock: the transaction was rolled back whole and may simply be run again.
    public var isRetryableConflict: Bool { sqlState == "40001" || sqlState == "40P01" }

    static let transientStates: Set<String> = ["40001", "40P01", "57014", "55P03"]
}
