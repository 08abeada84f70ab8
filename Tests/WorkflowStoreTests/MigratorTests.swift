import Foundation
import Logging
import PostgresClient
import TestSupport
import Testing
@testable import WorkflowStore

@Suite struct MigratorUnitTests {
    @Test func filesAreOrderedByVersionNotByName() throws {
        let migrator = try Migrator(migrations: [
            Migration(version: 10, name: "ten", sql: "x"), Migration(version: 2, name: "two", sql: "y"),
            Migration(version: 1, name: "one", sql: "z"),
        ])
        #expect(migrator.migrations.map(\.version) == [1, 2, 10])
    }

    @Test func duplicateVersionsAreRefused() {
        #expect(throws: MigrationError.duplicateVersion(1)) {
            try Migrator(migrations: [Migration(version: 1, name: "a", sql: ""), Migration(version: 1, name: "b", sql: "")])
        }
    }

    @Test func fileNamesParse() {
        #expect(Migrator.parse(fileName: "0002_workflow_instances.sql")! == (2, "workflow_instances"))
        #expect(Migrator.parse(fileName: "initial.sql") == nil)
        #expect(Migrator.parse(fileName: "0003_.sql") == nil)
        #expect(Migrator.parse(fileName: "x1_y.sql") == nil)
    }

    /// Found from this file's place in the repository, so the tests run without `make test` too.
    static let migrationsDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Migrations").path

    @Test func theProjectsMigrationsLoad() throws {
        let migrator = try Migrator(directory: Self.migrationsDirectory)
        #expect(migrator.migrations.map(\.version) == Array(1...migrator.migrations.count))
    }

    @Test func theBuiltInMigrationsAreExactlyTheMigrationsDirectory() throws {
        let builtIn = try Migrator(source: .embedded).migrations
        let directory = try Migrator(source: .directory(Self.migrationsDirectory)).migrations
        #expect(!builtIn.isEmpty)
        #expect(builtIn.map(\.version) == directory.map(\.version))
        #expect(builtIn.map(\.checksum) == directory.map(\.checksum))
        #expect(builtIn == directory)
    }

    @Test func aBadlyNamedFileIsRefusedWhereverItComesFrom() {
        #expect(throws: MigrationError.badFileName("initial.sql")) {
            try Migrator(files: [("0001_first.sql", "SELECT 1"), ("initial.sql", "SELECT 2")])
        }
    }
}

@Suite(.enabled(if: TestEnvironment.hasDatabase, Comment(rawValue: TestEnvironment.skipReason)))
struct MigratorDatabaseTests {
    let logger = Logger(label: "test")

    @Test func migrateAppliesInOrderOnceAndReportsStatus() throws {
        let database = try TestDatabase.create(migrated: false)
        let connection = try database.connect()
        defer { connection.close() }
        let migrator = try Migrator(migrations: [
            Migration(version: 2, name: "second", sql: "INSERT INTO t VALUES (2)"),
            Migration(version: 1, name: "first", sql: "CREATE TABLE t (v int)"),
        ])
        #expect(try migrator.status(on: connection).pending.count == 2)
        #expect(try migrator.migrate(on: connection, logger: logger).map(\.version) == [1, 2])
        #expect(try migrator.migrate(on: connection, logger: logger).isEmpty)
        #expect(try connection.query("SELECT count(*) FROM t").first?.int(0) == 1)
        let status = try migrator.status(on: connection)
        #expect(status.applied.map(\.version) == [1, 2])
        #expect(status.pending.isEmpty)
    }

    @Test func aChangedAppliedFileIsAClearError() throws {
        let database = try TestDatabase.create(migrated: false)
        let connection = try database.connect()
        defer { connection.close() }
        try Migrator(migrations: [Migration(version: 1, name: "first", sql: "CREATE TABLE t (v int)")]).migrate(on: connection, logger: logger)
        let edited = try Migrator(migrations: [Migration(version: 1, name: "first", sql: "CREATE TABLE t (v bigint)")])
        #expect(throws: MigrationError.checksumMismatch(version: 1, name: "first")) { try edited.migrate(on: connection, logger: logger) }
    }

    /// Migrations/0013 and 0015: writes never merge a GIN pending list (a third of a second, now and then).
    @Test func theGINIndexesHaveNoPendingLists() throws {
        let database = try TestDatabase.create(migrated: true)
        let connection = try database.connect()
        defer { connection.close() }
        let rows = try connection.query("""
            SELECT relname, array_to_string(reloptions, ',') FROM pg_class c JOIN pg_am a ON a.oid = c.relam
            WHERE a.amname = 'gin' AND relname LIKE 'workflow%' ORDER BY relname
            """)
        #expect(rows.map { try? $0.string(0) } == ["workflow_instance_documents_context", "workflow_instance_documents_step_data"])
        #expect(rows.map { $0.optionalString(1) } == ["fastupdate=off", "fastupdate=off"])
    }

    /// Migrations/0015 moves every instance's context and step_data to workflow_instance_documents, and the
    /// columns (with their GIN indexes) leave workflow_instances.
    @Test func theDocumentsMoveToTheirOwnTable() throws {
        let database = try TestDatabase.create(migrated: false)
        let connection = try database.connect()
        defer { connection.close() }
        let all = try Migrator(source: .directory(MigratorUnitTests.migrationsDirectory)).migrations
        let moving = try #require(all.first { $0.name == "instance_documents" })
        try Migrator(migrations: all.filter { $0.version < moving.version }).migrate(on: connection, logger: logger)
        try connection.query("""
            INSERT INTO workflow_instances (id, workflow_definition_id, user_id, status, current_step, context, step_data)
            VALUES ('00000000-0000-7000-8000-000000000001', 'create-prd', '00000000-0000-4000-8000-000000000009', 'Running', 2,
                    '{"projectName": "Apollo"}', '{"step-1": {"done": true}}'),
                   ('00000000-0000-7000-8000-000000000002', 'create-prd', '00000000-0000-4000-8000-000000000009', 'Created', 0,
                    '{}', '{}')
            """)
        #expect(try Migrator(migrations: all).migrate(on: connection, logger: logger).map(\.version) == [moving.version])
        let rows = try connection.query("""
            SELECT workflow_instance_id::text, context::text, step_data::text FROM workflow_instance_documents ORDER BY 1
            """)
        #expect(rows.map { [try? $0.string(0), try? $0.string(1), try? $0.string(2)] } == [
            ["00000000-0000-7000-8000-000000000001", #"{"projectName": "Apollo"}"#, #"{"step-1": {"done": true}}"#],
            ["00000000-0000-7000-8000-000000000002", "{}", "{}"],
        ])
        let columns = try connection.query("""
            SELECT count(*) FROM information_schema.columns
            WHERE table_name = 'workflow_instances' AND column_name IN ('context', 'step_data')
            """)
        #expect(try columns.first?.int(0) == 0)
    }

    @Test func aFailingMigrationLeavesNothingBehind() throws {
        let database = try TestDatabase.create(migrated: false)
        let connection = try database.connect()
        defer { connection.close() }
        let migrator = try Migrator(migrations: [
            Migration(version: 1, name: "broken", sql: "CREATE TABLE half (v int); SELECT * FROM no_such_table"),
        ])
        #expect(throws: MigrationError.self) { try migrator.migrate(on: connection, logger: logger) }
        #expect(try connection.query("SELECT to_regclass('half') IS NULL").first?.bool(0) == true)
        #expect(try migrator.status(on: connection).pending.count == 1)
    }
}
