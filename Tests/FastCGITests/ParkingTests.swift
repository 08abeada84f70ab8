import Dispatch
@testable import FastCGI
import Foundation
import HTTPHead
import HTTPTypes
import Logging
import Synchronization
import Testing

/// The waiting set's rules, without threads or sockets.
@Suite struct WaitingSetTests {
    let now = ContinuousClock.now

    func parkIdle(_ set: inout WaitingSet<String>, _ name: String, keys: [String], deadline: Duration = .seconds(30), heartbeat: Duration? = nil) -> Int {
        let id = set.park(name, keys: keys, deadline: now + deadline, heartbeatEvery: heartbeat, now: now, generationAtStart: set.generation)!
        #expect(set.finished(id, ended: false, wrote: false, now: now) == nil, "nothing happened while it parked")
        return id
    }

    @Test func aWakeReachesOnlyTheRequestsParkedUnderItsKey() {
        var set = WaitingSet<String>(capacity: 10)
        let a = parkIdle(&set, "a", keys: ["x"])
        _ = parkIdle(&set, "b", keys: ["y"])
        let c = parkIdle(&set, "c", keys: ["y", "x"])
        #expect(set.wake(keys: ["x"]).sorted() == [a, c])
        #expect(set.wake(keys: ["nobody"]).isEmpty)
    }

    @Test func theSetRefusesARequestPastItsCapacityAndTakesOneAgainOnceASlotIsFreed() {
        var set = WaitingSet<String>(capacity: 2)
        let a = parkIdle(&set, "a", keys: ["k"])
        _ = parkIdle(&set, "b", keys: ["k"])
        #expect(set.park("c", keys: ["k"], deadline: now, heartbeatEvery: nil, now: now, generationAtStart: set.generation) == nil)
        #expect(set.gone(a) == a)
        #expect(set.finished(a, ended: true, wrote: false, now: now) == nil)
        #expect(set.count == 1)
        #expect(set.park("c", keys: ["k"], deadline: now, heartbeatEvery: nil, now: now, generationAtStart: set.generation) != nil)
    }

    @Test func aWakeThatCameWhileTheHandlerRanIsHandedOutWhenItParks() {
        var set = WaitingSet<String>(capacity: 4)
        let started = set.generation
        _ = set.wake(keys: ["k"])  // committed after the handler's query, before it parked
        let id = set.park("late", keys: ["k"], deadline: now + .seconds(5), heartbeatEvery: nil, now: now, generationAtStart: started)!
        #expect(set.finished(id, ended: false, wrote: false, now: now) == .notified)
    }

    @Test func aWakeForABusyRequestIsKeptAndTheStrongestReasonWins() {
        var set = WaitingSet<String>(capacity: 4)
        let id = parkIdle(&set, "a", keys: ["k"])
        #expect(set.wake(keys: ["k"]) == [id])
        #expect(set.wake(keys: ["k"]).isEmpty, "a thread is on it already")
        #expect(set.gone(id) == nil)
        #expect(set.finished(id, ended: false, wrote: true, now: now) == .gone)
        #expect(set.finished(id, ended: true, wrote: false, now: now) == nil)
        #expect(set.count == 0)
        #expect(set.wake(keys: ["k"]).isEmpty, "its key was released")
    }

    @Test func deadlinesComeDueBeforeHeartbeatsAndAWriteRestartsTheHeartbeat() {
        var set = WaitingSet<String>(capacity: 4)
        let stream = parkIdle(&set, "s", keys: ["k"], deadline: .seconds(60), heartbeat: .seconds(15))
        let poll = parkIdle(&set, "p", keys: ["k"], deadline: .seconds(10))
        #expect(set.nextTimer == now + .seconds(10))
        #expect(set.due(at: now + .seconds(5)).isEmpty)
        let first = set.due(at: now + .seconds(12))
        #expect(first.map(\.id) == [poll] && first.map(\.due) == [.deadline])
        #expect(set.finished(poll, ended: true, wrote: true, now: now + .seconds(12)) == nil)
        #expect(set.wake(keys: ["k"]) == [stream])
        #expect(set.finished(stream, ended: false, wrote: true, now: now + .seconds(12)) == nil)
        #expect(set.due(at: now + .seconds(16)).isEmpty, "the event it wrote at 12 s counts as a heartbeat")
        let beat = set.due(at: now + .seconds(27))
        #expect(beat.map(\.id) == [stream] && beat.map(\.due) == [.heartbeat])
    }

