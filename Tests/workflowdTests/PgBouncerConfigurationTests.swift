import ArgumentParser
import PostgresClient
import Testing
@testable import workflowd

@Suite struct PgBouncerConfigurationTests {
    func database(_ arguments: [String]) throws -> DatabaseFlags { try DatabaseFlags.parse(arguments) }

    @Test func poolingIsSessionUnlessTransactionIsAskedForAndFlagsWin() throws {
        let none = Settings(environment: [:])
        #expect(try database([]).resolve(none).pooling == .session)
        let env = Settings(environment: ["WORKFLOWD_PGBOUNCER": "transaction"])
        #expect(try database([]).resolve(env).pooling == .transaction)
        #expect(try database(["--pgbouncer", "off"]).resolve(env).pooling == .session)
        #expect(try database(["--pgbouncer", "session"]).resolve(none).pooling == .session)
        #expect(throws: ConfigurationError.self) { try database(["--pgbouncer", "statement"]).resolve(none) }
    }

    @Test func migrateUsesTheDirectURLAndNeverTheTransactionMode() throws {
        let env = Settings(environment: [
            "DATABASE_URL": "postgresql://bouncer:6432/w", "WORKFLOWD_PGBOUNCER": "transaction",
            "WORKFLOWD_MIGRATIONS_DATABASE_URL": "postgresql://db:5432/w",
        ])
        let migration = try database([]).migrationConfiguration(env)
        #expect(migration.connectionString == "postgresql://db:5432/w")
        #expect(migration.pooling == .session)
        #expect(try database(["--migrations-database-url", "postgresql://other/w"]).migrationConfiguration(env).connectionString
            == "postgresql://other/w")
        let direct = Settings(environment: ["DATABASE_URL": "postgresql://db:5432/w"])
        #expect(try database([]).migrationConfiguration(direct).connectionString == "postgresql://db:5432/w")
    }

    @Test func migrateBehindTransactionPoolingWithoutADirectURLIsAConfigurationError() throws {
        let env = Settings(environment: ["DATABASE_URL": "postgresql://bouncer:6432/w", "WORKFLOWD_PGBOUNCER": "transaction"])
        let error = #expect(throws: ConfigurationError.self) { try database([]).migrationConfiguration(env) }
        #expect(error?.description.contains("WORKFLOWD_MIGRATIONS_DATABASE_URL") == true)
    }
}
