import CLibPQ
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One libpq connection. Not thread-safe: one thread at a time (the pool guarantees it).
/// Statements are prepared once per connection and reused by name, unless a transaction pooler sits in
/// between (`ConnectionPooling.transaction`): then each runs unnamed, parsed anew each time.
public final class PostgresConnection {
    /// Internal, not private: the notification reader (PostgresNotifications.swift) waits on its socket.
    var conn: OpaquePointer?
    private let pooling: ConnectionPooling
    private var preparedNames: [SQLText: String] = [:]
    /// `PostgresStatement`s prepared on this connection, by number.
    private var preparedStatements: [Bool] = []
    /// Set when a failure may have left the connection unusable; the pool then discards it.
    public private(set) var isBroken = false

    public init(configuration: PostgresConfiguration) throws(PostgresError) {
        pooling = configuration.pooling
        let keywords = ["dbname", "connect_timeout", "application_name", "client_encoding"]
        let values = [
            configuration.connectionString, String(max(configuration.connectTimeoutSeconds, 2)),
            configuration.applicationName, "UTF8",
        ]
        conn = withCStringArray(keywords) { keys in
            withCStringArray(values) { vals in PQconnectdbParams(keys, vals, 1) }
        }
        guard let conn, PQstatus(conn) == CONNECTION_OK else {
            let message = conn.map { Self.errorMessage($0) } ?? "out of memory"
            if let conn { PQfinish(conn) }
            self.conn = nil
            throw PostgresError(kind: .connectionFailed, message: message)
        }
        // Notices (e.g. "relation already exists, skipping") would go to stderr unasked.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
        switch pooling {
        case .session:
            try execute(
                "SET statement_timeout = \(configuration.statementTimeoutMilliseconds); SET TimeZone = 'UTC'")
            // PostgreSQL 14+: a backend whose client died (workflowd killed mid-request) notices within a
            // second while it waits or runs, and rolls the statement back instead of committing it.
            if PQserverVersion(conn) >= 140000 { try execute("SET client_connection_check_interval = 1000") }
        case .transaction:
            // PgBouncer tracks TimeZone (a parameter the server reports) per client and sets it on whichever
            // server session runs our next transaction. A session SET of anything else would stay behind on
            // one shared server session, so those settings must be the role's or the database's defaults.
            try execute("SET TimeZone = 'UTC'")
            try requireServerStatementTimeout(configuration.statementTimeoutMilliseconds)
        }
    }

    /// Refuses a transaction-pooled connection whose server default `statement_timeout` is not the configured
    /// one: the configured limit could not be applied, so it must already be what the server applies.
    private func requireServerStatementTimeout(_ milliseconds: Int) throws(PostgresError) {
        let server = try run("SELECT setting FROM pg_settings WHERE name = 'statement_timeout'", named: false).first?.optionalString(0)
        guard server != String(milliseconds) else { return }
        let user = target?.user ?? "workflowd"
        throw PostgresError(
            kind: .connectionFailed,
            message: "statement_timeout is \(server ?? "?") ms on the server, not the configured \(milliseconds) ms, and through a "
                + "transaction pooler it cannot be set per connection: run `ALTER ROLE \"\(user)\" SET statement_timeout = \(milliseconds)` "
                + "(or ALTER DATABASE … SET) on PostgreSQL, or configure \(server ?? "?") ms")
    }

    /// When connected over TCP: "port A, but the server listens on B" if the server's own port differs from
    /// the one connected to, i.e. something (PgBouncer, a port forward) relays the connection; else nil.
    /// Session state such as an advisory lock does not survive a transaction pooler.
    public func relayHint() throws(PostgresError) -> String? {
        guard let target, !target.host.hasPrefix("/") else { return nil }
        let serverPort = try run("SELECT inet_server_port()::text", named: false).first?.optionalString(0)
        guard let serverPort, serverPort != target.port else { return nil }
        return "connected to \(target.host) port \(target.port), but the server listens on port \(serverPort)"
    }

    deinit { close() }

    public func close() {
        if let conn { PQfinish(conn) }
        conn = nil
        isBroken = true
    }

    /// Where this connection went, for logs (no password).
    public var target: PostgresTarget? {
        guard let conn else { return nil }
        func text(_ p: UnsafeMutablePointer<CChar>?) -> String { p.map { String(cString: $0) } ?? "" }
        return PostgresTarget(host: text(PQhost(conn)), port: text(PQport(conn)), database: text(PQdb(conn)), user: text(PQuser(conn)))
    }

    /// Cheap liveness check for an idle connection, without a round trip: a server that restarted or
    /// dropped us has already sent an error or closed the socket, which shows up as readable input.
    /// (Pooled connections never LISTEN, so an idle one never receives notifications.)
    public func looksAlive() -> Bool {
        guard let conn, !isBroken, PQstatus(conn) == CONNECTION_OK else { return false }
        var pfd = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
        let ready = poll(&pfd, 1, 0)
        if ready == 0 { return true }
        // An idle connection has nothing to read unless the server is telling us it is going away
        // (57P01 and EOF after a restart). Treat any input as the end: reconnecting is cheap.
        isBroken = true
        return false
    }

    /// Whether a transaction is open (e.g. after a failed COMMIT); such a connection is not reused.
    public var isInTransaction: Bool {
        guard let conn else { return false }
        return PQtransactionStatus(conn) != PQTRANS_IDLE
    }

    /// Runs SQL with no parameters through the simple protocol (several statements allowed).
    public func execute(_ sql: StaticString) throws(PostgresError) {
        try execute(sql.description)
    }

    /// Runs a trusted SQL script (several statements), e.g. a migration file. Never pass user data here.
    public func executeScript(_ sql: String) throws(PostgresError) {
        try execute(sql)
    }

