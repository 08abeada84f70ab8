import ArgumentParser
import FastCGI
import Foundation
import Logging
import PostgresClient
import WorkflowAPI
import WorkflowStore
import Workflows

@main
struct Workflowd: AsyncParsableCommand {
    static let version = "0.1.0"
    static let configuration = CommandConfiguration(
        commandName: "workflowd",
        abstract: "A FastCGI responder for BMAD-method workflow instances, backed by PostgreSQL.",
        discussion: "Every option can also be set through the environment variable named in its help; a flag wins over the environment.",
        version: version,
        subcommands: [Serve.self, Migrate.self, Check.self, Token.self, OpenAPI.self])
}

/// Says why on one stderr line and picks the exit status: 2 for what a restart cannot fix (bad
/// settings, an unreadable migrations directory, an edited or unknown applied migration, pending
/// migrations, bad JWT keys, an unusable listen address), so that systemd's `RestartPreventExitStatus=2`
/// leaves it to an operator; 1 for the rest, which may pass (PostgreSQL not up yet), so it restarts.
func fail(_ error: any Error) -> ExitCode {
    FileHandle.standardError.write(Data("workflowd: \(error)\n".utf8))
    return ExitCode(exitStatus(for: error))
}

func exitStatus(for error: any Error) -> Int32 {
    switch error {
    case is ConfigurationError: return 2
    case let error as MigrationError: return error.isPermanent ? 2 : 1
    case let error as ListenError: return error.isPermanent ? 2 : 1
    default: return 1
    }
}

struct DatabaseFlags: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "PostgreSQL conninfo or postgresql:// URI. [env: DATABASE_URL; default: libpq's PG* variables]")
    var databaseURL: String?
    @Option(help: "Seconds to wait for a new PostgreSQL connection (min 2). [env: WORKFLOWD_CONNECT_TIMEOUT; default: 3]")
    var connectTimeout: Int?
    @Option(name: .customLong("statement-timeout-ms"), help: "Server-side limit per statement, ms; 0 = none. [env: WORKFLOWD_STATEMENT_TIMEOUT_MS; default: 5000]")
    var statementTimeoutMilliseconds: Int?
    @Option(help: "Directory of NNNN_name.sql migrations to use instead of those built in. [env: WORKFLOWD_MIGRATIONS_DIR; default: built in]")
    var migrationsDir: String?
    @Option(help: "PgBouncer pool_mode in front of --database-url: off or transaction. [env: WORKFLOWD_PGBOUNCER; default: off]")
    var pgbouncer: String?
    @Option(name: .customLong("migrations-database-url"), help: "PostgreSQL itself, for `migrate` (required with --pgbouncer transaction). [env: WORKFLOWD_MIGRATIONS_DATABASE_URL; default: --database-url]")
    var migrationsDatabaseURL: String?
}

