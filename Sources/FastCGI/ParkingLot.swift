import CFastCGI
import Dispatch
import Foundation
import HTTPTypes
import Locking
import Logging
import Synchronization

/// A parked `FCGX_Request` (moved off its worker, which accepts with a fresh one) and what the
/// application wants done with it. Only the thread that holds it busy in the `WaitingSet` touches it,
/// which is what makes the raw pointer safe to hand between threads.
final class ParkedRequest: @unchecked Sendable {
    let request: UnsafeMutablePointer<FCGX_Request>
    let onWake: @Sendable (WakeReason) -> WakeAnswer
    let heartbeat: [UInt8]
    let streaming: Bool

    init(request: UnsafeMutablePointer<FCGX_Request>, parking: Parking) {
        self.request = request
        onWake = parking.onWake
        heartbeat = parking.stream?.heartbeat ?? []
        streaming = parking.stream != nil
    }

    /// Writes and flushes at once (a stream's bytes must reach nginx now, not at the end); false when
    /// the connection is gone.
    func send(_ bytes: [UInt8]) -> Bool {
        FCGXOutput.put(bytes, request.pointee.out) && FCGX_FFlush(request.pointee.out) == 0
    }

    /// The connection to nginx, watched for the client going away.
    var connection: Int32 { request.pointee.ipcFd }

    /// Ends the request (closing its connection) and frees it.
    func finish() {
        FCGX_Finish_r(request)
        request.deallocate()
    }
}

enum FCGXOutput {
    /// Whether all of `bytes` went into the stream's buffer (or out to nginx).
    static func put(_ bytes: [UInt8], _ stream: UnsafeMutablePointer<FCGX_Stream>?) -> Bool {
        bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return true }
            return FCGX_PutStr(base.assumingMemoryBound(to: CChar.self), Int32(raw.count), stream) == Int32(raw.count)
        }
    }
}

/// Keeps parked requests, bounded by `capacity`, and serves them without a thread each: a watcher thread
/// notices deadlines, heartbeats and clients that hung up (their connection turns readable: nginx
/// closed it); a few wake threads run the application's `onWake` and write. Ordinary requests never wait
/// for any of this: workers only add to the set, and waking is limited to `wakeThreads` threads.
///
/// Its cost must not grow with the number parked where ordinary requests pay it: a worker reads the wake
/// generation without the lock, and the watcher learns of hang-ups from an epoll set each connection
/// joins once (edge-triggered: a parked connection turns readable only when it ends), instead of
/// rebuilding and polling thousands of descriptors on every pass while holding the lock.
final class ParkingLot: Sendable {
    typealias Due = WaitingSet<ParkedRequest>.Due

    private let waiting: Locked<WaitingSet<ParkedRequest>>
    /// `waiting.generation`, published after every change so that workers read it without the lock.
    private let publishedGeneration = Atomic<UInt64>(0)
    private let queue = Locked<[(id: Int, due: Due)]>([])
    /// The epoll set of parked connections, each tagged with its request id (shim.h).
    private let watchSet: Int32
    private let work = DispatchSemaphore(value: 0)
    private let threads = DispatchGroup()
    private let closing = Atomic(false)
    private let started = Atomic(false)
    private let wakeThreads: Int
    private let logger: Logger

    init(capacity: Int, wakeThreads: Int, logger: Logger) {
        waiting = Locked(WaitingSet(capacity: capacity))
        self.wakeThreads = wakeThreads
        self.logger = logger
        watchSet = cfastcgi_watch_create()
        precondition(watchSet >= 0, "epoll_create1 failed: errno \(errno)")
    }

    deinit { _ = cfastcgi_watch_close(watchSet) }

    var count: Int { waiting.withLock { $0.count } }
    /// Read by every worker before its handler runs (see `WaitingSet.park`): an atomic load, no lock.
    var generation: UInt64 { publishedGeneration.load(ordering: .acquiring) }

