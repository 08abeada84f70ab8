import FastCGI
import Foundation
import PostgresClient
import WebhookClient
import WorkflowAPI
import WorkflowStore

/// A configuration problem, stated so that an operator can fix it. `workflowd` exits with code 2.
struct ConfigurationError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Reads settings with the precedence flag > environment > default, and validates each one.
struct Settings {
    let environment: [String: String]

    func string(_ flag: String?, env: String) -> String? {
        if let flag, !flag.isEmpty { return flag }
        if let value = environment[env], !value.isEmpty { return value }
        return nil
    }

    func integer(_ flag: Int?, env: String, default value: Int, range: ClosedRange<Int>, name: String) throws -> Int {
        let result: Int
        if let flag {
            result = flag
        } else if let text = environment[env], !text.isEmpty {
            guard let parsed = Int(text) else { throw ConfigurationError("\(env) must be an integer, got \(text.debugDescription)") }
            result = parsed
        } else {
            return value
        }
        guard range.contains(result) else {
            throw ConfigurationError("\(name) must be between \(range.lowerBound) and \(range.upperBound), got \(result)")
        }
        return result
    }
}

enum LogFormat: String {
    case json, text
}

/// Everything `workflowd serve` needs, validated.
struct ServeConfiguration {
    var address: ListenAddress
    var workers: Int
    var database: PostgresConfiguration
    var poolSize: Int
    var poolTimeout: Duration
    /// The HS256 secret as a value (read once) or a file (read again on every reload).
    var jwtSecret: TokenKeySources.Secret
    var jwksFile: String?
    var jwtIssuer: String?
    var jwtAudience: String?
    var migrations: MigrationSource
    var shutdownGrace: Duration
    // Live updates (long-poll, SSE): environment only.
    /// The LISTEN connection's own setting (`WORKFLOWD_LISTEN_DATABASE_URL`, default `DATABASE_URL`):
    /// behind PgBouncer in transaction mode it must point at PostgreSQL itself.
    var listenDatabase: PostgresConfiguration
    var maxWaiters: Int
    var live: LiveSettings
    /// Where webhook deliveries may connect (`WORKFLOWD_WEBHOOK_ALLOW`, added to the public internet).
    var webhookPolicy = DestinationPolicy()
    /// Delivery threads in this process (`WORKFLOWD_WEBHOOK_WORKERS`; 0: this process delivers nothing).
    var webhookWorkers = 2
    /// How long a claimed delivery stays with its worker (`WORKFLOWD_WEBHOOK_LEASE_SECONDS`): after that, a
    /// delivery whose worker died is claimed by another. Longer than an attempt's 10 s timeout.
    var webhookLease: Duration = .seconds(60)
    /// The wait before the first retry (`WORKFLOWD_WEBHOOK_FIRST_RETRY_MS`); each further one doubles it.
    var webhookFirstRetry: Duration = .seconds(2)
    /// Origins whose browser scripts may call the API (`WORKFLOWD_CORS_ORIGINS`; environment only).
    var cors: CORSPolicy

    static var defaultWorkers: Int { FastCGIServerConfiguration.defaultWorkers }