    @Test func aRecheckComesDueAsAWakeAtItsTimeOutlivesHeartbeatsAndEndsWhenTheApplicationStopsAskingForIt() {
        var set = WaitingSet<String>(capacity: 4)
        let id = parkIdle(&set, "feed", keys: ["k"], deadline: .seconds(60), heartbeat: .seconds(1))
        #expect(set.wake(keys: ["k"]) == [id])
        #expect(set.finished(id, ended: false, wrote: false, now: now, recheckAt: now + .milliseconds(1500)) == nil)
        #expect(set.nextTimer == now + .seconds(1), "the heartbeat is earlier")
        let beat = set.due(at: now + .seconds(1))
        #expect(beat.map(\.due) == [.heartbeat])
        #expect(set.finished(id, ended: false, wrote: true, now: now + .seconds(1), ranApplication: false) == nil)
        #expect(set.nextTimer == now + .milliseconds(1500), "a heartbeat keeps the recheck")
        let recheck = set.due(at: now + .milliseconds(1500))
        #expect(recheck.map(\.id) == [id] && recheck.map(\.due) == [.notified])
        #expect(set.finished(id, ended: false, wrote: false, now: now + .milliseconds(1500)) == nil)
        #expect(set.nextTimer == now + .seconds(2), "answered without a recheck: only its heartbeat is left")
        #expect(set.due(at: now + .milliseconds(1900)).isEmpty)
    }

    @Test func stoppingEndsEveryRequestIncludingOnesParkedOrBusyLater() {
        var set = WaitingSet<String>(capacity: 4)
        let idle = parkIdle(&set, "idle", keys: ["k"])
        let busy = parkIdle(&set, "busy", keys: ["k"])
        #expect(set.wake(keys: ["k"]).sorted() == [idle, busy])
        #expect(set.finished(idle, ended: false, wrote: false, now: now) == nil)
        #expect(set.wakeAll(.stopping) == [idle])
        #expect(set.finished(busy, ended: false, wrote: false, now: now) == .stopping)
        let late = set.park("late", keys: [], deadline: now, heartbeatEvery: nil, now: now, generationAtStart: set.generation)!
        #expect(set.finished(late, ended: false, wrote: true, now: now) == .stopping)
    }
}

/// Parked requests through a real socket: woken, refused when full, freed when the client hangs up, ended by stop.
@Suite struct ParkingServerTests {
    let socket: String

    init() throws {
        // The server writes to connections whose client hung up; like workflowd, the process must not die of it.
        signal(SIGPIPE, SIG_IGN)
        let directory = NSTemporaryDirectory() + "park-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        socket = directory + "/s.sock"
    }

    final class WakeCount: Sendable {
        let value = Atomic(0)
    }

    static let full = (ResponseHead(status: .serviceUnavailable, headerFields: [.retryAfter: "1"]), Array("full".utf8))

    /// `/wait/KEY` parks until woken (answers "woken KEY") or stopped ("stopped"); `/stream` parks as a
    /// stream that writes "tick" at each wake-up; anything else answers at once.
    func server(maxWaiters: Int = 16, wakes: WakeCount? = nil) throws -> FastCGIServer {
        try FastCGIServer(
            configuration: FastCGIServerConfiguration(address: .unix(path: socket, mode: 0o600), workers: 2, maxWaiters: maxWaiters),
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        ) { request, _ in
            let path = request.path
            let ok = ResponseHead(status: .ok, headerFields: [.contentType: "text/plain"])
            if path.hasPrefix("/wait/") {
                let key = String(path.dropFirst(6))
                return .park(Parking(keys: [key], deadline: .now + .seconds(30), whenFull: Self.full) { reason in
                    wakes?.value.add(1, ordering: .relaxed)
                    return .finish(ok, Array((reason == .stopping ? "stopped" : "woken \(key)").utf8))
                })
            }
            if path == "/stream" {
                let stream = Parking.Stream(head: ok, first: Array("open\n".utf8), heartbeatEvery: .seconds(15), heartbeat: Array(":\n".utf8))
                return .park(Parking(keys: ["s"], deadline: .now + .seconds(30), stream: stream, whenFull: Self.full) { reason in
                    reason == .notified ? .wait(sending: Array("tick\n".utf8)) : .finish(nil, Array("bye\n".utf8))
                })
            }
            return .respond(ok, Array("now \(path)".utf8))
        }
    }

