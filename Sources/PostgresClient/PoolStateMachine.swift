/// The connection pool's rules, with no I/O, no lock and no clock.
///
/// Each event (a lease request, a waiter's wake-up or timeout, a return, a dead or failed connection, close)
/// changes the state and answers with what the caller must do next; `PostgresPool` performs those answers
/// with libpq and a lock. Keeping the rules here lets every race be written down as a sequence of events and
/// tested deterministically, without PostgreSQL or threads.
///
/// `Connection` is whatever the pool lends (tests use plain numbers). Opening counts as in use from the
/// moment `.open` is handed out, so `open` never exceeds `size` even while connects are in flight.
struct PoolStateMachine<Connection> {
    typealias WaiterID = Int

    enum Failure: Equatable, Sendable {
        /// The waiter's deadline passed before a connection or a slot became free.
        case timeout
        /// The pool was closed.
        case closed
    }

    /// What the caller of `lease()` or `resume(_:timedOut:)` does next.
    enum Checkout {
        /// Use this idle connection, after checking that it still looks alive (see `replaceDead()`).
        case use(Connection)
        /// A slot is reserved for the caller: open a new connection (then `connectFailed()` if that fails).
        case open
        /// Sleep until woken or the deadline passes, then call `resume(_:timedOut:)` with this id.
        case wait(WaiterID)
        /// Give up with this failure.
        case fail(Failure)
    }

    /// Work for the caller after a return, a failed connect or close: connections to close and waiters to
    /// wake (each finds its outcome with `resume`). Both happen outside the lock.
    struct Effects {
        var close: [Connection] = []
        var wake: [WaiterID] = []
    }

    let size: Int
    private var idle: [Connection] = []
    /// Connections lent out, plus slots reserved for connects in flight.
    private var leased = 0
    private var queue: [WaiterID] = []
    /// Outcomes decided for waiters that have not collected them yet; their connection or slot is already
    /// counted in `leased`, so it cannot be given to anyone else.
    private var outcomes: [WaiterID: Checkout] = [:]
    private var nextWaiter: WaiterID = 0
    private(set) var isClosed = false

    init(size: Int) {
        precondition(size > 0, "pool size must be positive")
        self.size = size
    }

    var statistics: PoolStatistics {
        PoolStatistics(size: size, open: idle.count + leased, inUse: leased, waiting: queue.count)
    }

    /// A caller wants a connection: the most recently returned idle one, else a new one within `size`,
    /// else a place at the back of the queue.
    mutating func lease() -> Checkout {
        if isClosed { return .fail(.closed) }
        if let connection = idle.popLast() {
            leased += 1
            return .use(connection)
        }
        if idle.count + leased < size {
            leased += 1
            return .open
        }
        let waiter = nextWaiter
        nextWaiter += 1
        queue.append(waiter)
        return .wait(waiter)
    }

    /// A waiter woke up (`timedOut` false) or its deadline passed (`timedOut` true). An outcome decided for
    /// it before it got here wins over the timeout, so a connection handed over at the last moment is used,
    /// not lost; otherwise a timed-out waiter leaves the queue and a woken one keeps waiting.
    mutating func resume(_ waiter: WaiterID, timedOut: Bool) -> Checkout {
        if let outcome = outcomes.removeValue(forKey: waiter) { return outcome }
        guard let place = queue.firstIndex(of: waiter) else {
            preconditionFailure("waiter \(waiter) is neither queued nor served")
        }
        guard timedOut else { return .wait(waiter) }
        queue.remove(at: place)
        return .fail(.timeout)
    }

    /// The caller found the connection it was lent dead before using it (the caller closes it). Its lease
    /// carries over: to another idle connection, else to a new one in the freed slot; it does not queue again.
    mutating func replaceDead() -> Checkout {
        precondition(leased > 0, "no connection is lent out")
        if isClosed {
            leased -= 1
            return .fail(.closed)
        }
        if let connection = idle.popLast() { return .use(connection) }
        return .open
    }

    /// A connect for a reserved slot failed: the slot is free again, and the first waiter may try it.
    mutating func connectFailed() -> Effects {
        precondition(leased > 0, "no slot is reserved")
        leased -= 1
        var effects = Effects()
        if !isClosed, !queue.isEmpty {
            leased += 1
            effects.wake.append(serveFirst(.open))
        }
        return effects
    }

    /// A connection comes back. A reusable one goes to the first waiter, else to the idle list; one that is
    /// not reusable (broken, left inside a transaction) or comes back after close is closed, and its slot
    /// goes to the first waiter to open a new connection.
    mutating func release(_ connection: Connection, reusable: Bool) -> Effects {
        precondition(leased > 0, "no connection is lent out")
        var effects = Effects()
        if isClosed || !reusable {
            effects.close.append(connection)
            if !isClosed, !queue.isEmpty {
                effects.wake.append(serveFirst(.open))
            } else {
                leased -= 1
            }
        } else if !queue.isEmpty {
            effects.wake.append(serveFirst(.use(connection)))
        } else {
            leased -= 1
            idle.append(connection)
        }
        return effects
    }

    /// Refuses further leases, closes idle connections now and fails every waiter; connections lent out
    /// are closed when they come back. Closing twice does nothing more.
    mutating func close() -> Effects {
        guard !isClosed else { return Effects() }
        isClosed = true
        let effects = Effects(close: idle, wake: queue)
        idle.removeAll()
        for waiter in queue { outcomes[waiter] = .fail(.closed) }
        queue.removeAll()
        return effects
    }

    /// Hands `outcome` to the longest-waiting caller (FIFO) and names it for waking.
    private mutating func serveFirst(_ outcome: Checkout) -> WaiterID {
        let waiter = queue.removeFirst()
        outcomes[waiter] = outcome
        return waiter
    }
}

extension PoolStateMachine: Sendable where Connection: Sendable {}
extension PoolStateMachine.Checkout: Sendable where Connection: Sendable {}
extension PoolStateMachine.Checkout: Equatable where Connection: Equatable {}
extension PoolStateMachine.Effects: Sendable where Connection: Sendable {}
extension PoolStateMachine.Effects: Equatable where Connection: Equatable {}
