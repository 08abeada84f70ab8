import CFastCGI
import Dispatch
import Foundation
import HTTPTypes
public import HTTPHead
import Locking
public import Logging
import Synchronization

/// Answers one HTTP request. Called on a worker thread; may block (e.g. on the database).
public typealias HTTPHandler = @Sendable (_ request: RequestHead, _ body: [UInt8]) -> (ResponseHead, [UInt8])

public struct FastCGIServerConfiguration: Sendable {
    /// The service's request body limit, defined once: this configuration's default, the limit the
    /// executable hands the API (which answers 413 above it), and nginx's `client_max_body_size` (a test
    /// holds the shipped nginx config to it).
    public static let defaultMaxBodyBytes = 1 << 20
    /// Workers spend most of a request blocked on the database, so more threads than cores pay off.
    public static var defaultWorkers: Int { max(8, 4 * ProcessInfo.processInfo.activeProcessorCount) }

    public var address: ListenAddress
    /// Worker threads, each serving one request at a time.
    public var workers: Int
    /// At most this many body bytes are read; the handler sees `maxBodyBytes + 1` bytes for larger bodies.
    public var maxBodyBytes: Int
    public var backlog: Int32
    /// Parked requests (long-polls, streams) held at once; past it a request that would park gets its
    /// handler's `whenFull` answer. Each costs a file descriptor and a few KiB, not a thread.
    public var maxWaiters: Int
    /// Threads that run parked requests' wake-ups (each may run a query): the most database work waiters
    /// can take from ordinary requests at once.
    public var wakeThreads: Int

    public static let defaultMaxWaiters = 4096

    public init(
        address: ListenAddress, workers: Int = defaultWorkers, maxBodyBytes: Int = defaultMaxBodyBytes, backlog: Int32 = 1024,
        maxWaiters: Int = defaultMaxWaiters, wakeThreads: Int = 2
    ) {
        self.address = address
        self.workers = workers
        self.maxBodyBytes = maxBodyBytes
        self.backlog = backlog
        self.maxWaiters = maxWaiters
        self.wakeThreads = wakeThreads
    }
}

/// A threaded libfcgi responder: N threads, each blocked in `FCGX_Accept_r` on its own request.
///
/// It serves between `start` and `stop` and leaves the process alone: it installs no signal handlers
/// (it even undoes the ones `FCGX_Init` installs) and never exits. The program decides when to stop,
/// and must ignore SIGPIPE itself (a client that hung up would otherwise kill the process on write).
/// `stop` shuts the listen socket down, which wakes every worker blocked in `accept` (closing it would
/// not). It does not call `FCGX_ShutdownPending()`: that flag is process-wide and makes every later accept
/// in the process fail, another server's too. An inherited socket is left open for the next process and
/// its workers are woken with SIGUSR2 instead (their requests fail `accept` on EINTR,
/// `FCGI_FAIL_ACCEPT_ON_INTR`): for that signal, and only on an inherited socket, the
/// server installs a no-op handler and unblocks it in its own worker threads (an implementation detail of
/// waking its threads; a program serving an inherited socket must leave SIGUSR2 to it).
public final class FastCGIServer: Sendable {
    /// How `stop` ended.
    public struct StopResult: Sendable, Equatable {
        /// Every worker finished its request and left before the deadline.
        public var drained: Bool
        /// Requests still being served at the deadline (0 when drained). They are not interrupted: the
        /// program decides whether to wait longer or to exit.
        public var inFlight: Int

        public init(drained: Bool, inFlight: Int) {
            self.drained = drained
            self.inFlight = inFlight
        }
    }

    private let configuration: FastCGIServerConfiguration
    private let handler: ParkingHandler
    private let lot: ParkingLot
    private let logger: Logger
    private let listenSocket: ListenSocket
    /// Entered by each worker thread, left when it ends: `stop` waits on it with a deadline.
    private let workersRunning = DispatchGroup()
    private let inFlight = Atomic(0)
    private let started = Atomic(false)
    private let stopping = Atomic(false)
    private let listenSocketReleased = Atomic(false)
    private let failureReported = Atomic(false)
    /// Workers blocked in accept, by index: the ones to wake on an inherited socket.
    private let idleWorkers = Locked<[Int: pthread_t]>([:])
    static let wakeSignal = SIGUSR2

    /// Opens the listen socket; throws `ListenError` with a message fit for an operator.
    public convenience init(configuration: FastCGIServerConfiguration, logger: Logger, handler: @escaping HTTPHandler) throws(ListenError) {
        try self.init(configuration: configuration, logger: logger, parkingHandler: { request, body in
            let (response, bytes) = handler(request, body)
            return .respond(response, bytes)
        })
    }

