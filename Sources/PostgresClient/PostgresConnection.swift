import CLibPQ
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One libpq connection. Not thread-safe: one thread at a time (the pool guarantees it).
/// Statements are prepared once per connection and reused by name.
public final class PostgresConnection {
    /// Internal, not private: the notification reader (PostgresNotifications.swift) waits on its socket.
    var conn: OpaquePointer?
    private var preparedNames: [String: String] = [:]
    /// Set when a failure may have left the connection unusable; the pool then discards it.
    public private(set) var isBroken = false

    public init(configuration: PostgresConfiguration) throws(PostgresError) {
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
        try execute(
            "SET statement_timeout = \(configuration.statementTimeoutMilliseconds); SET TimeZone = 'UTC'")
        // PostgreSQL 14+: a backend whose client died (workflowd killed mid-request) notices within a
        // second while it waits or runs, and rolls the statement back instead of committing it.
        if PQserverVersion(conn) >= 140000 { try execute("SET client_connection_check_interval = 1000") }
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

    /// Runs a parameterised statement, preparing it on first use on this connection.
    @discardableResult
    public func query(_ query: PostgresQuery) throws(PostgresError) -> PostgresRows {
        let conn = try liveConnection()
        let name = try preparedName(for: query.sql, binds: query.binds.count, conn: conn)
        let result = withOptionalCStringArray(query.binds) { values in
            PQexecPrepared(conn, name, Int32(query.binds.count), values, nil, nil, 0)
        }
        defer { PQclear(result) }
        try check(result)
        return Self.rows(of: result)
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

    private func preparedName(for sql: String, binds: Int, conn: OpaquePointer) throws(PostgresError) -> String {
        if let name = preparedNames[sql] { return name }
        let name = "s\(preparedNames.count + 1)"
        let result = PQprepare(conn, name, sql, Int32(binds), nil)
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

    private static func rows(of result: OpaquePointer?) -> PostgresRows {
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        var rows: [PostgresRow] = []
        rows.reserveCapacity(rowCount)
        for r in 0..<Int32(rowCount) {
            var values: [String?] = []
            values.reserveCapacity(columnCount)
            for c in 0..<Int32(columnCount) {
                if PQgetisnull(result, r, c) == 1 {
                    values.append(nil)
                } else {
                    let length = Int(PQgetlength(result, r, c))
                    let bytes = UnsafeRawBufferPointer(start: PQgetvalue(result, r, c), count: length)
                    values.append(String(decoding: bytes, as: UTF8.self))
                }
            }
            rows.append(PostgresRow(values: values))
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return PostgresRows(rows: rows, affectedRows: affected)
    }
}

/// Passes Swift strings as a NUL-terminated `const char *const *` array for the duration of `body`.
private func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    withOptionalCStringArray(strings.map { Optional($0) } + [nil], body)
}

private func withOptionalCStringArray<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    // One buffer holds every string NUL-terminated; the pointer array points into it. (A strdup per
    // value costs an allocation each, on every statement.)
    var storage: [CChar] = []
    storage.reserveCapacity(strings.reduce(0) { $0 + ($1?.utf8.count ?? 0) + 1 })
    var offsets: [Int?] = []
    offsets.reserveCapacity(strings.count)
    for string in strings {
        guard let string else { offsets.append(nil); continue }
        offsets.append(storage.count)
        storage.append(contentsOf: string.utf8.lazy.map { CChar(bitPattern: $0) })
        storage.append(0)
    }
    return storage.withUnsafeBufferPointer { chars in
        let pointers = offsets.map { offset in offset.map { UnsafePointer(chars.baseAddress! + $0) } }
        return pointers.withUnsafeBufferPointer { buffer in
            body(buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!)
        }
    }
}
