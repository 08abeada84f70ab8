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

/// Exits with code 2 and a one-line message for configuration problems.
func fail(_ error: any Error) -> ExitCode {
    FileHandle.standardError.write(Data("workflowd: \(error)\n".utf8))
    return error is ConfigurationError ? ExitCode(2) : ExitCode.failure
}

struct DatabaseFlags: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "PostgreSQL conninfo or postgresql:// URI. [env: DATABASE_URL; default: libpq's PG* variables]")
    var databaseURL: String?
    @Option(help: "Seconds to wait for a new PostgreSQL connection (min 2). [env: WORKFLOWD_CONNECT_TIMEOUT; default: 3]")
    var connectTimeout: Int?
    @Option(name: .customLong("statement-timeout-ms"), help: "Server-side limit per statement, ms; 0 = none. [env: WORKFLOWD_STATEMENT_TIMEOUT_MS; default: 5000]")
    var statementTimeoutMilliseconds: Int?
    @Option(help: "Directory of NNNN_name.sql migrations. [env: WORKFLOWD_MIGRATIONS_DIR; default: Migrations]")
    var migrationsDir: String?
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
    @Option(help: "Seconds in-flight requests get to finish after SIGTERM. [env: WORKFLOWD_SHUTDOWN_GRACE; default: 10]")
    var shutdownGrace: Int?
    @Option(help: "HS256 secret, at least 32 bytes (prefer the environment). [env: WORKFLOWD_JWT_SECRET; required]")
    var jwtSecret: String?
    @Option(help: "JWKS file with RS256/ES256 public keys. [env: WORKFLOWD_JWKS_FILE]")
    var jwksFile: String?
    @Option(help: "Required iss claim. [env: WORKFLOWD_JWT_ISSUER]")
    var jwtIssuer: String?
    @Option(help: "Required aud claim. [env: WORKFLOWD_JWT_AUDIENCE]")
    var jwtAudience: String?
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the API over FastCGI until SIGTERM/SIGINT.",
        discussion: "Logs go to stderr (WORKFLOWD_LOG_FORMAT=json|text, WORKFLOWD_LOG_LEVEL). Refuses to start while migrations are pending.")
    @OptionGroup var flags: ServeFlags
    @OptionGroup var database: DatabaseFlags

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        do {
            let logger = try Logging.bootstrap(environment: environment)
            let configuration = try ServeConfiguration.resolve(flags, database: database, environment: environment)
            let app = try await App.start(configuration, logger: logger)
            guard app.run() else { throw ExitCode.failure }
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
            let migrator = try Migrator(directory: database.migrationsDirectory(settings))
            let connection = try PostgresConnection(configuration: try database.resolve(settings))
            defer { connection.close() }
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
            let migrator = try Migrator(directory: configuration.migrationsDirectory)
            _ = try await App.makeVerifier(configuration)
            let connection = try PostgresConnection(configuration: configuration.database)
            defer { connection.close() }
            let pending = try migrator.status(on: connection).pending
            print("configuration ok: listen \(configuration.address), \(configuration.workers) workers, pool \(configuration.poolSize), database \(connection.target.map(String.init(describing:)) ?? "?")")
            guard pending.isEmpty else {
                throw ConfigurationError("\(pending.count) migration(s) pending: \(pending.map { "\($0.version)_\($0.name)" }.joined(separator: ", ")); run `workflowd migrate`")
            }
            print("migrations ok: none pending")
        } catch {
            throw fail(error)
        }
    }
}

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a signed HS256 token for development, tests and ops (uses WORKFLOWD_JWT_SECRET).")
    @Option(help: "The user id (a UUID).")
    var sub: String
    @Option(help: "A role: Participant, Viewer, Approver or Admin (repeatable).")
    var role: [String] = []
    @Option(help: "Lifetime, e.g. 90s, 15m, 1h, 2d.")
    var ttl = "1h"
    @Option(help: "HS256 secret. [env: WORKFLOWD_JWT_SECRET]")
    var jwtSecret: String?

    func run() async throws {
        do {
            let settings = Settings(environment: ProcessInfo.processInfo.environment)
            guard let secret = settings.string(jwtSecret, env: "WORKFLOWD_JWT_SECRET"), secret.utf8.count >= 32 else {
                throw ConfigurationError("WORKFLOWD_JWT_SECRET must be set to at least 32 bytes")
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
