import Crypto
import Foundation
public import Logging
public import PostgresClient
import TextCoding

/// One SQL migration file, `NNNN_description.sql`.
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let name: String
    public let sql: String
    /// SHA-256 of the file's bytes, hex; an applied file must never change.
    public let checksum: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
        self.checksum = Hex.encode(SHA256.hash(data: Array(sql.utf8)))
    }
}

public enum MigrationError: Error, CustomStringConvertible, Equatable {
    case unreadableDirectory(String, String)
    case badFileName(String)
    case duplicateVersion(Int)
    case checksumMismatch(version: Int, name: String)
    case unknownAppliedVersion(Int)
    case failed(version: Int, name: String, reason: String)

    public var description: String {
        switch self {
        case .unreadableDirectory(let path, let reason): return "cannot read migrations directory \(path): \(reason)"
        case .badFileName(let name): return "migration file \(name) is not named NNNN_description.sql"
        case .duplicateVersion(let v): return "two migration files share version \(v)"
        case .checksumMismatch(let v, let name):
            return "migration \(v) (\(name)) was changed after it was applied; restore the original file and add a new migration instead"
        case .unknownAppliedVersion(let v):
            return "the database has migration \(v) applied, but no such file exists here; is this binary older than the database?"
        case .failed(let v, let name, let reason): return "migration \(v) (\(name)) failed: \(reason)"
        }
    }

    /// True when running again cannot help: the files or the database's record of them must change
    /// first (a supervisor should not restart). A failed migration may be transient (a lock timeout, a
    /// dropped connection), so it is not.
    public var isPermanent: Bool {
        switch self {
        case .unreadableDirectory, .badFileName, .duplicateVersion, .checksumMismatch, .unknownAppliedVersion: return true
        case .failed: return false
        }
    }
}

/// Where each migration stands against a database.
public struct MigrationStatus: Sendable {
    public let applied: [(version: Int, name: String, appliedAt: String)]
    public let pending: [Migration]
}

/// Where the migrations come from.
public enum MigrationSource: Sendable, Equatable {
    /// `Migrations/*.sql` as they were when this binary was built (the EmbedMigrations build-tool plugin): a
    /// package ships one file, and the schema a binary expects cannot be separated from it.
    case embedded
    /// A directory of `NNNN_description.sql` files used instead of the embedded set (development, or a
    /// deliberate override).
    case directory(String)
}

/// Applies `Migrations/NNNN_*.sql` in order, each in its own transaction, recorded in `schema_migrations`,
/// under an advisory lock so two deploys cannot race.
public struct Migrator: Sendable {
    public let migrations: [Migration]
    /// Arbitrary constant naming workflowd's migration lock.
    static let advisoryLockKey: Int64 = 0x776F_726B_666C_6F77

    public init(migrations: [Migration]) throws(MigrationError) {
        let sorted = migrations.sorted { $0.version < $1.version }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.version == b.version {
            throw MigrationError.duplicateVersion(a.version)
        }
        self.migrations = sorted
    }

    public init(source: MigrationSource) throws(MigrationError) {
        switch source {
        case .embedded: try self.init(files: embeddedMigrationFiles)
        case .directory(let path): try self.init(directory: path)
        }
    }

    /// Reads every `*.sql` file of `directory`.
    public init(directory: String) throws(MigrationError) {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".sql") }
        } catch {
            throw MigrationError.unreadableDirectory(directory, "\(error.localizedDescription)")
        }
        var files: [(name: String, sql: String)] = []
        for name in names {
            guard let data = FileManager.default.contents(atPath: directory + "/" + name),
                let sql = String(data: data, encoding: .utf8)
            else { throw MigrationError.unreadableDirectory(directory, "cannot read \(name)") }
            files.append((name, sql))
        }
        try self.init(files: files)
    }

    /// `NNNN_description.sql` files and their text, from a directory or from the binary.
    init(files: [(name: String, sql: String)]) throws(MigrationError) {
        var migrations: [Migration] = []
        for file in files {
            guard let (version, label) = Self.parse(fileName: file.name) else { throw MigrationError.badFileName(file.name) }
            migrations.append(Migration(version: version, name: label, sql: file.sql))
        }
        try self.init(migrations: migrations)
    }

    /// `0002_workflow_instances.sql` → (2, "workflow_instances").
    static func parse(fileName: String) -> (Int, String)? {
        let stem = fileName.dropLast(4)
        guard let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]), version > 0,
            stem[..<underscore].allSatisfy(\.isNumber)
        else { return nil }
        let label = String(stem[stem.index(after: underscore)...])
        return label.isEmpty ? nil : (version, label)
    }

    public func status(on connection: PostgresConnection) throws -> MigrationStatus {
        try ensureTable(connection)
        let rows = try connection.query(
            "SELECT version, name, checksum, to_char(applied_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM schema_migrations ORDER BY version")
        var applied: [(Int, String, String)] = []
        var appliedVersions = Set<Int>()
        for row in rows {
            let version = try row.int(0)
            guard let migration = migrations.first(where: { $0.version == version }) else {
                throw MigrationError.unknownAppliedVersion(version)
            }
            guard migration.checksum == (try row.string(2)) else {
                throw MigrationError.checksumMismatch(version: version, name: migration.name)
            }
            applied.append((version, try row.string(1), try row.string(3)))
            appliedVersions.insert(version)
        }
        return MigrationStatus(applied: applied, pending: migrations.filter { !appliedVersions.contains($0.version) })
    }

    /// Applies what is pending; returns what it applied. Re-running is a no-op.
    @discardableResult
    public func migrate(on connection: PostgresConnection, logger: Logger) throws -> [Migration] {
        try ensureTable(connection)
        try connection.query("SELECT pg_advisory_lock(\(Self.advisoryLockKey))")
        defer { _ = try? connection.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))") }
        let pending = try status(on: connection).pending
        for migration in pending {
            do {
                try connection.transaction { tx in
                    try tx.executeScript(migration.sql)
                    try tx.query(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (\(migration.version), \(migration.name), \(migration.checksum))")
                }
            } catch let error as PostgresError {
                throw MigrationError.failed(version: migration.version, name: migration.name, reason: error.message)
            }
            logger.info("applied migration", metadata: ["migration.version": "\(migration.version)", "migration.name": "\(migration.name)"])
        }
        return pending
    }

    private func ensureTable(_ connection: PostgresConnection) throws {
        try connection.execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """)
    }
}