    /// A server whose handler may park requests (`Reply.park`): they wait without a thread until
    /// `wake(keys:)`, `wakeAll()`, their deadline or `stop`.
    public init(configuration: FastCGIServerConfiguration, logger: Logger, parkingHandler: @escaping ParkingHandler) throws(ListenError) {
        self.configuration = configuration
        self.handler = parkingHandler
        self.logger = logger
        lot = ParkingLot(capacity: configuration.maxWaiters, wakeThreads: max(1, configuration.wakeThreads), logger: logger)
        guard cfastcgi_init_keeping_signals() == 0 else { throw ListenError(description: "FCGX_Init failed", isPermanent: false) }
        listenSocket = try ListenSocket.open(configuration.address, backlog: configuration.backlog)
    }

    /// Starts the worker threads and returns. If accepting fails for another reason than `stop`,
    /// `onFailure` is called once (on a worker thread): the server then serves no more and should be stopped.
    public func start(onFailure: @escaping @Sendable (_ reason: String) -> Void = { _ in }) {
        guard started.exchange(true, ordering: .acquiringAndReleasing) == false else { return }
        // Only an inherited socket needs its idle workers woken by a signal at stop.
        let wakeSignal = listenSocket.isInherited ? Self.wakeSignal : nil
        if let wakeSignal { cfastcgi_install_wake_signal(wakeSignal) }
        lot.start()
        for index in 0..<configuration.workers {
            workersRunning.enter()
            let thread = Thread { @Sendable [self] in
                self.workerLoop(index: index, wakeSignal: wakeSignal, onFailure: onFailure)
                self.workersRunning.leave()
            }
            thread.name = "fcgi-worker-\(index)"
            thread.start()
        }
        logger.info("serving", metadata: ["listen": "\(configuration.address)", "workers": "\(configuration.workers)"])
    }

    /// Wakes the parked requests waiting on any of `keys`, taking the waiting set's lock once (their
    /// `onWake(.notified)` runs on a wake thread).
    public func wake(keys: [String]) { lot.wake(keys: keys) }

    /// When no request is parked, records that something changed (a handler running now looks again if
    /// it parks) and returns true: there is nobody to wake, so the caller need not work out whom. False
    /// when requests are parked: then call `wake(keys:)`.
    public func noteChangeIfNoneParked() -> Bool { lot.noteChangeIfNoneParked() }

    /// Wakes every parked request, e.g. when notifications may have been missed.
    public func wakeAll() { lot.wakeAll() }

    /// Requests parked now.
    public var waiting: Int { lot.count }

    /// Stops accepting, ends parked requests (`onWake(.stopping)`), then waits until the requests being
    /// served and the parked ones finished or `deadline` passed. Calling it again only waits again.
    /// Removes the unix socket file it created (unless a newer instance replaced it).
    @discardableResult
    public func stop(deadline: ContinuousClock.Instant) -> StopResult {
        if stopping.exchange(true, ordering: .acquiringAndReleasing) == false {
            logger.info("stopping FastCGI server", metadata: [
                "in_flight": "\(inFlight.load(ordering: .relaxed))", "waiting": "\(lot.count)",
            ])
            // A worker that parks from now on finds the set stopping and is ended at once too.
            lot.wakeAll(.stopping)
            if listenSocket.isInherited {
                // The socket belongs to the supervisor and serves the next process: leave it open and wake
                // the workers blocked in accept instead (repeatedly: one may be just about to block).
                Thread.detachNewThread { @Sendable [self] in
                    repeat {
                        for thread in self.idleWorkers.withLock({ Array($0.values) }) { pthread_kill(thread, Self.wakeSignal) }
                    } while self.workersRunning.wait(timeout: .now() + .milliseconds(50)) == .timedOut && ContinuousClock.now < deadline
                }
            } else {
                shutdown(listenSocket.fd, Int32(SHUT_RDWR))
            }
        }
        let drained = workersRunning.wait(timeout: Self.dispatchTime(deadline)) == .success && lot.waitUntilEmpty(deadline: deadline)
        if drained { lot.close(deadline: deadline) }
        listenSocket.removeSocketFile()
        if drained, !listenSocket.isInherited, listenSocketReleased.exchange(true, ordering: .acquiringAndReleasing) == false {
            close(listenSocket.fd)
        }
        return StopResult(drained: drained, inFlight: drained ? 0 : inFlight.load(ordering: .relaxed) + lot.count)
    }

    private static func dispatchTime(_ instant: ContinuousClock.Instant) -> DispatchTime {
        let left = max(instant - .now, .zero).components
        return .now() + .nanoseconds(Int(left.seconds) * 1_000_000_000 + Int(left.attoseconds / 1_000_000_000))
    }

