import Dispatch
import Foundation
import Synchronization

/// Why the process stops. The first reason wins; `wait` blocks until there is one.
final class StopRequest: Sendable {
    enum Reason: Sendable, CustomStringConvertible {
        case signal(Int32)
        /// A component that cannot go on (the FastCGI listen socket failed): exit non-zero so that a
        /// supervisor restarts the process.
        case failure(String)

        var description: String {
            switch self {
            case .signal(SIGTERM): return "SIGTERM"
            case .signal(SIGINT): return "SIGINT"
            case .signal(let number): return "signal \(number)"
            case .failure(let reason): return reason
            }
        }
    }

    private let reason = Mutex<Reason?>(nil)
    private let arrived = DispatchSemaphore(value: 0)

    /// Records `reason` unless there already is one; returns whether it was the first.
    @discardableResult
    func request(_ reason: Reason) -> Bool {
        let first = self.reason.withLock { current in
            guard current == nil else { return false }
            current = reason
            return true
        }
        if first { arrived.signal() }
        return first
    }

    func wait() -> Reason {
        arrived.wait()
        return reason.withLock { $0! }
    }
}

/// A reload asked for by SIGHUP. The signal may come before the app is up (it is then run once the action
/// is set: the files may have changed after startup read them). Reloads run one at a time, in order, on a
/// queue of their own: two quick SIGHUPs never race, and the last one reads the newest files.
final class ReloadRequest: Sendable {
    private struct State {
        var action: (@Sendable () async -> Void)?
        var pending = false
    }

    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "workflowd.reload")

    func arrived() {
        let action = state.withLock { state -> (@Sendable () async -> Void)? in
            if state.action == nil { state.pending = true }
            return state.action
        }
        if let action { run(action) }
    }

    func setAction(_ action: @escaping @Sendable () async -> Void) {
        let pending = state.withLock { state in
            state.action = action
            defer { state.pending = false }
            return state.pending
        }
        if pending { run(action) }
    }

    /// Blocks this queue's thread (never one of the cooperative pool's) until the reload is done.
    private func run(_ action: @escaping @Sendable () async -> Void) {
        queue.async { @Sendable in
            let done = DispatchSemaphore(value: 0)
            Task {
                await action()
                done.signal()
            }
            done.wait()
        }
    }
}

/// The process's signal dispositions: set here, by the executable, and nowhere else.
///
/// SIGTERM, SIGINT and SIGHUP are seen through Dispatch signal sources (a C handler may do almost nothing; a
/// source's handler runs on a queue and may take locks and log). Their default action is set to SIG_IGN
/// first, so that one arriving before the source is armed does not kill the process (on Linux libdispatch
/// then installs its own handler, which feeds the source). The handlers are `@Sendable`: a closure formed
/// in an async or main-actor context and run by Dispatch must not inherit that isolation. SIGPIPE is
/// ignored, so that writing to a client that hung up is an error on that request, not the death of the
/// process. Install this before the FastCGI server: its `FCGX_Init` keeps what it finds.
final class ProcessSignals {
    private let sources: [any DispatchSourceSignal]

    init(handling numbers: [Int32], handler: @escaping @Sendable (Int32) -> Void) {
        signal(SIGPIPE, SIG_IGN)
        sources = numbers.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { @Sendable in handler(number) }
            source.resume()
            return source
        }
    }

    deinit { sources.forEach { $0.cancel() } }
}
