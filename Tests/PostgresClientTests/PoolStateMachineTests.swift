import Testing
@testable import PostgresClient

/// Drives `PoolStateMachine` the way `PostgresPool` does, with numbered connections, and checks after every
/// step that no connection is lost, lent twice or used after it was closed, and that the statistics agree.
private struct Driver {
    typealias Machine = PoolStateMachine<Int>

    var machine: Machine
    /// Connections opened so far; each gets the next number.
    var created = 0
    /// Connections lent to callers (outcomes collected).
    var held: Set<Int> = []
    var closed: Set<Int> = []
    /// Slots handed out as `.open` whose connect has not finished.
    var opening = 0
    /// Waiters woken whose outcome has not been collected yet.
    var woken: Set<Int> = []
    /// False from the first broken invariant on (each is also recorded as an issue).
    private(set) var invariantsHold = true

    init(size: Int) { machine = Machine(size: size) }

    var statistics: PoolStatistics { machine.statistics }

    @discardableResult
    mutating func lease() -> Machine.Checkout {
        let next = machine.lease()
        collect(next)
        return next
    }

    /// Finishes the oldest pending `.open` with a new connection.
    mutating func connect() -> Int {
        guard opening > 0 else {
            Issue.record("connected without a slot to open")
            invariantsHold = false
            return -1
        }
        opening -= 1
        let connection = created
        created += 1
        held.insert(connection)
        check()
        return connection
    }

    @discardableResult
    mutating func connectFails() -> Machine.Effects {
        guard opening > 0 else {
            Issue.record("a connect failed without a slot to open")
            invariantsHold = false
            return Machine.Effects()
        }
        opening -= 1
        let effects = machine.connectFailed()
        apply(effects)
        return effects
    }

    /// Opens a connection in a fresh slot and lends it out.
    mutating func openOne() -> Int {
        #expect(lease() == .open)
        return connect()
    }

    @discardableResult
    mutating func giveBack(_ connection: Int, reusable: Bool = true) -> Machine.Effects {
        #expect(held.remove(connection) != nil, "gave back \(connection), which was not lent out")
        let effects = machine.release(connection, reusable: reusable)
        apply(effects)
        return effects
    }

    @discardableResult
    mutating func resume(_ waiter: Int, timedOut: Bool) -> Machine.Checkout {
        let next = machine.resume(waiter, timedOut: timedOut)
        if case .wait = next {} else { woken.remove(waiter) }
        collect(next)
        return next
    }

    /// The caller holding `connection` finds it dead before use and closes it.
    @discardableResult
    mutating func foundDead(_ connection: Int) -> Machine.Checkout {
        #expect(held.remove(connection) != nil)
        closed.insert(connection)
        let next = machine.replaceDead()
        collect(next)
        return next
    }

    @discardableResult
    mutating func close() -> Machine.Effects {
        let effects = machine.close()
        apply(effects)
        return effects
    }

    private mutating func collect(_ next: Machine.Checkout) {
        switch next {
        case .use(let connection):
            #expect(!held.contains(connection), "connection \(connection) lent twice")
            #expect(!closed.contains(connection), "connection \(connection) lent after it was closed")
            held.insert(connection)
        case .open:
            opening += 1
        case .wait, .fail:
            break
        }
        check()
    }

    private mutating func apply(_ effects: Machine.Effects) {
        for connection in effects.close {
            #expect(!held.contains(connection), "closing \(connection) while it is lent out")
            #expect(closed.insert(connection).inserted, "closing \(connection) twice")
        }
        for waiter in effects.wake {
            #expect(woken.insert(waiter).inserted, "waiter \(waiter) woken twice")
        }
        check()
    }

