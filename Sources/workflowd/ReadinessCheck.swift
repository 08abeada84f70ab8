import PostgresClient
import WorkflowAPI
import WorkflowStore

/// Readiness for `GET /api/v1/health` and `/api/v1/health/ready`: PostgreSQL answers through the pool (so a
/// saturated pool shows too) and every migration this binary knows is applied, unchanged. One read-only
/// round trip: no DDL and no lock, so probing often costs the database nothing.
///
/// A database *ahead* of the binary (a newer release migrated it during a rolling upgrade) counts as
/// ready: migrations are forward-only and additive, and the old processes must keep serving until they
/// are replaced. `serve` still refuses to *start* against one.
struct ReadinessCheck: Sendable {
    let pool: PostgresPool
    let migrations: [Migration]

    func report() -> HealthReport {
        do {
            let applied = try pool.withConnection { connection in
                try connection.query("SELECT version, checksum FROM schema_migrations").map { row in
                    (version: try row.int(0), checksum: try row.string(1))
                }
            }
            return Self.compare(applied: applied, known: migrations)
        } catch let error as PostgresError {
            return Self.report(for: error)
        } catch {
            return HealthReport(reason: .databaseUnreachable, detail: "\(error)")
        }
    }

    /// The reason code for a failed check; the full libpq message travels as the (log-only) detail.
    static func report(for error: PostgresError) -> HealthReport {
        let reason: HealthReport.Reason
        switch error.kind {
        case .poolTimeout: reason = .poolExhausted
        case .poolClosed: reason = .shuttingDown
        case .server where error.sqlState == "42P01": reason = .migrationsPending  // no schema_migrations: a fresh database
        case .connectionFailed, .server, .decoding: reason = .databaseUnreachable
        }
        return HealthReport(reason: reason, detail: "\(error.kind.rawValue)\(error.sqlState.map { " \($0)" } ?? ""): \(error.message)")
    }

    /// Pending wins over changed: the cure for pending (`workflowd migrate`) is the usual one.
    static func compare(applied: [(version: Int, checksum: String)], known: [Migration]) -> HealthReport {
        let checksums = Dictionary(applied.map { ($0.version, $0.checksum) }, uniquingKeysWith: { first, _ in first })
        let pending = known.filter { checksums[$0.version] == nil }
        if !pending.isEmpty {
            return HealthReport(reason: .migrationsPending, detail: "pending: \(pending.map { "\($0.version)_\($0.name)" }.joined(separator: ", "))")
        }
        let changed = known.filter { checksums[$0.version] != $0.checksum }
        if !changed.isEmpty {
            return HealthReport(reason: .migrationsChanged, detail: "changed after being applied: \(changed.map { "\($0.version)_\($0.name)" }.joined(separator: ", "))")
        }
        return .ready
    }
}