    private func workerLoop(index: Int, wakeSignal: Int32?, onFailure: @Sendable (String) -> Void) {
        let flags = wakeSignal == nil ? 0 : FCGI_FAIL_ACCEPT_ON_INTR
        func freshRequest() -> UnsafeMutablePointer<FCGX_Request> {
            let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
            FCGX_InitRequest(request, listenSocket.fd, flags)
            return request
        }
        var request = freshRequest()
        defer { request.deallocate() }
        // Threads inherit their creator's signal mask, which may block the wake signal.
        if let wakeSignal { cfastcgi_unblock_signal(wakeSignal) }
        while !stopping.load(ordering: .acquiring) {
            if wakeSignal != nil { idleWorkers.withLock { $0[index] = pthread_self() } }
            let accepted = FCGX_Accept_r(request)
            if wakeSignal != nil { idleWorkers.withLock { _ = $0.removeValue(forKey: index) } }
            guard accepted >= 0 else {
                // Another signal than the wake signal of `stop`: accept again.
                if accepted == -EINTR, !stopping.load(ordering: .acquiring) { continue }
                if !stopping.load(ordering: .acquiring) {
                    let reason = "accepting FastCGI connections failed: \(errnoText())"
                    logger.error("accepting FastCGI connections failed", metadata: ["errno": "\(errno)"])
                    if failureReported.exchange(true, ordering: .acquiringAndReleasing) == false { onFailure(reason) }
                }
                break
            }
            inFlight.add(1, ordering: .relaxed)
            if serve(request) {
                // The parking lot owns that request now; accept the next one with a fresh struct.
                request = freshRequest()
            } else {
                FCGX_Finish_r(request)
            }
            inFlight.subtract(1, ordering: .relaxed)
        }
        FCGX_Free(request, 0)
    }

    /// Answers the request, or parks it (returns true: the caller no longer owns it).
    private func serve(_ request: UnsafeMutablePointer<FCGX_Request>) -> Bool {
        let generation = lot.generation
        let response: ResponseHead
        let responseBody: [UInt8]
        do {
            let head = try Self.requestHead(of: request)
            let declared = head.headerFields.first(.contentLength).flatMap { Int($0) }
            let body = readBody(request, declaredLength: declared)
            switch handler(head, body) {
            case .respond(let answer, let bytes):
                (response, responseBody) = (answer, bytes)
            case .park(let parking):
                // Read stdin to its end: from then on, anything readable on the connection means nginx closed it.
                drainInput(request)
                if lot.park(request, parking, generationAtStart: generation) { return true }
                (response, responseBody) = parking.whenFull
            }
        } catch {
            logger.error("malformed FastCGI request", metadata: ["error": "\(error)"])
            response = ResponseHead(status: .badRequest, headerFields: [.contentType: "text/plain"])
            responseBody = Array("bad FastCGI request\n".utf8)
        }
        write(response, body: responseBody, to: request)
        return false
    }

    private func drainInput(_ request: UnsafeMutablePointer<FCGX_Request>) {
        var scratch = [CChar](repeating: 0, count: 4096)
        while scratch.withUnsafeMutableBufferPointer({ FCGX_GetStr($0.baseAddress, Int32($0.count), request.pointee.in) }) > 0 {}
    }

    /// Maps `envp` at once: its strings die at the next accept/finish. Each `NAME=value` is split at the
    /// byte level and handed over as bytes; only what the request keeps becomes a String.
    private static func requestHead(of request: UnsafeMutablePointer<FCGX_Request>) throws(CGIMapping.MappingError) -> RequestHead {
        var builder = CGIMapping.RequestBuilder()
        guard var cursor = request.pointee.envp else { return try builder.request() }
        while let entry = cursor.pointee {
            let count = strlen(entry)
            // memchr, not `firstIndex(of:)`: that walks the ~600 bytes of a request's parameters one by one.
            if let equals = memchr(entry, Int32(UInt8(ascii: "=")), count) {
                let nameCount = UnsafeRawPointer(equals) - UnsafeRawPointer(entry)
                builder.add(
                    name: UnsafeRawBufferPointer(start: entry, count: nameCount),
                    value: UnsafeRawBufferPointer(start: equals + 1, count: count - nameCount - 1))
            }
            cursor += 1
        }
        return try builder.request()
    }

    private func readBody(_ request: UnsafeMutablePointer<FCGX_Request>, declaredLength: Int?) -> [UInt8] {
        // Without a Content-Length there is no body (nginx always sends it for one); never allocate the
        // full limit up front.
        let limit = configuration.maxBodyBytes + 1
        let wanted = min(declaredLength ?? 0, limit)
        guard wanted > 0 else { return [] }
        var body = [UInt8](repeating: 0, count: wanted)
        var filled = 0
        while filled < wanted {
            let got = body.withUnsafeMutableBufferPointer { buffer in
                FCGX_GetStr(buffer.baseAddress! + filled, Int32(wanted - filled), request.pointee.in)
            }
            if got <= 0 { break }
            filled += Int(got)
        }
        body.removeLast(wanted - filled)
        return body
    }

    private func write(_ response: ResponseHead, body: [UInt8], to request: UnsafeMutablePointer<FCGX_Request>) {
        let out = request.pointee.out
        CGIMapping.writeResponseHead(for: response) { piece in
            _ = FCGX_PutStr(piece.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(piece.count), out)
        }
        _ = FCGXOutput.put(body, out)
    }
}
