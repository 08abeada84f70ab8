import TestSupport
import Testing
import PostgresClient

@Suite(.enabled(if: TestEnvironment.hasDatabase, Comment(rawValue: TestEnvironment.skipReason)))
struct PlansEachExecutionTests {
    /// A statement whose plan must see its values is sent unprepared (so PostgreSQL never caches a
    /// generic plan for it), with its binds still sent apart from the SQL; the others are prepared once.
    @Test func aStatementThatPlansEachExecutionIsNeverPrepared() throws {
        let database = try TestDatabase.create(migrated: false)
        let connection = try database.connect()
        defer { connection.close() }
        let hostile = #"{"a": "'; DROP TABLE x; --"}"#
        var containment: PostgresQuery = "SELECT \(hostile)::jsonb @> \(#"{"a": "'; DROP TABLE x; --"}"#)::jsonb"
        containment.plansEachExecution = true
        for _ in 1...7 { #expect(try connection.query(containment).first?.bool(0) == true) }
        let prepared = "SELECT statement FROM pg_prepared_statements ORDER BY name"
        #expect(try connection.query(PostgresQuery(stringLiteral: prepared)).map { try $0.string(0) } == [prepared])
        #expect(try connection.query(containment).first?.bool(0) == true)
    }
}
