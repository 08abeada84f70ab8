import Foundation
public import Logging
import Metrics
import TextCoding

/// A snapshot of the pool, for health and metrics.
public struct PoolStatistics: Sendable {
    public let size: Int
    public let open: Int
    public let inUse: Int
    public let waiting: Int
}

/// A bounded pool of connections for worker threads.
///
/// Check-out waits at most `checkoutTimeout`, then throws `.poolTimeout` (never hangs). Connections are
/// opened lazily; an idle one that the server dropped (e.g. after a restart) is noticed before use and
/// replaced, so the pool heals without a restart. A connection left broken or inside a transaction is
/// closed instead of reused.
public final class PostgresPool: @unchecked Sendable {
    public let configuration: PostgresConfiguration
    public let size: Int
    public let checkoutTimeout: Duration
    private let logger: Logger

    // Guarded by `condition`.
    private let condition = NSCondition()
    private var idle: [PostgresConnection] = []
    private var openCount = 0
    private var waitingCount = 0
    private var isClosed = false

    public init(configuration: PostgresConfiguration, size: Int, checkoutTimeout: Duration, logger: Logger) {
        precondition(size > 0, "pool size must be positive")
        self.configuration = configuration
        self.size = size
        self.checkoutTimeout = checkoutTimeout
        self.logger = logger
    }

    /// Lends a connection to `body` and takes it back afterwards, whatever happens.
    public func withConnection<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        let started = ContinuousClock.now
        let connection: PostgresConnection
        do {
            connection = try checkOut()
        } catch {
            Self.count(error)
            throw error
        }
        Self.waitTimer.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
        defer { checkIn(connection) }
        do {
            return try body(connection)
        } catch let error as PostgresError {
            Self.count(error)
            throw error
        }
    }

    /// `db_pool_wait_seconds`: how long check-outs waited for a connection.
    static let waitTimer = Metrics.Timer(label: "db_pool_wait_seconds")

    /// `db_errors_total{class}`: by SQLSTATE class ("23", "57", …) or, without one, by kind.
    static func count(_ error: PostgresError) {
        let errorClass = error.sqlState.map { String($0.prefix(2)) } ?? error.kind.rawValue
        Counter(label: "db_errors_total", dimensions: [("class", errorClass)]).increment()
    }

    /// A transaction on a pooled connection; rolled back if `body` throws.
    public func withTransaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        try withConnection { try $0.transaction(body) }
    }

    public var statistics: PoolStatistics {
        condition.lock()
        defer { condition.unlock() }
        return PoolStatistics(size: size, open: openCount, inUse: openCount - idle.count, waiting: waitingCount)
    }

    /// Closes idle connections and refuses further check-outs; connections in use close on check-in.
    public func close() {
        condition.lock()
        isClosed = true
        let toClose = idle
        idle.removeAll()
        openCount -= toClose.count
        condition.broadcast()
        condition.unlock()
        toClose.forEach { $0.close() }
    }

    // MARK: Check-out / check-in

    private func checkOut() throws(PostgresError) -> PostgresConnection {
        let deadline = Date(timeIntervalSinceNow: checkoutTimeout.seconds)
        condition.lock()
        while true {
            if isClosed {
                condition.unlock()
                throw PostgresError(kind: .poolClosed, message: "the connection pool is closed")
            }
            if let connection = idle.popLast() {
                if connection.looksAlive() {
                    condition.unlock()
                    return connection
                }
                openCount -= 1
                logger.info("discarding a dropped PostgreSQL connection", metadata: ["pool.open": "\(openCount)"])
                connection.close()
                continue
            }
            if openCount < size {
                openCount += 1
                condition.unlock()
                return try open()
            }
            waitingCount += 1
            let signalled = condition.wait(until: deadline)
            waitingCount -= 1
            if !signalled && idle.isEmpty && openCount >= size {
                condition.unlock()
                throw PostgresError(
                    kind: .poolTimeout,
                    message: "no PostgreSQL connection became free within \(checkoutTimeout.seconds) s (pool size \(size))")
            }
        }
    }

    /// Opens a connection for a slot already counted in `openCount`; gives the slot back on failure.
    private func open() throws(PostgresError) -> PostgresConnection {
        do {
            return try PostgresConnection(configuration: configuration)
        } catch {
            condition.lock()
            openCount -= 1
            condition.signal()
            condition.unlock()
            logger.warning("cannot connect to PostgreSQL", metadata: ["error": "\(error)"])
            throw error
        }
    }

    private func checkIn(_ connection: PostgresConnection) {
        let reusable = !connection.isBroken && !connection.isInTransaction
        condition.lock()
        let keep = reusable && !isClosed
        if keep {
            idle.append(connection)
        } else {
            openCount -= 1
        }
        condition.signal()
        condition.unlock()
        if !keep { connection.close() }
    }
}

extension Duration {
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