struct ServeFlags: ParsableArguments {
    @Option(help: "Unix socket path to listen on. [env: WORKFLOWD_SOCKET]")
    var socket: String?
    @Option(help: "IPv4-ADDRESS:PORT to listen on, e.g. 127.0.0.1:9000. [env: WORKFLOWD_LISTEN]")
    var listen: String?
    @Option(help: "Permission bits of the unix socket, octal. [env: WORKFLOWD_SOCKET_MODE; default: 0660]")
    var socketMode: String?
    @Option(help: "Worker threads (requests served at once). [env: WORKFLOWD_WORKERS; default: max(8, 4 x cores)]")
    var workers: Int?
    @Option(help: "PostgreSQL connections in the pool. [env: WORKFLOWD_POOL_SIZE; default: --workers]")
    var poolSize: Int?
    @Option(name: .customLong("pool-timeout-ms"), help: "How long a request waits for a pooled connection before 503, ms. [env: WORKFLOWD_POOL_TIMEOUT_MS; default: 2000]")
    var poolTimeoutMilliseconds: Int?
    @Option(help: "Seconds in-flight requests and background jobs get to finish after SIGTERM. [env: WORKFLOWD_SHUTDOWN_GRACE; default: 10]")
    var shutdownGrace: Int?
    @Option(help: "HS256 secret, at least 32 bytes (prefer the environment). [env: WORKFLOWD_JWT_SECRET; this or --jwt-secret-file required]")
    var jwtSecret: String?
    @Option(help: "File with the HS256 secret (a second line: the previous one, while rotating); re-read on SIGHUP. [env: WORKFLOWD_JWT_SECRET_FILE]")
    var jwtSecretFile: String?
    @Option(help: "JWKS file with RS256/ES256 public keys; re-read on SIGHUP. [env: WORKFLOWD_JWKS_FILE]")
    var jwksFile: String?
    @Option(help: "Required iss claim. [env: WORKFLOWD_JWT_ISSUER]")
    var jwtIssuer: String?
    @Option(help: "Required aud claim. [env: WORKFLOWD_JWT_AUDIENCE]")
    var jwtAudience: String?
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the API over FastCGI until SIGTERM/SIGINT.",
        discussion: "Logs go to stderr (WORKFLOWD_LOG_FORMAT=json|text, WORKFLOWD_LOG_LEVEL). Refuses to start while migrations are pending. SIGHUP re-reads the JWT key files (WORKFLOWD_JWKS_FILE, WORKFLOWD_JWT_SECRET_FILE).")
    @OptionGroup var flags: ServeFlags
    @OptionGroup var database: DatabaseFlags

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        // First thing: a SIGTERM during startup then stops the process cleanly once it is up.
        let stop = StopRequest()
        let reload = ReloadRequest()
        let signals = ProcessSignals(handling: [SIGTERM, SIGINT, SIGHUP]) { number in
            if number == SIGHUP { reload.arrived() } else { stop.request(.signal(number)) }
        }
        defer { withExtendedLifetime(signals) {} }
        do {
            let logger = try Logging.bootstrap(environment: environment)
            let configuration = try ServeConfiguration.resolve(flags, database: database, environment: environment)
            let app = try await App.start(configuration, logger: logger)
            reload.setAction { [keys = app.keys] in await keys.reload() }
            let status = app.run(until: stop)
            guard status == 0 else { throw ExitCode(status) }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            throw fail(error)
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending SQL migrations (or list them with --status).",
        discussion: "Each file runs in its own transaction under an advisory lock; re-running is a no-op.")
    @Flag(help: "List applied and pending migrations; change nothing.")
    var status = false
    @OptionGroup var database: DatabaseFlags

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        do {
            let logger = try Logging.bootstrap(environment: environment)
            let settings = Settings(environment: environment)
            let migrator = try Migrator(source: database.migrationSource(settings))
            let connection = try PostgresConnection(configuration: try database.migrationConfiguration(settings))
            defer { connection.close() }
            if !status, let relay = try connection.relayHint() {
                FileHandle.standardError.write(Data("workflowd: warning: \(relay); if that is PgBouncer in transaction mode, the migration lock does not hold: point WORKFLOWD_MIGRATIONS_DATABASE_URL at PostgreSQL itself\n".utf8))
            }
            if status {
                let report = try migrator.status(on: connection)
                for applied in report.applied { print("applied  \(String(format: "%04d", applied.version))  \(applied.name)  \(applied.appliedAt)") }
                for pending in report.pending { print("pending  \(String(format: "%04d", pending.version))  \(pending.name)") }
            } else {
                let applied = try migrator.migrate(on: connection, logger: logger)
                print(applied.isEmpty ? "database is up to date" : "applied \(applied.count) migration(s)")
            }
        } catch {
            throw fail(error)
        }
    }
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate the configuration, connect to the database and report pending migrations (like nginx -t).",
        discussion: "Exits 0 when `workflowd serve` would start with these settings, non-zero with a message otherwise.")
    @OptionGroup var flags: ServeFlags
    @OptionGroup var database: DatabaseFlags

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        do {
            let configuration = try ServeConfiguration.resolve(
                flags, database: database, environment: environment, requireListenAddress: false)
            let migrator = try Migrator(source: configuration.migrations)
            _ = try await App.makeVerifier(configuration)
            let connection = try PostgresConnection(configuration: configuration.database)
            defer { connection.close() }
            print("configuration ok: listen \(configuration.address), \(configuration.workers) workers, pool \(configuration.poolSize), database \(connection.target.map(String.init(describing:)) ?? "?")")
            try App.requireNoPendingMigrations(migrator, on: connection)
            print("migrations ok: none pending")
        } catch {
            throw fail(error)
        }
    }
}

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a signed HS256 token for development, tests and ops (uses WORKFLOWD_JWT_SECRET or the first line of WORKFLOWD_JWT_SECRET_FILE).")
    @Option(help: "The user id (a UUID).")
    var sub: String
    @Option(help: "A role: Participant, Viewer, Approver or Admin (repeatable).")
    var role: [String] = []
    @Option(help: "Lifetime, e.g. 90s, 15m, 1h, 2d.")
    var ttl = "1h"
    @Option(help: "HS256 secret. [env: WORKFLOWD_JWT_SECRET]")
    var jwtSecret: String?
    @Option(help: "File whose first line is the HS256 secret. [env: WORKFLOWD_JWT_SECRET_FILE]")
    var jwtSecretFile: String?

    func run() async throws {
        do {
            let settings = Settings(environment: ProcessInfo.processInfo.environment)
            var secret = settings.string(jwtSecret, env: "WORKFLOWD_JWT_SECRET")
            if secret == nil, let path = settings.string(jwtSecretFile, env: "WORKFLOWD_JWT_SECRET_FILE") {
                do throws(TokenKeyError) {
                    secret = try TokenKeySources(secret: .file(path: path)).read().hmacSecrets.first
                } catch {
                    throw ConfigurationError(error.description)
                }
            }
            guard let secret, secret.utf8.count >= 32 else {
                throw ConfigurationError("WORKFLOWD_JWT_SECRET (or the first line of WORKFLOWD_JWT_SECRET_FILE) must be at least 32 bytes")
            }
            guard let subject = UUID(uuidString: sub) else { throw ConfigurationError("--sub must be a UUID, got \(sub.debugDescription)") }
            let roles = try role.map { name in
                guard let role = Role(rawValue: name) else { throw ConfigurationError("--role must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", ")), got \(name.debugDescription)") }
                return role
            }
            guard let seconds = parseDuration(ttl) else { throw ConfigurationError("--ttl must look like 90s, 15m, 1h or 2d") }
            print(try await TokenMinter.mint(secret: secret, subject: subject, roles: roles, ttl: seconds))
        } catch {
            throw fail(error)
        }
    }
}

struct OpenAPI: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "openapi", abstract: "Print the OpenAPI 3.1 document of the API.")
    func run() { print(OpenAPIDocument.json) }
}