    func start() {
        guard started.exchange(true, ordering: .acquiringAndReleasing) == false else { return }
        for index in 0..<wakeThreads {
            spawn("fcgi-wake-\(index)") { $0.wakeLoop() }
        }
        spawn("fcgi-watch") { $0.watchLoop() }
    }

    private func spawn(_ name: String, _ body: @escaping @Sendable (ParkingLot) -> Void) {
        threads.enter()
        let thread = Thread { @Sendable [self] in
            body(self)
            self.threads.leave()
        }
        thread.name = name
        thread.start()
    }

    /// Takes over `request` (already answered by nobody): writes a stream's head, then leaves it to the
    /// wake threads. Returns false when the set is full: the caller still owns the request and answers it.
    func park(_ request: UnsafeMutablePointer<FCGX_Request>, _ parking: Parking, generationAtStart: UInt64) -> Bool {
        let parked = ParkedRequest(request: request, parking: parking)
        let now = ContinuousClock.now
        let taken = waiting.withLock {
            $0.park(
                parked, keys: parking.keys, deadline: parking.deadline,
                heartbeatEvery: parking.stream?.heartbeatEvery, now: now, generationAtStart: generationAtStart)
        }
        guard let id = taken else { return false }
        watch(parked, as: id)
        var ended = false
        if let stream = parking.stream {
            let head = CGIMapping.responseHead(for: stream.head)
            if !parked.send(head + stream.first) {
                finish(parked)
                ended = true
            }
        }
        let wrote = ContinuousClock.now
        let recheckAt = parking.recheckAfter.map { wrote + $0 }
        if let due = waiting.withLock({ $0.finished(id, ended: ended, wrote: true, now: wrote, recheckAt: recheckAt) }) { enqueue([(id, due)]) }
        return true
    }

    /// One pass under the lock for all of a notification's keys (it names every instance and owner that
    /// changed in a batch of commits).
    func wake(keys: [String]) {
        let ids = waiting.withLock { set in
            defer { publishedGeneration.store(set.generation, ordering: .releasing) }
            return set.wake(keys: keys)
        }
        enqueue(ids.map { ($0, .notified) })
    }

    func wakeAll(_ due: Due = .notified) {
        let ids = waiting.withLock { set in
            defer { publishedGeneration.store(set.generation, ordering: .releasing) }
            return set.wakeAll(due)
        }
        enqueue(ids.map { ($0, due) })
    }

    /// See `FastCGIServer.noteChangeIfNoneParked`: one check and the generation move under one lock, so a
    /// request cannot park between them unseen.
    func noteChangeIfNoneParked() -> Bool {
        waiting.withLock { set in
            guard set.count == 0 else { return false }
            _ = set.wake(keys: [])
            publishedGeneration.store(set.generation, ordering: .releasing)
            return true
        }
    }

    /// Adds a parked connection to the epoll set. Readable or hung up means the client went away: nothing
    /// more is sent on a parked request's connection once its stdin was read. Edge-triggered, so one
    /// ending is reported once, even while a wake thread is busy with the request.
    private func watch(_ parked: ParkedRequest, as id: Int) {
        if cfastcgi_watch_add(watchSet, parked.connection, UInt64(id)) != 0 {
            logger.warning("cannot watch a parked connection", metadata: ["errno": "\(errno)"])
        }
    }

    /// Leaves the epoll set before the connection closes (a reused descriptor must not inherit the
    /// registration), then ends the request.
    private func finish(_ parked: ParkedRequest) {
        _ = cfastcgi_watch_remove(watchSet, parked.connection)
        parked.finish()
    }

    /// Waits until no request is parked, or `deadline`; true when none is.
    func waitUntilEmpty(deadline: ContinuousClock.Instant) -> Bool {
        while count > 0 {
            guard ContinuousClock.now < deadline else { return false }
            Thread.sleep(forTimeInterval: 0.005)
        }
        return true
    }