    /// The invariants. Outcomes decided for woken waiters are invisible until collected, so the accounting
    /// allows for at most one connection or slot per woken waiter.
    private mutating func check() {
        let stats = machine.statistics
        let idle = stats.open - stats.inUse
        let inPendingOutcomes = created - held.count - closed.count - idle
        let reservedForPendingOutcomes = stats.inUse - held.count - opening
        let checks = [
            (stats.inUse >= 0 && stats.inUse <= stats.open && stats.open <= stats.size, "counts out of range"),
            (inPendingOutcomes >= 0 && inPendingOutcomes <= woken.count, "a connection got lost"),
            (reservedForPendingOutcomes >= inPendingOutcomes && reservedForPendingOutcomes <= woken.count,
             "in use does not match lent connections and connects"),
            (!machine.isClosed || (stats.waiting == 0 && idle == 0), "waiters or idle connections after close"),
            (machine.isClosed || stats.waiting == 0 || stats.inUse == stats.size,
             "someone waits while a connection or slot is free"),
        ]
        for (holds, problem) in checks where !holds {
            Issue.record("\(problem): \(stats)")
            invariantsHold = false
        }
    }
}

private func stats(open: Int, inUse: Int, waiting: Int, size: Int) -> PoolStatistics {
    PoolStatistics(size: size, open: open, inUse: inUse, waiting: waiting)
}

@Suite struct PoolStateMachineTests {
    @Test func opensConnectionsLazilyUpToSizeThenQueues() {
        var pool = Driver(size: 2)
        #expect(pool.statistics == stats(open: 0, inUse: 0, waiting: 0, size: 2))
        #expect(pool.lease() == .open)
        #expect(pool.statistics == stats(open: 1, inUse: 1, waiting: 0, size: 2))
        #expect(pool.lease() == .open)
        #expect(pool.lease() == .wait(0))
        #expect(pool.statistics == stats(open: 2, inUse: 2, waiting: 1, size: 2))
    }

    @Test func reusesTheMostRecentlyReturnedIdleConnectionBeforeOpening() {
        var pool = Driver(size: 3)
        let first = pool.openOne(), second = pool.openOne()
        pool.giveBack(first)
        pool.giveBack(second)
        #expect(pool.statistics == stats(open: 2, inUse: 0, waiting: 0, size: 3))
        #expect(pool.lease() == .use(second))
        #expect(pool.lease() == .use(first))
        #expect(pool.lease() == .open)
    }

    @Test func waitersAreServedInArrivalOrderAndLatecomersQueueBehindThem() {
        var pool = Driver(size: 1)
        let connection = pool.openOne()
        #expect(pool.lease() == .wait(0))
        #expect(pool.lease() == .wait(1))
        #expect(pool.giveBack(connection) == .init(close: [], wake: [0]))
        #expect(pool.lease() == .wait(2), "a newcomer must not take the connection promised to waiter 0")
        #expect(pool.resume(0, timedOut: false) == .use(connection))
        #expect(pool.giveBack(connection) == .init(close: [], wake: [1]))
        #expect(pool.resume(1, timedOut: false) == .use(connection))
        #expect(pool.giveBack(connection) == .init(close: [], wake: [2]))
        #expect(pool.resume(2, timedOut: false) == .use(connection))
        #expect(pool.giveBack(connection) == .init(close: [], wake: []))
        #expect(pool.statistics == stats(open: 1, inUse: 0, waiting: 0, size: 1))
    }

    @Test func aWaiterWithNothingFreedTimesOutAndLeavesTheQueue() {
        var pool = Driver(size: 1)
        let connection = pool.openOne()
        #expect(pool.lease() == .wait(0))
        #expect(pool.resume(0, timedOut: false) == .wait(0), "woken without an outcome, it keeps waiting")
        #expect(pool.resume(0, timedOut: true) == .fail(.timeout))
        #expect(pool.statistics == stats(open: 1, inUse: 1, waiting: 0, size: 1))
        #expect(pool.giveBack(connection).wake.isEmpty, "the timed-out waiter is not served any more")
        #expect(pool.statistics == stats(open: 1, inUse: 0, waiting: 0, size: 1))
    }

