import FastCGI
import Foundation
import Logging
import Metrics
import PostgresClient
import WebhookClient
import WorkflowAPI
import WorkflowStore
import Workflows

/// The composition root: builds the pool, repository, service, API, FastCGI server and background jobs,
/// runs them until told to stop, then stops them in order.
struct App {
    let server: FastCGIServer
    let jobs: [any BackgroundJob]
    let pool: PostgresPool
    let shutdownGrace: Duration
    let logger: Logger
    /// What SIGHUP runs.
    let keys: KeyReloader

    static func start(_ configuration: ServeConfiguration, logger: Logger) async throws -> App {
        let migrator = try Migrator(source: configuration.migrations)
        let verifier = try await makeVerifier(configuration)
        let metrics = MetricsSetup()
        let pool = PostgresPool(
            configuration: configuration.database, size: configuration.poolSize, checkoutTimeout: configuration.poolTimeout,
            logger: logger)
        let target = try pool.withConnection { connection in
            try requireNoPendingMigrations(migrator, on: connection)
            return connection.target
        }
        // Live updates (WORKFLOWD_MAX_WAITERS=0 turns them off). The notifier uses the request pool's
        // setting: NOTIFY works through a transaction-mode pooler; LISTEN does not.
        let live = configuration.maxWaiters > 0
        let notifier = ChangeNotifier(configuration: configuration.database, channel: LiveUpdates.channel, logger: logger)
        let repository = PostgresWorkflowRepository(pool: pool, logger: logger, committed: live ? notifier.changed : nil)
        let service = WorkflowService(repository: repository)
        let webhookRepository = PostgresWebhookRepository(pool: pool, logger: logger)
        let maxBodyBytes = FastCGIServerConfiguration.defaultMaxBodyBytes
        let readiness = ReadinessCheck(pool: pool, migrations: migrator.migrations)
        let api = WorkflowAPI(
            service: service, verifier: verifier, maxBodyBytes: maxBodyBytes, logger: logger, metrics: metrics.renderer(pool: pool),
            live: configuration.live, webhooks: WebhookService(repository: webhookRepository),
            cors: configuration.cors
        ) {
            readiness.report()
        }
        raiseFileLimit(toHold: configuration.maxWaiters + configuration.poolSize + 64, logger: logger)
        let server = try FastCGIServer(
            configuration: FastCGIServerConfiguration(
                address: configuration.address, workers: configuration.workers, maxBodyBytes: maxBodyBytes,
                maxWaiters: configuration.maxWaiters),
            logger: logger
        ) { request, body in parkingReply(api.reply(request, body: body)) }
        // One line per job. Expired idempotency keys go in batches, several processes may purge at once.
        var jobs: [any BackgroundJob] = [
            PeriodicJob(name: "idempotency_key_purge", every: .seconds(600), logger: logger) { isStopping in
                while !isStopping(), try repository.purgeExpiredIdempotencyKeys() > 0 {}
            },
            // Expired waits get their onTimeout within about a second; SKIP LOCKED shares them between processes.
            PeriodicJob(name: "deadlines", every: .seconds(1), logger: logger) { isStopping in
                while !isStopping(), try repository.applyDeadlines(passedBy: .now, limit: 100).count == 100 {}
            },
            // The wait gauges, sampled by a query rather than kept by every write: open waits are counted
            // from the inbox's partial indexes, so each process reports the same figures, however many run.
            PeriodicJob(name: "wait_gauges", every: .seconds(5), logger: logger) { _ in
                for waits in try repository.openWaits() {
                    Gauge(label: "workflow_waits_open", dimensions: [("kind", waits.kind.rawValue)]).record(waits.open)
                    Gauge(label: "workflow_waits_overdue", dimensions: [("kind", waits.kind.rawValue)]).record(waits.overdue)
                }
            },
        ] + webhookJobs(configuration, repository: webhookRepository, logger: logger)
        if live {
            jobs += [
                notifier,
                NotificationListener(
                    configuration: configuration.listenDatabase, channel: LiveUpdates.channel, logger: logger,
                    deliver: { payload in
                        // Nobody parked: the payload needs no parsing (the usual case under a write load).
                        if server.noteChangeIfNoneParked() { return }
                        guard let keys = LiveUpdates.keys(forNotification: payload) else { return server.wakeAll() }
                        server.wake(keys: keys)
                    },
                    resynchronise: { server.wakeAll() }),
            ]
        }
        logger.info("starting workflowd", metadata: [
            "version": "\(Workflowd.version)", "listen": "\(configuration.address)", "workers": "\(configuration.workers)",
            "pool_size": "\(configuration.poolSize)", "database": "\(target.map(String.init(describing:)) ?? "?")",
            "jwt_keys": "\(verifier.activeKeyIdentifiers.joined(separator: ","))",
        ])
        return App(
            server: server, jobs: jobs, pool: pool, shutdownGrace: configuration.shutdownGrace, logger: logger,
            keys: KeyReloader(verifier: verifier, sources: configuration.keySources, logger: logger))
    }

