import Dispatch
public import Logging
import Metrics
import Locking
import TextCoding

/// A snapshot of the pool, for health and metrics.
public struct PoolStatistics: Sendable, Equatable {
    public let size: Int
    public let open: Int
    public let inUse: Int
    public let waiting: Int
}

/// A bounded pool of connections for worker threads.
///
/// Check-out waits at most `checkoutTimeout`, then throws `.poolTimeout` (never hangs); waiters are served
/// first come, first served. Connections are opened lazily; an idle one that the server dropped (e.g. after
/// a restart) is noticed before use and replaced, so the pool heals without a restart. A connection left
/// broken or inside a transaction is closed instead of reused.
///
/// The rules live in `PoolStateMachine`; this class only performs its answers: libpq connects and closes,
/// and one semaphore per waiting caller, signalled outside the lock.
public final class PostgresPool: Sendable {
    public let configuration: PostgresConfiguration
    public let size: Int
    public let checkoutTimeout: Duration
    private let logger: Logger
    private let state: Locked<State>

    /// A libpq connection is not thread-safe. It may cross threads here because the state machine hands
    /// each one to exactly one owner at a time: the caller it lends it to, the idle list (under the lock),
    /// or the caller it tells to close it.
    private struct Pooled: @unchecked Sendable {
        let connection: PostgresConnection
    }

    private typealias Machine = PoolStateMachine<Pooled>

    private struct State {
        var machine: Machine
        /// How to wake each queued caller. Created by whichever comes first, the waiter or its waker;
        /// dropped once the waiter has collected its outcome.
        var wakeups: [Machine.WaiterID: DispatchSemaphore] = [:]

        mutating func wakeup(for waiter: Machine.WaiterID) -> DispatchSemaphore {
            if let wakeup = wakeups[waiter] { return wakeup }
            let wakeup = DispatchSemaphore(value: 0)
            wakeups[waiter] = wakeup
            return wakeup
        }
    }

    public init(configuration: PostgresConfiguration, size: Int, checkoutTimeout: Duration, logger: Logger) {
        self.configuration = configuration
        self.size = size
        self.checkoutTimeout = checkoutTimeout
        self.logger = logger
        self.state = Locked(State(machine: Machine(size: size)))
    }

    /// Lends a connection to `body` and takes it back afterwards, whatever happens.
    public func withConnection<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        let started = MonotonicClock.nanoseconds()
        let connection: PostgresConnection
        do {
            connection = try checkOut()
        } catch {
            Self.count(error)
            throw error
        }
        Self.waitTimer.recordNanoseconds(MonotonicClock.nanoseconds() - started)
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
        state.withLock { $0.machine.statistics }
    }

    /// Closes idle connections, fails waiting and later check-outs with `.poolClosed`; connections in use
    /// close on check-in.
    public func close() {
        perform { $0.close() }
    }

    // MARK: Performing the state machine's answers

    private func checkOut() throws(PostgresError) -> PostgresConnection {
        // Read the clock only when a check-out has to wait (most find a connection idle).
        var deadline: DispatchTime?
        var next = state.withLock { $0.machine.lease() }
        while true {
            switch next {
            case .use(let pooled):
                if pooled.connection.looksAlive() { return pooled.connection }
                pooled.connection.close()
                let (replacement, open) = state.withLock { ($0.machine.replaceDead(), $0.machine.statistics.open) }
                logger.info("discarding a dropped PostgreSQL connection", metadata: ["pool.open": "\(open)"])
                next = replacement
            case .open:
                return try open()
            case .wait(let waiter):
                let until = deadline ?? DispatchTime.now() + .nanoseconds(Int(checkoutTimeout.nanoseconds))
                deadline = until
                next = awaitTurn(waiter, until: until)
            case .fail(.timeout):
                let seconds = Double(checkoutTimeout.nanoseconds) / 1e9
                throw PostgresError(
                    kind: .poolTimeout,
                    message: "no PostgreSQL connection became free within \(seconds) s (pool size \(size))")
            case .fail(.closed):
                throw PostgresError(kind: .poolClosed, message: "the connection pool is closed")
            }
        }
    }

    /// Sleeps until this waiter is served or its deadline passes; the state machine decides which won.
    private func awaitTurn(_ waiter: Machine.WaiterID, until deadline: DispatchTime) -> Machine.Checkout {
        let wakeup = state.withLock { $0.wakeup(for: waiter) }
        while true {
            let timedOut = wakeup.wait(timeout: deadline) == .timedOut
            let next = state.withLock { state in
                let next = state.machine.resume(waiter, timedOut: timedOut)
                if case .wait = next { return next }
                state.wakeups[waiter] = nil
                return next
            }
            if case .wait = next { continue }
            return next
        }
    }

    /// Opens a connection for the slot the state machine reserved; gives the slot back on failure.
    private func open() throws(PostgresError) -> PostgresConnection {
        do {
            return try PostgresConnection(configuration: configuration)
        } catch {
            perform { $0.connectFailed() }
            logger.warning("cannot connect to PostgreSQL", metadata: ["error": "\(error)"])
            throw error
        }
    }

    private func checkIn(_ connection: PostgresConnection) {
        let reusable = !connection.isBroken && !connection.isInTransaction
        let pooled = Pooled(connection: connection)
        perform { $0.release(pooled, reusable: reusable) }
    }

    /// Applies one event under the lock, then wakes the named waiters and closes the named connections
    /// outside it, so no libpq call ever holds the lock.
    private func perform(_ event: (inout Machine) -> Machine.Effects) {
        let (closing, waking) = state.withLock { state in
            let effects = event(&state.machine)
            return (effects.close, effects.wake.map { state.wakeup(for: $0) })
        }
        waking.forEach { $0.signal() }
        closing.forEach { $0.connection.close() }
    }
}