    @Test func aConnectionReturnedAsTheWaiterTimesOutIsUsedByItNotLost() {
        var pool = Driver(size: 1)
        let connection = pool.openOne()
        #expect(pool.lease() == .wait(0))
        // The return wins the lock first: the waiter's timeout arrives after it was served.
        #expect(pool.giveBack(connection) == .init(close: [], wake: [0]))
        #expect(pool.resume(0, timedOut: true) == .use(connection))
        #expect(pool.statistics == stats(open: 1, inUse: 1, waiting: 0, size: 1))
        #expect(pool.lease() == .wait(1), "the connection is lent once, not also kept idle")
    }

    @Test func aTimeoutThatWinsTheRaceLeavesTheReturnedConnectionIdle() {
        var pool = Driver(size: 1)
        let connection = pool.openOne()
        #expect(pool.lease() == .wait(0))
        #expect(pool.resume(0, timedOut: true) == .fail(.timeout))
        #expect(pool.giveBack(connection) == .init(close: [], wake: []))
        #expect(pool.lease() == .use(connection))
    }

    @Test func aConnectionNotReusableIsClosedAndItsSlotGoesToTheNextWaiter() {
        var pool = Driver(size: 1)
        let broken = pool.openOne()
        #expect(pool.lease() == .wait(0))
        #expect(pool.giveBack(broken, reusable: false) == .init(close: [broken], wake: [0]))
        #expect(pool.statistics == stats(open: 1, inUse: 1, waiting: 0, size: 1), "the slot passed on, not freed")
        #expect(pool.resume(0, timedOut: false) == .open)
        let fresh = pool.connect()
        #expect(fresh != broken)
    }

    @Test func aConnectionNotReusableWithNobodyWaitingFreesItsSlot() {
        var pool = Driver(size: 1)
        let broken = pool.openOne()
        #expect(pool.giveBack(broken, reusable: false) == .init(close: [broken], wake: []))
        #expect(pool.statistics == stats(open: 0, inUse: 0, waiting: 0, size: 1))
        #expect(pool.lease() == .open)
    }

    @Test func aDeadIdleConnectionIsReplacedByTheNextIdleOneOrANewOne() {
        var pool = Driver(size: 2)
        let first = pool.openOne(), second = pool.openOne()
        pool.giveBack(first)
        pool.giveBack(second)
        #expect(pool.lease() == .use(second))
        #expect(pool.foundDead(second) == .use(first))
        #expect(pool.statistics == stats(open: 1, inUse: 1, waiting: 0, size: 2))
        #expect(pool.foundDead(first) == .open)
        #expect(pool.statistics == stats(open: 1, inUse: 1, waiting: 0, size: 2))
        _ = pool.connect()
    }

    @Test func aCallerReplacingADeadConnectionKeepsItsTurnAheadOfWaiters() {
        var pool = Driver(size: 1)
        let connection = pool.openOne()
        pool.giveBack(connection)
        #expect(pool.lease() == .use(connection))
        #expect(pool.lease() == .wait(0))
        #expect(pool.foundDead(connection) == .open)
        #expect(pool.statistics == stats(open: 1, inUse: 1, waiting: 1, size: 1))
    }

    @Test func aFailedConnectGivesItsSlotToTheNextWaiter() {
        var pool = Driver(size: 1)
        #expect(pool.lease() == .open)
        #expect(pool.lease() == .wait(0))
        #expect(pool.lease() == .wait(1))
        #expect(pool.connectFails() == .init(close: [], wake: [0]))
        #expect(pool.statistics == stats(open: 1, inUse: 1, waiting: 1, size: 1))
        #expect(pool.resume(0, timedOut: false) == .open)
        #expect(pool.connectFails() == .init(close: [], wake: [1]))
        #expect(pool.resume(1, timedOut: false) == .open)
        _ = pool.connect()
    }

    @Test func aFailedConnectWithNobodyWaitingLeavesTheSlotFree() {
        var pool = Driver(size: 1)
        #expect(pool.lease() == .open)
        #expect(pool.connectFails() == .init(close: [], wake: []))
        #expect(pool.statistics == stats(open: 0, inUse: 0, waiting: 0, size: 1))
        #expect(pool.lease() == .open)
    }

