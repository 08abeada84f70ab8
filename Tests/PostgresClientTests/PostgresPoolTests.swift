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
        let holding = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            try? pool.withConnection { _ in
                holding.signal()
                release.wait()
            }
        }
        holding.wait()
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
        release.signal()
        Thread.sleep(forTimeInterval: 0.1)
        _ = try pool.withConnection { try $0.query("SELECT 1") }
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
        let hold = DispatchSemaphore(value: 0)
        let held = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = try? pool.withConnection { _ in held.signal(); hold.wait() }
        }
        held.wait()
        _ = try pool.withConnection { try $0.query("SELECT 1") }
        hold.signal()
        Thread.sleep(forTimeInterval: 0.1)
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
