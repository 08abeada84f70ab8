import CFastCGI
import Dispatch
import Foundation
public import HTTPTypes
public import Logging
import Synchronization

/// Answers one HTTP request. Called on a worker thread; may block (e.g. on the database).
public typealias HTTPHandler = @Sendable (_ request: HTTPRequest, _ body: [UInt8]) -> (HTTPResponse, [UInt8])

public struct FastCGIServerConfiguration: Sendable {
    public var address: ListenAddress
    /// Worker threads, each serving one request at a time.
    public var workers: Int
    /// At most this many body bytes are read; the handler sees `maxBodyBytes + 1` bytes for larger bodies.
    public var maxBodyBytes: Int
    /// How long in-flight requests may take to finish after SIGTERM/SIGINT.
    public var shutdownGrace: Duration
    public var backlog: Int32

    public init(address: ListenAddress, workers: Int, maxBodyBytes: Int = 1 << 20, shutdownGrace: Duration = .seconds(10), backlog: Int32 = 1024) {
        self.address = address
        self.workers = workers
        self.maxBodyBytes = maxBodyBytes
        self.shutdownGrace = shutdownGrace
        self.backlog = backlog
    }
}

/// A threaded libfcgi responder: N threads, each blocked in `FCGX_Accept_r` on its own request.
///
/// Shutdown: a signal source (not libfcgi's own handler, which cannot wake `accept`) calls
/// `FCGX_ShutdownPending()` and shuts the listen socket down, which wakes every worker; in-flight
/// requests finish within the grace period.
public final class FastCGIServer: Sendable {
    private let configuration: FastCGIServerConfiguration
    private let handler: HTTPHandler
    private let logger: Logger
    private let listenSocket: ListenSocket
    private let liveWorkers = Mutex(0)
    private let inFlight = Atomic(0)
    private let stopping = Atomic(false)
    /// Set when accepting failed for another reason than a shutdown; `run` then reports failure.
    private let acceptFailed = Mutex(false)
    /// Workers blocked in accept, by index: the ones to wake on an inherited socket.
    private let idleWorkers = Mutex<[Int: pthread_t]>([:])
    static let wakeSignal = SIGUSR2

    /// Opens the listen socket; throws `ListenError` with a message fit for an operator.
    public init(configuration: FastCGIServerConfiguration, logger: Logger, handler: @escaping HTTPHandler) throws(ListenError) {
        self.configuration = configuration
        self.handler = handler
        self.logger = logger
        guard FCGX_Init() == 0 else { throw ListenError(description: "FCGX_Init failed") }
        listenSocket = try ListenSocket.open(configuration.address, backlog: configuration.backlog)
    }

