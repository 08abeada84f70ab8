import Foundation
import Logging
import TestSupport
import Testing
@testable import PostgresClient

@Suite(.enabled(if: TestEnvironment.hasDatabase, Comment(rawValue: TestEnvironment.skipReason)))
struct PostgresPoolTests {
    let logger = Logger(label: "test")

    func pool(url: String, size: Int, wait: Duration = .milliseconds(300), statementTimeout: Int = 5000) -> PostgresPool {
        PostgresPool(
            configuration: PostgresConfiguration(connectionString: url, statementTimeoutMilliseconds: statementTimeout),
            size: size, checkoutTimeout: wait, logger: logger)
    }

    @Test func parameterisedQueriesRoundTripValuesWithoutInjection() throws {
        let database = try TestDatabase.create(migrated: false)
        let pool = pool(url: database.url, size: 1)
        defer { pool.close() }
        let hostile = "'; DROP TABLE x; --"
        let rows = try pool.withConnection { try $0.query("SELECT \(hostile)::text, \(42)::int, \(Optional<String>.none)::text, \(true)::bool") }
        #expect(try rows.first?.string(0) == hostile)
        #expect(try rows.first?.int(1) == 42)
        #expect(rows.first?.isNull(2) == true)
        #expect(try rows.first?.bool(3) == true)
    }

    @Test func exhaustedPoolFailsInTimeInsteadOfHanging() throws {
        let database = try TestDatabase.create(migrated: false)
        let pool = pool(url: database.url, size: 1, wait: .milliseconds(300))
        defer { pool.close() }
        let held = HeldConnection(from: pool)
        let started = Date()
        do {
            try pool.withConnection { _ in }
            Issue.record("checked out a second connection from a pool of one")
        } catch let error as PostgresError {
            #expect(error.kind == .poolTimeout)
        }
        let waited = Date().timeIntervalSince(started)
        #expect(waited >= 0.25 && waited < 2, "waited \(waited) s")
        #expect(pool.statistics.inUse == 1)
        held.giveBack()
        _ = try pool.withConnection { try $0.query("SELECT 1") }
    }

    @Test func aWaiterIsHandedTheConnectionReturnedWhileItWaits() throws {
        let database = try TestDatabase.create(migrated: false)
        let pool = pool(url: database.url, size: 1, wait: .seconds(5))
        defer { pool.close() }
        let held = HeldConnection(from: pool)
        Thread.detachNewThread {
            waitUntil { pool.statistics.waiting == 1 }
            held.release.signal()
        }
        let started = Date()
        #expect(try pool.withConnection { try $0.query("SELECT 1").first?.int(0) } == 1)
        #expect(Date().timeIntervalSince(started) < 2, "served on return, not at the deadline")
        #expect(pool.statistics == PoolStatistics(size: 1, open: 1, inUse: 0, waiting: 0))
    }

    @Test func closeFailsAWaiterAtOnceAndClosesTheLentConnectionOnReturn() throws {
        let database = try TestDatabase.create(migrated: false)
        let pool = pool(url: database.url, size: 1, wait: .seconds(10))
        let held = HeldConnection(from: pool)
        Thread.detachNewThread {
            waitUntil { pool.statistics.waiting == 1 }
            pool.close()
        }
        let started = Date()
        do {
            try pool.withConnection { _ in }
            Issue.record("checked out a connection from a closed pool")
        } catch let error as PostgresError {
            #expect(error.kind == .poolClosed)
        }
        #expect(Date().timeIntervalSince(started) < 5, "woken by close, not by the 10 s deadline")
        #expect(pool.statistics == PoolStatistics(size: 1, open: 1, inUse: 1, waiting: 0))
        held.giveBack()
        #expect(pool.statistics == PoolStatistics(size: 1, open: 0, inUse: 0, waiting: 0))
    }

    @Test func aThrownErrorInsideATransactionLeavesNothingWritten() throws {
        let database = try TestDatabase.create(migrated: false)
        let pool = pool(url: database.url, size: 1)
        defer { pool.close() }
        try pool.withConnection { try $0.executeScript("CREATE TABLE t (v int)") }
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try pool.withTransaction { connection in
                try connection.query("INSERT INTO t VALUES (\(1))")
                throw Boom()
            }
        }
        #expect(try pool.withConnection { try $0.query("SELECT count(*) FROM t").first?.int(0) } == 0)
        #expect(pool.statistics.open == 1, "the connection went back to the pool, out of its transaction")
    }

    @Test func serverErrorsKeepTheirSQLState() throws {
        let database = try TestDatabase.create(migrated: false)
        let pool = pool(url: database.url, size: 1, statementTimeout: 100)
        defer { pool.close() }
        do {
            _ = try pool.withConnection { try $0.query("SELECT \(1)::int / 0") }
            Issue.record("division by zero succeeded")
        } catch let error as PostgresError {
            #expect(error.sqlState == "22012")
            #expect(!error.isTransient)
        }
        do {
            _ = try pool.withConnection { try $0.query("SELECT pg_sleep(1)") }
            Issue.record("statement_timeout did not fire")
        } catch let error as PostgresError {
            #expect(error.sqlState == "57014")
            #expect(error.isTransient)
        }
    }
}

/// A connection checked out on a thread of its own, so that the test's thread finds the pool busy.
private struct HeldConnection {
    let release = DispatchSemaphore(value: 0)
    let returned = DispatchSemaphore(value: 0)

    /// Returns once the connection is checked out.
    init(from pool: PostgresPool) {
        let holding = DispatchSemaphore(value: 0)
        Thread.detachNewThread { [release, returned] in
            try? pool.withConnection { _ in
                holding.signal()
                release.wait()
            }
            returned.signal()
        }
        holding.wait()
    }

    /// Returns once the connection is back in the pool (or closed, if the pool is).
    func giveBack() {
        release.signal()
        returned.wait()
    }
}

/// Polls `condition` for up to 5 s: only for tests that need another thread to be parked in the pool first.
private func waitUntil(_ condition: () -> Bool) {
    let deadline = Date(timeIntervalSinceNow: 5)
    while !condition() && Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
}

/// Tests that stop and restart PostgreSQL run on a cluster of their own.
@Suite(.serialized, .enabled(if: TestEnvironment.hasDatabase, Comment(rawValue: TestEnvironment.skipReason)))
struct PostgresRestartTests {
    @Test func poolHealsAfterAServerRestartWithoutRestartingTheClient() throws {
        let cluster = try PostgresCluster.start(name: "pool-restart")
        defer { cluster.destroy() }
        let pool = PostgresPool(
            configuration: PostgresConfiguration(connectionString: cluster.url), size: 2, checkoutTimeout: .seconds(1),
            logger: Logger(label: "test"))
        defer { pool.close() }
        // Open both connections, then leave them idle across the restart.
        let held = HeldConnection(from: pool)
        _ = try pool.withConnection { try $0.query("SELECT 1") }
        held.giveBack()
        #expect(pool.statistics.open == 2)

        try cluster.restart()
        for _ in 0..<4 {
            #expect(try pool.withConnection { try $0.query("SELECT 1").first?.int(0) } == 1)
        }

        try cluster.stop()
        do {
            _ = try pool.withConnection { try $0.query("SELECT 1") }
            Issue.record("query succeeded while PostgreSQL was down")
        } catch let error as PostgresError {
            #expect(error.kind == .connectionFailed)
            #expect(error.isTransient)
        }
        try cluster.start()
        #expect(try pool.withConnection { try $0.query("SELECT 1").first?.int(0) } == 1)
    }
}
