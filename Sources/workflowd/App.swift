import FastCGI
import Foundation
import Logging
import PostgresClient
import WorkflowAPI
import WorkflowStore
import Workflows

/// The composition root: builds the pool, repository, service, API and FastCGI server, and runs them.
struct App {
    let server: FastCGIServer
    let pool: PostgresPool
    let logger: Logger

    static func start(_ configuration: ServeConfiguration, logger: Logger) async throws -> App {
        let migrator = try Migrator(source: configuration.migrations)
        let verifier = try await makeVerifier(configuration)
        let metrics = MetricsSetup()
        let pool = PostgresPool(
            configuration: configuration.database, size: configuration.poolSize, checkoutTimeout: configuration.poolTimeout,
            logger: logger)
        let target = try pool.withConnection { connection in
            let pending = try migrator.status(on: connection).pending
            guard pending.isEmpty else {
                throw ConfigurationError("\(pending.count) migration(s) pending (\(pending.map { "\($0.version)_\($0.name)" }.joined(separator: ", "))); run `workflowd migrate` first")
            }
            return connection.target
        }
        let repository = PostgresWorkflowRepository(pool: pool, logger: logger)
        let service = WorkflowService(repository: repository)
        startIdempotencyKeyPurge(repository, logger: logger)
        let api = WorkflowAPI(service: service, verifier: verifier, logger: logger, metrics: metrics.renderer(pool: pool)) {
            do {
                _ = try pool.withConnection { try $0.query("SELECT 1") }
                return HealthReport(databaseOK: true, detail: nil)
            } catch {
                return HealthReport(databaseOK: false, detail: "PostgreSQL is not answering: \(error)")
            }
        }
        let server = try FastCGIServer(
            configuration: FastCGIServerConfiguration(
                address: configuration.address, workers: configuration.workers, shutdownGrace: configuration.shutdownGrace),
            logger: logger
        ) { request, body in api.handle(request, body: body) }
        logger.info("starting workflowd", metadata: [
            "version": "\(Workflowd.version)", "listen": "\(configuration.address)", "workers": "\(configuration.workers)",
            "pool_size": "\(configuration.poolSize)", "database": "\(target.map(String.init(describing:)) ?? "?")",
        ])
        return App(server: server, pool: pool, logger: logger)
    }

    static func makeVerifier(_ configuration: ServeConfiguration) async throws -> TokenVerifier {
        var jwks: String?
        if let path = configuration.jwksFile {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw ConfigurationError("cannot read WORKFLOWD_JWKS_FILE \(path)")
            }
            jwks = text
        }
        do {
            return try await TokenVerifier.make(configuration: TokenVerifierConfiguration(
                hmacSecret: configuration.jwtSecret, jwksJSON: jwks, issuer: configuration.jwtIssuer, audience: configuration.jwtAudience))
        } catch {
            throw ConfigurationError("cannot load the JWT keys: \(error)")
        }
    }

    /// Deletes expired idempotency keys every ten minutes, in small batches, off the request path.
    static func startIdempotencyKeyPurge(_ repository: PostgresWorkflowRepository, logger: Logger) {
        Thread.detachNewThread { @Sendable in
            while true {
                Thread.sleep(forTimeInterval: 600)
                do {
                    while try repository.purgeExpiredIdempotencyKeys() > 0 {}
                } catch {
                    logger.debug("idempotency key purge skipped", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// Blocks until SIGTERM/SIGINT and the drain; then closes the database connections. False when the
    /// listen socket failed (the process should exit non-zero so that a supervisor restarts it).
    func run() -> Bool {
        let clean = server.run()
        pool.close()
        logger.info("stopped", metadata: ["clean": "\(clean)"])
        return clean
    }
}