    /// Serves until SIGTERM or SIGINT, then drains in-flight requests (bounded) and returns; false when
    /// the listen socket failed instead.
    @discardableResult
    public func run() -> Bool {
        signal(SIGPIPE, SIG_IGN)
        cfastcgi_install_wake_signal(Self.wakeSignal)
        let signalSources = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { @Sendable [self] in self.beginShutdown(signal: number) }
            source.resume()
            return source
        }
        let done = DispatchSemaphore(value: 0)
        for index in 0..<configuration.workers {
            liveWorkers.withLock { $0 += 1 }
            let thread = Thread { @Sendable [self] in
                self.workerLoop(index: index)
                if self.liveWorkers.withLock({ $0 -= 1; return $0 }) == 0 { done.signal() }
            }
            thread.name = "fcgi-worker-\(index)"
            thread.start()
        }
        logger.info("serving", metadata: ["listen": "\(configuration.address)", "workers": "\(configuration.workers)"])
        done.wait()
        signalSources.forEach { $0.cancel() }
        listenSocket.removeSocketFile()
        return !acceptFailed.withLock { $0 }
    }

    /// Stops accepting; `run` returns once in-flight requests finished or the grace period ran out.
    public func beginShutdown(signal number: Int32? = nil) {
        guard stopping.exchange(true, ordering: .acquiringAndReleasing) == false else { return }
        logger.info("shutting down", metadata: [
            "signal": "\(number.map(String.init) ?? "none")", "in_flight": "\(inFlight.load(ordering: .relaxed))",
        ])
        FCGX_ShutdownPending()
        if listenSocket.isInherited {
            // The socket belongs to the supervisor and serves the next process: leave it open and wake
            // the workers blocked in accept instead (repeatedly: one may be just about to block).
            Thread.detachNewThread { @Sendable [self] in
                while self.liveWorkers.withLock({ $0 }) > 0 {
                    for thread in self.idleWorkers.withLock({ Array($0.values) }) { pthread_kill(thread, Self.wakeSignal) }
                    Thread.sleep(forTimeInterval: 0.05)
                }
            }
        } else {
            shutdown(listenSocket.fd, Int32(SHUT_RDWR))
        }
        let grace = configuration.shutdownGrace
        Thread.detachNewThread { @Sendable [self] in
            Thread.sleep(forTimeInterval: Double(grace.components.seconds) + Double(grace.components.attoseconds) / 1e18)
            let left = self.inFlight.load(ordering: .relaxed)
            self.logger.warning("grace period over; exiting with requests in flight", metadata: ["in_flight": "\(left)"])
            self.listenSocket.removeSocketFile()
            exit(0)
        }
    }

    private func workerLoop(index: Int) {
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        defer { request.deallocate() }
        FCGX_InitRequest(request, listenSocket.fd, 0)
        cfastcgi_unblock_signal(Self.wakeSignal)
        // Only an inherited socket needs its idle workers woken by a signal at shutdown.
        let trackIdle = listenSocket.isInherited
        while !stopping.load(ordering: .acquiring) {
            if trackIdle { idleWorkers.withLock { $0[index] = pthread_self() } }
            let accepted = FCGX_Accept_r(request)
            if trackIdle { idleWorkers.withLock { _ = $0.removeValue(forKey: index) } }
            guard accepted >= 0 else {
                if !stopping.load(ordering: .acquiring) {
                    logger.critical("accepting FastCGI connections failed; stopping", metadata: ["errno": "\(errno)"])
                    acceptFailed.withLock { $0 = true }
                    beginShutdown()
                }
                break
            }
            inFlight.add(1, ordering: .relaxed)
            serve(request)
            FCGX_Finish_r(request)
            inFlight.subtract(1, ordering: .relaxed)
        }
        FCGX_Free(request, 0)
    }

    private func serve(_ request: UnsafeMutablePointer<FCGX_Request>) {
        let params = Self.parameters(of: request)
        let response: HTTPResponse
        let responseBody: [UInt8]
        do {
            let head = try CGIMapping.request(from: params)
            let body = readBody(request, declaredLength: head.headerFields[.contentLength].flatMap { Int($0) })
            (response, responseBody) = handler(head, body)
        } catch {
            logger.error("malformed FastCGI request", metadata: ["error": "\(error)"])
            response = HTTPResponse(status: .badRequest, headerFields: [.contentType: "text/plain"])
            responseBody = Array("bad FastCGI request\n".utf8)
        }
        write(CGIMapping.responseHead(for: response), body: responseBody, to: request)
    }

    /// Copies `envp` at once: its strings die at the next accept/finish. Split at the byte level
    /// (`NAME=value`), which is several times cheaper than Character-wise String searching.
    private static func parameters(of request: UnsafeMutablePointer<FCGX_Request>) -> [(String, String)] {
        var params: [(String, String)] = []
        params.reserveCapacity(32)
        guard var cursor = request.pointee.envp else { return params }
        while let entry = cursor.pointee {
            let bytes = UnsafeRawBufferPointer(start: entry, count: strlen(entry))
            if let equals = bytes.firstIndex(of: UInt8(ascii: "=")) {
                params.append((
                    String(decoding: UnsafeRawBufferPointer(rebasing: bytes[..<equals]), as: UTF8.self),
                    String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(equals + 1)...]), as: UTF8.self)
                ))
            }
            cursor += 1
        }
        return params
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

    private func write(_ head: String, body: [UInt8], to request: UnsafeMutablePointer<FCGX_Request>) {
        var head = head
        head.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { _ = FCGX_PutStr($0.baseAddress, Int32($0.count), request.pointee.out) }
        }
        body.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                if let base = chars.baseAddress { _ = FCGX_PutStr(base, Int32(chars.count), request.pointee.out) }
            }
        }
    }
}