    /// `requireListenAddress: false` (for `check`) accepts the absence of --socket/--listen, as under
    /// socket activation, where only the running service gets the socket.
    static func resolve(
        _ flags: ServeFlags, database: DatabaseFlags, environment: [String: String], requireListenAddress: Bool = true
    ) throws -> ServeConfiguration {
        let settings = Settings(environment: environment)
        let address = try listenAddress(flags, settings, required: requireListenAddress)
        let workers = try settings.integer(flags.workers, env: "WORKFLOWD_WORKERS", default: defaultWorkers, range: 1...1024, name: "--workers")
        let poolSize = try settings.integer(flags.poolSize, env: "WORKFLOWD_POOL_SIZE", default: workers, range: 1...1000, name: "--pool-size")
        let poolTimeout = try settings.integer(
            flags.poolTimeoutMilliseconds, env: "WORKFLOWD_POOL_TIMEOUT_MS", default: 2000, range: 1...60_000, name: "--pool-timeout-ms")
        let grace = try settings.integer(flags.shutdownGrace, env: "WORKFLOWD_SHUTDOWN_GRACE", default: 10, range: 0...600, name: "--shutdown-grace")
        let secret = try resolveJWTSecret(flags, settings)
        let webhookPolicy: DestinationPolicy
        do throws(DestinationPolicy.InvalidEntry) {
            webhookPolicy = try DestinationPolicy(allowList: settings.string(nil, env: "WORKFLOWD_WEBHOOK_ALLOW") ?? "")
        } catch {
            throw ConfigurationError("WORKFLOWD_WEBHOOK_ALLOW: \(error.description)")
        }
        let webhookWorkers = try settings.integer(
            nil, env: "WORKFLOWD_WEBHOOK_WORKERS", default: 2, range: 0...64, name: "WORKFLOWD_WEBHOOK_WORKERS")
        let webhookLease = try settings.integer(
            nil, env: "WORKFLOWD_WEBHOOK_LEASE_SECONDS", default: 60, range: 15...3600, name: "WORKFLOWD_WEBHOOK_LEASE_SECONDS")
        let webhookFirstRetry = try settings.integer(
            nil, env: "WORKFLOWD_WEBHOOK_FIRST_RETRY_MS", default: 2000, range: 100...600_000, name: "WORKFLOWD_WEBHOOK_FIRST_RETRY_MS")
        let databaseConfiguration = try database.resolve(settings)
        var listenDatabase = databaseConfiguration
        if let url = settings.string(nil, env: "WORKFLOWD_LISTEN_DATABASE_URL") { listenDatabase.connectionString = url }
        let maxWaiters = try settings.integer(
            nil, env: "WORKFLOWD_MAX_WAITERS", default: FastCGIServerConfiguration.defaultMaxWaiters, range: 0...100_000,
            name: "WORKFLOWD_MAX_WAITERS")
        let heartbeat = try settings.integer(nil, env: "WORKFLOWD_HEARTBEAT_SECONDS", default: 15, range: 1...300, name: "WORKFLOWD_HEARTBEAT_SECONDS")
        let lifetime = try settings.integer(
            nil, env: "WORKFLOWD_STREAM_LIFETIME_SECONDS", default: 300, range: 1...86_400, name: "WORKFLOWD_STREAM_LIFETIME_SECONDS")
        let (cors, invalidOrigin) = CORSPolicy.parse(settings.string(nil, env: "WORKFLOWD_CORS_ORIGINS") ?? "")
        if let invalidOrigin {
            throw ConfigurationError(
                "WORKFLOWD_CORS_ORIGINS must list origins such as https://console.example.com:8443 (scheme, host, optional port; no path), got \(invalidOrigin.debugDescription)")
        }
        return ServeConfiguration(
            address: address, workers: workers, database: databaseConfiguration, poolSize: poolSize,
            poolTimeout: .milliseconds(poolTimeout), jwtSecret: secret,
            jwksFile: settings.string(flags.jwksFile, env: "WORKFLOWD_JWKS_FILE"),
            jwtIssuer: settings.string(flags.jwtIssuer, env: "WORKFLOWD_JWT_ISSUER"),
            jwtAudience: settings.string(flags.jwtAudience, env: "WORKFLOWD_JWT_AUDIENCE"),
            migrations: database.migrationSource(settings), shutdownGrace: .seconds(grace),
            listenDatabase: listenDatabase, maxWaiters: maxWaiters,
            live: LiveSettings(heartbeatEvery: .seconds(heartbeat), streamLifetime: .seconds(lifetime)),
            webhookPolicy: webhookPolicy, webhookWorkers: webhookWorkers, webhookLease: .seconds(webhookLease),
            webhookFirstRetry: .milliseconds(webhookFirstRetry),
            cors: cors ?? CORSPolicy())
    }

    /// Exactly one of WORKFLOWD_JWT_SECRET and WORKFLOWD_JWT_SECRET_FILE; the file is read (and its
    /// secrets checked) when the keys are loaded.
    private static func resolveJWTSecret(_ flags: ServeFlags, _ settings: Settings) throws -> TokenKeySources.Secret {
        switch (settings.string(flags.jwtSecret, env: "WORKFLOWD_JWT_SECRET"), settings.string(flags.jwtSecretFile, env: "WORKFLOWD_JWT_SECRET_FILE")) {
        case (.some, .some):
            throw ConfigurationError("give either WORKFLOWD_JWT_SECRET or WORKFLOWD_JWT_SECRET_FILE, not both")
        case (nil, let path?):
            return .file(path: path)
        case (let secret?, nil):
            guard secret.utf8.count >= 32 else {
                throw ConfigurationError("WORKFLOWD_JWT_SECRET is \(secret.utf8.count) bytes long; it must be at least 32 bytes")
            }
            return .value(secret)
        case (nil, nil):
            throw ConfigurationError(
                "WORKFLOWD_JWT_SECRET is not set; give a shared HS256 secret of at least 32 bytes (e.g. `openssl rand -hex 32`), or a file holding it in WORKFLOWD_JWT_SECRET_FILE")
        }
    }

