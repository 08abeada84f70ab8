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
    /// What sits between this client and PostgreSQL; it decides which session state may be relied on.
    public var pooling: ConnectionPooling

    public init(
        connectionString: String, connectTimeoutSeconds: Int = 3, statementTimeoutMilliseconds: Int = 5000,
        applicationName: String = "workflowd", pooling: ConnectionPooling = .session
    ) {
        self.connectionString = connectionString
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.statementTimeoutMilliseconds = statementTimeoutMilliseconds
        self.applicationName = applicationName
        self.pooling = pooling
    }
}

/// Whether one client connection is one server session for its whole life.
public enum ConnectionPooling: String, Sendable, CaseIterable {
    /// PostgreSQL itself, or PgBouncer in session mode: statements are prepared once per connection under a
    /// name, and session settings are made once at connect.
    case session
    /// PgBouncer in transaction mode (1.18 has no prepared-statement tracking): each transaction may run on
    /// another server session, shared with other clients. So every statement goes unnamed (`PQexecParams`,
    /// parsed each time), no session setting is made except those PgBouncer carries itself (`TimeZone`),
    /// and `statement_timeout` must come from the role or database; connecting checks that it does.
    case transaction
}

/// The parts of a connection string that are safe to log (never the password).
public struct PostgresTarget: Sendable, CustomStringConvertible {
    public let host: String
    public let port: String
    public let database: String
    public let user: String
    public var description: String { "\(user)@\(host):\(port)/\(database)" }
}