    /// Webhook delivery (unless WORKFLOWD_WEBHOOK_WORKERS=0) and the outbox gauges, read from the table so
    /// that every process reports the same queue.
    static func webhookJobs(_ configuration: ServeConfiguration, repository: PostgresWebhookRepository, logger: Logger) -> [any BackgroundJob] {
        let depth = Gauge(label: "webhook_queue_depth")
        let oldest = Gauge(label: "webhook_oldest_due_seconds")
        let gauges = PeriodicJob(name: "webhook_queue_metrics", every: .seconds(5), logger: logger) { _ in
            let statistics = try repository.queueStatistics()
            depth.record(statistics.pending)
            oldest.record(statistics.oldestDueSeconds)
        }
        guard configuration.webhookWorkers > 0 else { return [gauges] }
        var retry = WebhookRetryPolicy()
        retry.firstDelay = configuration.webhookFirstRetry
        let delivery = WebhookDeliveryJob(
            repository: repository, policy: configuration.webhookPolicy, workers: configuration.webhookWorkers, logger: logger,
            retry: retry, lease: configuration.webhookLease)
        return [delivery, gauges]
    }

    /// The API's waiter as the FastCGI server's parking request.
    static func parkingReply(_ reply: APIReply) -> Reply {
        switch reply {
        case .respond(let response, let body):
            return .respond(response, body)
        case .wait(let waiter):
            let stream = waiter.stream.map {
                Parking.Stream(head: $0.head, first: $0.first, heartbeatEvery: $0.heartbeatEvery, heartbeat: $0.heartbeat)
            }
            return .park(Parking(
                keys: waiter.keys, deadline: waiter.deadline, stream: stream, whenFull: waiter.whenFull, recheckAfter: waiter.recheckAfter
            ) { reason in
                switch waiter.next(reason != .notified) {
                case .wait(let bytes): .wait(sending: bytes)
                case .recheck(let bytes, let after): .recheck(sending: bytes, after: after)
                case .finish(let head, let body): .finish(head, body)
                }
            })
        }
    }

    /// Each waiting client holds a connection: raise the soft file limit toward the hard one, and say so
    /// when even that is too low for `WORKFLOWD_MAX_WAITERS`.
    static func raiseFileLimit(toHold needed: Int, logger: Logger) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < rlim_t(needed) else { return }
        limit.rlim_cur = min(limit.rlim_max, rlim_t(needed))
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        if limit.rlim_cur < rlim_t(needed) {
            logger.warning("the open-file limit is below what WORKFLOWD_MAX_WAITERS needs; raise LimitNOFILE", metadata: [
                "limit": "\(limit.rlim_cur)", "needed": "\(needed)",
            ])
        }
    }

    /// Reads the key files and checks every key: a refusal here is a configuration error (exit 2).
    static func makeVerifier(_ configuration: ServeConfiguration) async throws -> TokenVerifier {
        do throws(TokenKeyError) {
            return try await TokenVerifier.make(configuration: TokenVerifierConfiguration(
                keys: try configuration.keySources.read(), issuer: configuration.jwtIssuer, audience: configuration.jwtAudience))
        } catch {
            throw ConfigurationError(error.description)
        }
    }

    /// `serve` and `check` refuse a database that lacks migrations this binary has (exit 2: only
    /// `workflowd migrate` fixes it). Edited or unknown applied migrations throw `MigrationError`s.
    @discardableResult
    static func requireNoPendingMigrations(_ migrator: Migrator, on connection: PostgresConnection) throws -> MigrationStatus {
        let status = try migrator.status(on: connection)
        guard status.pending.isEmpty else {
            let names = status.pending.map { "\($0.version)_\($0.name)" }.joined(separator: ", ")
            throw ConfigurationError("\(status.pending.count) migration(s) pending (\(names)); run `workflowd migrate` first")
        }
        return status
    }

    /// Serves until `stop` has a reason, then, all against one deadline (now + the shutdown grace): asks
    /// the jobs to stop, stops the server (no new requests, in-flight ones finish), waits for the jobs,
    /// closes the pool. The exit status: 0 when everything finished in time after a signal, 1 otherwise.
    func run(until stop: StopRequest) -> Int32 {
        server.start { reason in stop.request(.failure(reason)) }
        jobs.forEach { $0.start() }
        let reason = stop.wait()
        let deadline = ContinuousClock.now + shutdownGrace
        logger.info("shutting down", metadata: ["reason": "\(reason)", "grace_seconds": "\(shutdownGrace.components.seconds)"])
        jobs.forEach { $0.requestStop() }
        let served = server.stop(deadline: deadline)
        if !served.drained {
            logger.warning("grace period over; requests still in flight are cut off", metadata: ["in_flight": "\(served.inFlight)"])
        }
        let lingering = jobs.filter { !$0.waitUntilStopped(deadline: deadline) }.map(\.name)
        if !lingering.isEmpty {
            logger.warning("background jobs still running at the deadline", metadata: ["jobs": "\(lingering.joined(separator: ","))"])
        }
        pool.close()
        var clean = served.drained && lingering.isEmpty
        if case .failure = reason { clean = false }
        logger.info("stopped", metadata: ["reason": "\(reason)", "drained": "\(served.drained)", "clean": "\(clean)"])
        return clean ? 0 : 1
    }
}
