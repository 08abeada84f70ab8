import HTTPTypes
public import HTTPHead

/// What a handler that may wait answers: a response now, or "park this request until woken".
public enum Reply: Sendable {
    case respond(ResponseHead, [UInt8])
    case park(Parking)
}

/// A handler that may park its request instead of answering at once (long-poll, Server-Sent Events).
/// Called on a worker thread, like `HTTPHandler`.
public typealias ParkingHandler = @Sendable (_ request: RequestHead, _ body: [UInt8]) -> Reply

/// Why a parked request's `onWake` runs.
public enum WakeReason: Sendable, Equatable {
    /// `wake(keys:)` named one of its keys, or `wakeAll()` asks every waiter to look again (e.g. after the
    /// source of notifications reconnected and may have missed some).
    case notified
    /// Its deadline passed: answer now (a long-poll's empty page, a stream's end).
    case deadline
    /// The server is stopping: answer now.
    case stopping
}

/// What a woken parked request does next.
public enum WakeAnswer: Sendable, Equatable {
    /// Keep waiting, after writing `sending` (a stream's next events; nothing for a long-poll). Taken as
    /// `.finish(nil, sending)` when the reason was `.deadline` or `.stopping`.
    case wait(sending: [UInt8])
    /// As `.wait`, and run `onWake(.notified)` again after `after` even if nothing wakes it: the
    /// application saw a change it may not deliver yet, whose becoming deliverable may notify nobody.
    case recheck(sending: [UInt8], after: Duration)
    /// Write the head (unless a stream already wrote one; then pass nil) and the body, and end the request.
    case finish(ResponseHead?, [UInt8])
}

/// A request to park: what wakes it, until when, and what it writes meanwhile.
public struct Parking: Sendable {
    /// `FastCGIServer.wake(keys:)` with any of these wakes it.
    public var keys: [String]
    /// When `onWake(.deadline)` runs.
    public var deadline: ContinuousClock.Instant
    /// For a stream: the head and first bytes, written (and flushed) when it parks, and a keep-alive
    /// written whenever nothing else was for `heartbeat.every`. nil for a long-poll: nothing is written
    /// until it finishes.
    public var stream: Stream?
    /// The answer when the waiting set is full (a 503 with Retry-After, in the application's format).
    public var whenFull: (ResponseHead, [UInt8])
    /// Runs on one of the server's wake threads, never twice at once for the same request; may block
    /// (e.g. re-run a query).
    public var onWake: @Sendable (WakeReason) -> WakeAnswer
    /// Run `onWake(.notified)` after this long even if nothing wakes it (as `WakeAnswer.recheck`).
    public var recheckAfter: Duration?

    public struct Stream: Sendable {
        public var head: ResponseHead
        public var first: [UInt8]
        public var heartbeatEvery: Duration
        public var heartbeat: [UInt8]
        public init(head: ResponseHead, first: [UInt8], heartbeatEvery: Duration, heartbeat: [UInt8]) {
            self.head = head
            self.first = first
            self.heartbeatEvery = heartbeatEvery
            self.heartbeat = heartbeat
        }
    }

    public init(
        keys: [String], deadline: ContinuousClock.Instant, stream: Stream? = nil, whenFull: (ResponseHead, [UInt8]),
        recheckAfter: Duration? = nil, onWake: @escaping @Sendable (WakeReason) -> WakeAnswer
    ) {
        self.recheckAfter = recheckAfter
        self.keys = keys
        self.deadline = deadline
        self.stream = stream
        self.whenFull = whenFull
        self.onWake = onWake
    }
}

/// Work due on a parked request, weakest first: a stronger one replaces a weaker one pending.
enum WaitingDue: Int, Comparable, Sendable {
    case heartbeat, notified, deadline, stopping
    /// The client went away: free the slot, call nothing.
    case gone

    static func < (a: WaitingDue, b: WaitingDue) -> Bool { a.rawValue < b.rawValue }
}

/// A parked request's timers and state: plain values only, so that the watcher's pass over every
/// entry copies no reference (retain/release on thousands of entries per pass was most of its cost), and
/// outside the generic `WaitingSet`, so that those passes copy it without generic value witnesses.
struct WaitingEntry {
    var deadline: ContinuousClock.Instant
    var heartbeatEvery: Duration?
    var nextHeartbeat: ContinuousClock.Instant?
    /// When to look again although nothing woke it (`WakeAnswer.recheck`).
    var recheckAt: ContinuousClock.Instant?
    var busy: Bool
    var pending: WaitingDue?
}

/// The bookkeeping of parked requests, without I/O, threads or a clock of its own (the server holds it
/// under a lock and performs what it returns), so its rules are unit-tested deterministically.
///
/// A parked request is idle (waiting) or busy (one wake thread works on it). Whatever happens to a busy
/// one is remembered (the strongest `Due` wins) and handed out again when the work ends, so one request is
/// never written by two threads at once and no wake-up is lost while it is busy.
struct WaitingSet<Payload> {
    typealias Due = WaitingDue
    typealias Entry = WaitingEntry

    let capacity: Int
    private(set) var entries: [Int: Entry] = [:]
    /// What each parked request carries besides its timers, kept apart from `entries` (see `Entry`).
    private var parked: [Int: (payload: Payload, keys: [String])] = [:]
    private var byKey: [String: Set<Int>] = [:]
    private var nextId = 0
    /// Counts wake-ups: a request whose handler started before one and parked after it may have missed
    /// it, so it is checked again at once.
    private(set) var generation: UInt64 = 0
    private(set) var stopping = false

    init(capacity: Int) { self.capacity = capacity }

