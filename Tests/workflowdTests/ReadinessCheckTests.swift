import PostgresClient
import Testing
import WorkflowAPI
import WorkflowStore
@testable import workflowd

@Suite struct ReadinessCheckTests {
    let known = [
        Migration(version: 1, name: "init", sql: "CREATE TABLE a (x int);"),
        Migration(version: 2, name: "more", sql: "CREATE TABLE b (x int);"),
    ]

    @Test func everyKnownMigrationAppliedUnchangedIsReady() {
        let applied = known.map { (version: $0.version, checksum: $0.checksum) }
        #expect(ReadinessCheck.compare(applied: applied, known: known).reason == nil)
    }

    /// A newer release migrated the database during a rolling upgrade: the old processes keep serving.
    @Test func aDatabaseAheadOfTheBinaryIsReady() {
        let applied = known.map { (version: $0.version, checksum: $0.checksum) } + [(version: 3, checksum: "abc")]
        #expect(ReadinessCheck.compare(applied: applied, known: known).reason == nil)
    }

    @Test func aMissingMigrationIsPendingAndNamed() {
        let report = ReadinessCheck.compare(applied: [(version: 1, checksum: known[0].checksum)], known: known)
        #expect(report.reason == .migrationsPending)
        #expect(report.detail?.contains("2_more") == true)
    }

    @Test func anEditedAppliedMigrationIsChanged() {
        let report = ReadinessCheck.compare(applied: [(version: 1, checksum: known[0].checksum), (version: 2, checksum: "edited")], known: known)
        #expect(report.reason == .migrationsChanged)
        #expect(report.detail?.contains("2_more") == true)
    }

    @Test(arguments: [
        (PostgresError(kind: .connectionFailed, message: "connection to server at \"10.0.0.5\", port 5432 failed"), HealthReport.Reason.databaseUnreachable),
        (PostgresError(kind: .poolTimeout, message: "no connection within 2 s"), .poolExhausted),
        (PostgresError(kind: .poolClosed, message: "closed"), .shuttingDown),
        (PostgresError(kind: .server, sqlState: "42P01", message: "relation \"schema_migrations\" does not exist"), .migrationsPending),
        (PostgresError(kind: .server, sqlState: "57P01", message: "terminating connection due to administrator command"), .databaseUnreachable),
    ])
    func errorsMapToStableReasonsAndKeepLibpqsMessageAsDetail(_ error: PostgresError, _ reason: HealthReport.Reason) {
        let report = ReadinessCheck.report(for: error)
        #expect(report.reason == reason)
        #expect(report.detail?.contains(error.message) == true)
    }
}