    /// Ends the threads (requests still parked are abandoned with the process).
    func close(deadline: ContinuousClock.Instant) {
        guard closing.exchange(true, ordering: .acquiringAndReleasing) == false else { return }
        for _ in 0..<wakeThreads { work.signal() }
        _ = threads.wait(timeout: .now() + .milliseconds(max(0, Int((deadline - .now) / .milliseconds(1)))))
    }

    private func enqueue(_ items: [(id: Int, due: Due)]) {
        guard !items.isEmpty else { return }
        queue.withLock { $0.append(contentsOf: items) }
        for _ in items { work.signal() }
    }

    private func wakeLoop() {
        while true {
            work.wait()
            guard let item = queue.withLock({ q -> (id: Int, due: Due)? in q.isEmpty ? nil : q.removeFirst() }) else {
                if closing.load(ordering: .acquiring) { return }
                continue
            }
            run(item.id, item.due)
        }
    }

    /// Does `due` on one parked request, then whatever arrived for it meanwhile.
    private func run(_ id: Int, _ first: Due) {
        var next: Due? = first
        while let due = next {
            guard let parked = waiting.withLock({ $0.payload(id) }) else { return }
            let (ended, wrote, recheck) = perform(due, on: parked)
            let now = ContinuousClock.now
            next = waiting.withLock {
                $0.finished(id, ended: ended, wrote: wrote, now: now, ranApplication: due != .heartbeat, recheckAt: recheck.map { now + $0 })
            }
        }
    }

    private func perform(_ due: Due, on parked: ParkedRequest) -> (ended: Bool, wrote: Bool, recheck: Duration?) {
        let reason: WakeReason
        switch due {
        case .gone:
            finish(parked)
            return (true, false, nil)
        case .heartbeat:
            guard parked.send(parked.heartbeat) else {
                finish(parked)
                return (true, false, nil)
            }
            return (false, true, nil)
        case .notified: reason = .notified
        case .deadline: reason = .deadline
        case .stopping: reason = .stopping
        }
        var answer = parked.onWake(reason)
        switch answer {
        case .wait(let bytes), .recheck(let bytes, _): if reason != .notified { answer = .finish(nil, bytes) }
        case .finish: break
        }
        switch answer {
        case .wait(let bytes), .recheck(let bytes, _):
            let recheck: Duration? = if case .recheck(_, let after) = answer { after } else { nil }
            guard !bytes.isEmpty else { return (false, false, recheck) }
            guard parked.send(bytes) else {
                finish(parked)
                return (true, false, nil)
            }
            return (false, true, recheck)
        case .finish(let head, let body):
            let headBytes = head.map { parked.streaming ? [] : CGIMapping.responseHead(for: $0) } ?? []
            _ = FCGXOutput.put(headBytes + body, parked.request.pointee.out)
            finish(parked)
            return (true, true, nil)
        }
    }

    private func watchLoop() {
        var ended = [UInt64](repeating: 0, count: 256)
        var nextTimer: ContinuousClock.Instant?
        while !closing.load(ordering: .acquiring) {
            // At most 100 ms, so that stop is prompt and timers of requests parked or answered meanwhile
            // (not in `nextTimer`, which the last pass found) are seen soon.
            var timeout = 100
            if let nextTimer { timeout = min(timeout, max(0, Int((nextTimer - .now) / .milliseconds(1)) + 1)) }
            let ready = ended.withUnsafeMutableBufferPointer { cfastcgi_watch_wait(watchSet, $0.baseAddress, Int32($0.count), Int32(timeout)) }
            if ready > 0 {
                let gone = ended[0..<Int(ready)].map { Int($0) }
                let dispatch = waiting.withLock { s in gone.compactMap { s.gone($0) } }
                if !dispatch.isEmpty {
                    logger.debug("parked requests whose client went away", metadata: ["count": "\(dispatch.count)"])
                }
                enqueue(dispatch.map { ($0, .gone) })
            }
            let (due, next) = waiting.withLock { $0.takeDue(at: .now) }
            nextTimer = next
            enqueue(due)
        }
    }
}