    @Test func closeClosesIdleConnectionsNowAndLentOnesOnReturn() {
        var pool = Driver(size: 3)
        let lent = pool.openOne(), idle = pool.openOne()
        pool.giveBack(idle)
        #expect(pool.lease() == .use(idle))
        #expect(pool.lease() == .open)
        let late = pool.connect()
        pool.giveBack(idle)
        #expect(pool.close() == .init(close: [idle], wake: []))
        #expect(pool.statistics == stats(open: 2, inUse: 2, waiting: 0, size: 3))
        #expect(pool.lease() == .fail(.closed))
        #expect(pool.giveBack(lent) == .init(close: [lent], wake: []))
        #expect(pool.giveBack(late) == .init(close: [late], wake: []))
        #expect(pool.statistics == stats(open: 0, inUse: 0, waiting: 0, size: 3))
        #expect(pool.close() == .init(close: [], wake: []), "closing again does nothing more")
    }

    @Test func closeFailsEveryWaiterEvenOneWhoseDeadlinePassedMeanwhile() {
        var pool = Driver(size: 1)
        let lent = pool.openOne()
        #expect(pool.lease() == .wait(0))
        #expect(pool.lease() == .wait(1))
        #expect(pool.close() == .init(close: [], wake: [0, 1]))
        #expect(pool.statistics == stats(open: 1, inUse: 1, waiting: 0, size: 1))
        #expect(pool.resume(0, timedOut: false) == .fail(.closed))
        #expect(pool.resume(1, timedOut: true) == .fail(.closed))
        #expect(pool.giveBack(lent) == .init(close: [lent], wake: []))
    }

    @Test func afterCloseAFailedConnectWakesNobodyAndADeadConnectionIsNotReplaced() {
        var pool = Driver(size: 2)
        let connection = pool.openOne()
        pool.giveBack(connection)
        #expect(pool.lease() == .use(connection))
        #expect(pool.lease() == .open)
        pool.close()
        #expect(pool.connectFails() == .init(close: [], wake: []))
        #expect(pool.foundDead(connection) == .fail(.closed))
        #expect(pool.statistics == stats(open: 0, inUse: 0, waiting: 0, size: 2))
    }

    /// Many interleavings at once: random events from a fixed seed, with the driver's invariants checked
    /// after each, and at the end everything given back and closed leaves nothing open.
    @Test(arguments: [1, 2, 5])
    func randomEventSequencesNeverLoseOrDoubleLendAConnection(size: Int) {
        var random = SplitMix64(seed: UInt64(size))
        var pool = Driver(size: size)
        var waiting: [Int] = []
        for step in 0..<5_000 where pool.invariantsHold {
            if step == 4_000 { pool.close() }
            switch random.next() % 6 {
            case 0:
                if case .wait(let waiter) = pool.lease() { waiting.append(waiter) }
            case 1 where pool.opening > 0:
                if random.next() % 4 == 0 { pool.connectFails() } else { _ = pool.connect() }
            case 2 where !pool.held.isEmpty:
                let connection = pool.held.sorted()[Int(random.next() % UInt64(pool.held.count))]
                if random.next() % 5 == 0 { pool.foundDead(connection) } else {
                    pool.giveBack(connection, reusable: random.next() % 4 != 0)
                }
            case 3 where !waiting.isEmpty:
                let index = Int(random.next() % UInt64(waiting.count))
                if case .wait = pool.resume(waiting[index], timedOut: random.next() % 3 == 0) {} else {
                    waiting.remove(at: index)
                }
            default:
                for waiter in pool.woken.sorted() {
                    pool.resume(waiter, timedOut: false)
                    waiting.removeAll { $0 == waiter }
                }
            }
        }
        for waiter in waiting { pool.resume(waiter, timedOut: true) }
        while pool.opening > 0 { pool.connectFails() }
        for connection in pool.held.sorted() { pool.giveBack(connection) }
        #expect(pool.statistics == stats(open: 0, inUse: 0, waiting: 0, size: size))
        #expect(pool.closed.count == pool.created)
    }
}

/// A small seeded generator, so a failing random sequence can be replayed.
private struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