    private func execute(_ sql: String) throws(PostgresError) {
        let conn = try liveConnection()
        let result = PQexec(conn, sql)
        defer { PQclear(result) }
        try check(result)
    }

    /// Runs a parameterised statement, preparing it on first use on this connection (session pooling,
    /// unless it `plansEachExecution`).
    @discardableResult
    public func query(_ query: PostgresQuery) throws(PostgresError) -> PostgresRows {
        try run(query, named: pooling == .session)
    }

    /// `named: false` sends the unnamed statement, which lives only until the next Parse, within this one
    /// round trip. One-off checks go unnamed too: behind a relay that was not declared, a name could collide.
    private func run(_ query: PostgresQuery, named: Bool) throws(PostgresError) -> PostgresRows {
        let conn = try liveConnection()
        let count = Int32(query.binds.count)
        let result: OpaquePointer?
        if named && !query.plansEachExecution {
            let name = if let statement = query.statement {
                try preparedName(for: statement, conn: conn)
            } else {
                try preparedName(for: query.text, binds: query.binds.count, conn: conn)
            }
            result = withOptionalCStringArray(query.binds) { PQexecPrepared(conn, name, count, $0, nil, nil, 0) }
        } else {
            result = query.text.withCString { sql in
                withOptionalCStringArray(query.binds) { PQexecParams(conn, sql, count, nil, $0, nil, nil, 0) }
            }
        }
        do {
            try check(result)  // throws for a nil result
        } catch {
            PQclear(result)
            throw error
        }
        // Freed with the last row that refers to it.
        return PostgresRows(PostgresResult(result!))
    }

    /// BEGIN, run `body`, COMMIT; ROLLBACK if anything throws, so no caller can leave a transaction open.
    public func transaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        try execute("BEGIN")
        do {
            let value = try body(self)
            try execute("COMMIT")
            return value
        } catch {
            if !isBroken, isInTransaction {
                do { try execute("ROLLBACK") } catch { isBroken = true }
            }
            throw error
        }
    }

    // MARK: libpq plumbing

    private func liveConnection() throws(PostgresError) -> OpaquePointer {
        guard let conn, !isBroken else { throw PostgresError(kind: .connectionFailed, message: "connection is closed") }
        return conn
    }

    private func preparedName(for statement: PostgresStatement, conn: OpaquePointer) throws(PostgresError) -> String {
        if statement.number < preparedStatements.count, preparedStatements[statement.number] { return statement.name }
        let result = statement.sql.withCString { PQprepare(conn, statement.name, $0, 0, nil) }
        defer { PQclear(result) }
        try check(result)
        if statement.number >= preparedStatements.count {
            preparedStatements.append(contentsOf: repeatElement(false, count: statement.number + 1 - preparedStatements.count))
        }
        preparedStatements[statement.number] = true
        return statement.name
    }

    private func preparedName(for sql: SQLText, binds: Int, conn: OpaquePointer) throws(PostgresError) -> String {
        if let name = preparedNames[sql] { return name }
        let name = "s\(preparedNames.count + 1)"
        let result = sql.withCString { PQprepare(conn, name, $0, Int32(binds), nil) }
        defer { PQclear(result) }
        try check(result)
        preparedNames[sql] = name
        return name
    }

    private func check(_ result: OpaquePointer?) throws(PostgresError) {
        guard let conn else { throw PostgresError(kind: .connectionFailed, message: "connection is closed") }
        guard let result else {
            isBroken = true
            throw PostgresError(kind: .connectionFailed, message: Self.errorMessage(conn))
        }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return
        default:
            let sqlState = Self.field(result, CLIBPQ_DIAG_SQLSTATE)
            let message = Self.field(result, CLIBPQ_DIAG_MESSAGE_PRIMARY) ?? Self.errorMessage(conn)
            if PQstatus(conn) != CONNECTION_OK {
                isBroken = true
                throw PostgresError(kind: .connectionFailed, sqlState: sqlState, message: message)
            }
            throw PostgresError(
                kind: .server, sqlState: sqlState, message: message,
                constraint: Self.field(result, CLIBPQ_DIAG_CONSTRAINT_NAME))
        }
    }

    private static func field(_ result: OpaquePointer, _ code: Int32) -> String? {
        PQresultErrorField(result, code).map { String(cString: $0) }
    }

    private static func errorMessage(_ conn: OpaquePointer) -> String {
        String(cString: PQerrorMessage(conn)).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Passes Swift strings as a NUL-terminated `const char *const *` array for the duration of `body`.
private func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    withOptionalCStringArray(strings.map { Optional($0) } + [nil], body)
}

private func withOptionalCStringArray<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    // One buffer holds every string NUL-terminated and the pointer array points into it; both are
    // temporary allocations (on the stack for the usual few short binds), filled with memcpy. This runs
    // for every statement: arrays and a byte-by-byte copy cost three allocations and a loop per value.
    let byteCount = strings.reduce(0) { $0 + ($1?.utf8.count ?? 0) + 1 }
    return withUnsafeTemporaryAllocation(of: CChar.self, capacity: max(byteCount, 1)) { storage in
        withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: max(strings.count, 1)) { pointers in
            var offset = 0
            for (index, value) in strings.enumerated() {
                guard var value else {
                    pointers[index] = nil
                    continue
                }
                let start = storage.baseAddress! + offset
                let count = value.withUTF8 { utf8 in
                    if let source = utf8.baseAddress { UnsafeMutableRawPointer(start).copyMemory(from: source, byteCount: utf8.count) }
                    return utf8.count
                }
                start[count] = 0
                pointers[index] = UnsafePointer(start)
                offset += count + 1
            }
            return body(UnsafePointer(pointers.baseAddress!))
        }
    }
}