    func eventually(_ condition: () -> Bool) -> Bool {
        let until = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < until {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return condition()
    }

    @Test func parkedRequestsHoldNoWorkerAndAreAnsweredWhenTheirKeyIsWoken() throws {
        let server = try server()
        server.start()
        defer { server.stop(deadline: .now + .seconds(5)) }
        // Five parked requests on a server with two workers: ordinary requests are still served.
        let fds = try (0..<5).map { try FastCGIClient.send(socket: socket, path: "/wait/\($0 % 2 == 0 ? "even" : "odd")") }
        defer { fds.forEach { close($0) } }
        #expect(eventually { server.waiting == 5 })
        #expect(try FastCGIClient.get(socket: socket, path: "/plain").contains("now /plain"))
        server.wake(keys: ["odd"])
        #expect(try FastCGIClient.answer(fds[1]).contains("woken odd"))
        #expect(try FastCGIClient.answer(fds[3]).contains("woken odd"))
        #expect(eventually { server.waiting == 3 })
    }

    @Test func aChangeIsOnlyNotedWhileNothingIsParkedAndAskedToWakeOtherwise() throws {
        let server = try server()
        server.start()
        defer { server.stop(deadline: .now + .seconds(5)) }
        #expect(server.noteChangeIfNoneParked())
        let fd = try FastCGIClient.send(socket: socket, path: "/wait/a")
        defer { close(fd) }
        #expect(eventually { server.waiting == 1 })
        #expect(!server.noteChangeIfNoneParked(), "a parked request: the caller must wake its keys")
        server.wake(keys: ["b", "a"])
        #expect(try FastCGIClient.answer(fd).contains("woken a"))
    }

    @Test func pastTheLimitTheHandlersFallbackAnswers() throws {
        let server = try server(maxWaiters: 1)
        server.start()
        defer { server.stop(deadline: .now + .seconds(5)) }
        let first = try FastCGIClient.send(socket: socket, path: "/wait/a")
        defer { close(first) }
        #expect(eventually { server.waiting == 1 })
        let refused = try FastCGIClient.get(socket: socket, path: "/wait/b")
        #expect(refused.hasPrefix("Status: 503"))
        #expect(refused.contains("Retry-After: 1"))
    }

    @Test func aClientThatHangsUpIsNoticedAndItsSlotFreedWithoutWakingTheApplication() throws {
        let wakes = WakeCount()
        let server = try server(wakes: wakes)
        server.start()
        defer { server.stop(deadline: .now + .seconds(5)) }
        let fd = try FastCGIClient.send(socket: socket, path: "/wait/a")
        #expect(eventually { server.waiting == 1 })
        close(fd)
        #expect(eventually { server.waiting == 0 })
        #expect(wakes.value.load(ordering: .relaxed) == 0)
    }

    /// The watcher hears of a hang-up once (edge-triggered epoll); one that comes while a wake thread is
    /// busy with the request must still end it when that work is done.
    @Test func aClientThatHangsUpWhileItsWakeUpRunsIsEndedAfterIt() throws {
        let inWake = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let wakes = WakeCount()
        let server = try FastCGIServer(
            configuration: FastCGIServerConfiguration(address: .unix(path: socket, mode: 0o600), workers: 2),
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        ) { _, _ in
            let ok = ResponseHead(status: .ok, headerFields: [.contentType: "text/plain"])
            let stream = Parking.Stream(head: ok, first: Array("open\n".utf8), heartbeatEvery: .seconds(15), heartbeat: Array(":\n".utf8))
            return .park(Parking(keys: ["s"], deadline: .now + .seconds(30), stream: stream, whenFull: Self.full) { reason in
                guard reason == .notified else { return .finish(nil, []) }
                wakes.value.add(1, ordering: .relaxed)
                inWake.signal()
                _ = release.wait(timeout: .now() + 5)
                return .wait(sending: Array("tick\n".utf8))
            })
        }
        server.start()
        defer { server.stop(deadline: .now + .seconds(5)) }
        let fd = try FastCGIClient.send(socket: socket, path: "/stream")
        #expect(eventually { server.waiting == 1 })
        server.wake(keys: ["s"])
        #expect(inWake.wait(timeout: .now() + 5) == .success)
        close(fd)
        Thread.sleep(forTimeInterval: 0.2)  // the hang-up reaches the watcher while the wake-up still runs
        #expect(server.waiting == 1)
        release.signal()
        #expect(eventually { server.waiting == 0 })
        #expect(wakes.value.load(ordering: .relaxed) == 1)
    }

    @Test func aStreamWritesItsHeadAtOnceAndEachWakeUpAsItHappens() throws {
        let server = try server()
        server.start()
        let fd = try FastCGIClient.send(socket: socket, path: "/stream")
        defer { close(fd) }
        #expect(eventually { server.waiting == 1 })
        server.wake(keys: ["s"])
        server.wake(keys: ["s"])
        // The stream is still open: stop ends it, and its answer holds everything written.
        Thread.sleep(forTimeInterval: 0.2)
        #expect(server.stop(deadline: .now + .seconds(5)) == FastCGIServer.StopResult(drained: true, inFlight: 0))
        let text = try FastCGIClient.answer(fd)
        #expect(text.hasPrefix("Status: 200"))
        #expect(text.hasSuffix("open\ntick\ntick\nbye\n") || text.hasSuffix("open\ntick\nbye\n"), "got \(text.debugDescription)")
    }

    @Test func stopEndsParkedRequestsWithinTheDeadline() throws {
        let server = try server()
        server.start()
        let fds = try (0..<3).map { _ in try FastCGIClient.send(socket: socket, path: "/wait/x") }
        #expect(eventually { server.waiting == 3 })
        // Clients read their answers and hang up, as nginx does (libfcgi waits for that when it closes).
        let answers = Mutex<[String]>([])
        let read = DispatchGroup()
        for fd in fds {
            read.enter()
            Thread.detachNewThread {
                let text = (try? FastCGIClient.answer(fd)) ?? ""
                close(fd)
                answers.withLock { $0.append(text) }
                read.leave()
            }
        }
        let asked = ContinuousClock.now
        #expect(server.stop(deadline: .now + .seconds(5)) == FastCGIServer.StopResult(drained: true, inFlight: 0))
        #expect(ContinuousClock.now - asked < .seconds(1))
        #expect(read.wait(timeout: .now() + 5) == .success)
        #expect(answers.withLock { $0 }.filter { $0.contains("stopped") }.count == 3)
    }
}