    var count: Int { entries.count }

    /// Takes a slot for a request (nil when full). It starts busy: the parking thread writes a stream's
    /// head, then calls `finished`, which hands back a wake-up it may have missed (one that came after
    /// its handler started) or the stop.
    mutating func park(
        _ payload: Payload, keys: [String], deadline: ContinuousClock.Instant, heartbeatEvery: Duration?,
        now: ContinuousClock.Instant, generationAtStart: UInt64
    ) -> Int? {
        guard entries.count < capacity else { return nil }
        let id = nextId
        nextId += 1
        let due: Due? = stopping ? .stopping : (generation != generationAtStart ? .notified : nil)
        parked[id] = (payload, keys)
        entries[id] = Entry(
            deadline: deadline, heartbeatEvery: heartbeatEvery,
            nextHeartbeat: heartbeatEvery.map { now + $0 }, busy: true, pending: due)
        for key in keys { byKey[key, default: []].insert(id) }
        return id
    }

    /// The requests parked under any of `keys` that a thread must now work on (the busy ones will be, later).
    mutating func wake(keys: [String]) -> [Int] {
        generation &+= 1
        var woken: [Int] = []
        for key in keys {
            guard let ids = byKey[key] else { continue }
            woken += ids.compactMap { mark($0, .notified) }
        }
        return woken
    }

    mutating func wakeAll(_ due: Due = .notified) -> [Int] {
        generation &+= 1
        if due == .stopping { stopping = true }
        return entries.keys.sorted().compactMap { mark($0, due) }
    }

    /// The client of `id` went away; nil when a thread is already on it (it is told when it finishes).
    mutating func gone(_ id: Int) -> Int? { mark(id, .gone) }

    /// Deadlines and heartbeats that are due at `now`, marked busy.
    mutating func due(at now: ContinuousClock.Instant) -> [(id: Int, due: Due)] { takeDue(at: now).due }

    /// What is due at `now` (marked busy), and the earliest timer of the idle requests left: the watcher's
    /// one pass over every entry per wake-up.
    mutating func takeDue(at now: ContinuousClock.Instant) -> (due: [(id: Int, due: Due)], next: ContinuousClock.Instant?) {
        var result: [(Int, Due)] = []
        var next: ContinuousClock.Instant?
        for (id, entry) in entries where !entry.busy {
            if entry.deadline <= now {
                result.append((id, .deadline))
            } else if let recheck = entry.recheckAt, recheck <= now {
                result.append((id, .notified))
            } else if let beat = entry.nextHeartbeat, beat <= now {
                result.append((id, .heartbeat))
            } else {
                next = Self.earliest(next, entry)
            }
        }
        for (id, due) in result {
            entries[id]?.busy = true
            if due == .notified { entries[id]?.recheckAt = nil }
        }
        return (result.sorted { $0.0 < $1.0 }, next)
    }

    /// The earlier of `current` and `entry`'s timers (no array: this runs for every entry of every pass).
    private static func earliest(_ current: ContinuousClock.Instant?, _ entry: Entry) -> ContinuousClock.Instant? {
        func min(_ a: ContinuousClock.Instant?, _ b: ContinuousClock.Instant?) -> ContinuousClock.Instant? {
            guard let a else { return b }
            guard let b else { return a }
            return a < b ? a : b
        }
        return min(min(min(current, entry.deadline), entry.nextHeartbeat), entry.recheckAt)
    }

    /// The earliest deadline or heartbeat of an idle request. A plain loop: it runs under the lock on
    /// every pass of the watcher, over thousands of entries, so it must not allocate.
    var nextTimer: ContinuousClock.Instant? {
        var earliest: ContinuousClock.Instant?
        for entry in entries.values where !entry.busy { earliest = Self.earliest(earliest, entry) }
        return earliest
    }

    func payload(_ id: Int) -> Payload? { parked[id]?.payload }

    /// A thread finished its work on `id`: it ended the request (`ended`, the slot is freed) or the
    /// request waits on (`wrote`: bytes went out, so the heartbeat starts over). Returns the work to do
    /// next on it at once, if some arrived meanwhile (it stays busy). `recheckAt`: when the application,
    /// which ran (`ranApplication`; a heartbeat does not), wants to look again unwoken (nil: only when woken).
    mutating func finished(
        _ id: Int, ended: Bool, wrote: Bool, now: ContinuousClock.Instant, ranApplication: Bool = true,
        recheckAt: ContinuousClock.Instant? = nil
    ) -> Due? {
        guard var entry = entries[id] else { return nil }
        if ended {
            remove(id)
            return nil
        }
        if ranApplication { entry.recheckAt = recheckAt }
        if wrote, let every = entry.heartbeatEvery { entry.nextHeartbeat = now + every }
        if let pending = entry.pending {
            entry.pending = nil
            entries[id] = entry
            return pending
        }
        if stopping {
            entries[id] = entry
            return .stopping
        }
        entry.busy = false
        entries[id] = entry
        return nil
    }

    private mutating func mark(_ id: Int, _ due: Due) -> Int? {
        guard var entry = entries[id] else { return nil }
        if entry.busy {
            entry.pending = max(entry.pending ?? due, due)
            entries[id] = entry
            return nil
        }
        entry.busy = true
        entries[id] = entry
        return id
    }

    private mutating func remove(_ id: Int) {
        entries[id] = nil
        guard let (_, keys) = parked.removeValue(forKey: id) else { return }
        for key in keys {
            byKey[key]?.remove(id)
            if byKey[key]?.isEmpty == true { byKey[key] = nil }
        }
    }
}
