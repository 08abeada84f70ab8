/// How to reach PostgreSQL and how patient to be.
public struct PostgresConfiguration: Sendable {
    /// A libpq conninfo string or `postgresql://` URI; empty means libpq's PG* environment defaults.
    public var connectionString: String
    /// Seconds libpq waits for a connection to open (libpq's `connect_timeout`; its minimum is 2).
    public var connectTimeoutSeconds: Int
    /// Server-side limit for each statement, in milliseconds (`statement_timeout`; 0 disables it).
    public var statementTimeoutMilliseconds: Int
    /// Reported in `pg_stat_activity`.
    public var applicationName: String

    public init(
        connectionString: String, connectTimeoutSeconds: Int = 3, statementTimeoutMilliseconds: Int = 5000,
        applicationName: String = "workflowd"
    ) {
        self.connectionString = connectionString
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.statementTimeoutMilliseconds = statementTimeoutMilliseconds
        self.applicationName = applicationName
    }
}

/// The parts of a connection string that are safe to log (never the password).
public struct PostgresTarget: Sendable, CustomStringConvertible {
    public let host: String
    public let port: String
    public let database: String
    public let user: String
    public var description: String { "\(user)@\(host):\(port)/\(database)" }
}