    var keySources: TokenKeySources { TokenKeySources(secret: jwtSecret, jwksFile: jwksFile) }

    private static func listenAddress(_ flags: ServeFlags, _ settings: Settings, required: Bool) throws -> ListenAddress {
        let socket = settings.string(flags.socket, env: "WORKFLOWD_SOCKET")
        let listen = settings.string(flags.listen, env: "WORKFLOWD_LISTEN")
        let modeText = settings.string(flags.socketMode, env: "WORKFLOWD_SOCKET_MODE") ?? "0660"
        guard let mode = UInt32(modeText, radix: 8), mode <= 0o777 else {
            throw ConfigurationError("--socket-mode must be octal permission bits such as 0660, got \(modeText.debugDescription)")
        }
        switch (socket, listen) {
        case (.some, .some):
            throw ConfigurationError("give either --socket (WORKFLOWD_SOCKET) or --listen (WORKFLOWD_LISTEN), not both")
        case (let path?, nil):
            return .unix(path: path, mode: mode)
        case (nil, let text?):
            guard let address = ListenAddress.parseTCP(text) else {
                throw ConfigurationError("--listen must be IPv4-ADDRESS:PORT such as 127.0.0.1:9000, got \(text.debugDescription)")
            }
            return address
        case (nil, nil):
            guard ListenAddress.isStandardInputListening || !required else {
                throw ConfigurationError("no listen address: give --socket PATH or --listen 127.0.0.1:PORT (or start workflowd with a listening socket on fd 0)")
            }
            return .inherited
        }
    }
}

extension DatabaseFlags {
    func resolve(_ settings: Settings) throws -> PostgresConfiguration {
        PostgresConfiguration(
            connectionString: settings.string(databaseURL, env: "DATABASE_URL") ?? "",
            connectTimeoutSeconds: try settings.integer(
                connectTimeout, env: "WORKFLOWD_CONNECT_TIMEOUT", default: 3, range: 2...60, name: "--connect-timeout"),
            statementTimeoutMilliseconds: try settings.integer(
                statementTimeoutMilliseconds, env: "WORKFLOWD_STATEMENT_TIMEOUT_MS", default: 5000, range: 0...600_000,
                name: "--statement-timeout-ms"),
            pooling: try pooling(settings))
    }

    /// PgBouncer's pool_mode in front of DATABASE_URL: `off` (or `session`) or `transaction`.
    func pooling(_ settings: Settings) throws -> ConnectionPooling {
        switch settings.string(pgbouncer, env: "WORKFLOWD_PGBOUNCER") ?? "off" {
        case "off", "session": return .session
        case "transaction": return .transaction
        case let other: throw ConfigurationError("--pgbouncer must be off or transaction, got \(other.debugDescription)")
        }
    }

    /// The connection `workflowd migrate` takes its session-level advisory lock on: PostgreSQL directly,
    /// never through a transaction pooler.
    func migrationConfiguration(_ settings: Settings) throws -> PostgresConfiguration {
        var configuration = try resolve(settings)
        if let direct = settings.string(migrationsDatabaseURL, env: "WORKFLOWD_MIGRATIONS_DATABASE_URL") {
            configuration.connectionString = direct
        } else if configuration.pooling == .transaction {
            throw ConfigurationError(
                "WORKFLOWD_PGBOUNCER=transaction: `workflowd migrate` holds a session-level advisory lock, which a transaction pooler does not keep; set WORKFLOWD_MIGRATIONS_DATABASE_URL (--migrations-database-url) to PostgreSQL itself")
        }
        configuration.pooling = .session
        return configuration
    }

    /// The migrations built into the binary unless a directory is named.
    func migrationSource(_ settings: Settings) -> MigrationSource {
        settings.string(migrationsDir, env: "WORKFLOWD_MIGRATIONS_DIR").map(MigrationSource.directory) ?? .embedded
    }
}

/// `90s`, `15m`, `1h`, `2d` or plain seconds.
func parseDuration(_ text: String) -> TimeInterval? {
    let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
    if let unit = text.last.flatMap({ units[$0] }), let value = Double(text.dropLast()), value > 0 { return value * unit }
    if let value = Double(text), value > 0 { return value }
    return nil
}
