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

/// The process's signal dispositions: set here, by the executable, and nowhere else.
///
/// SIGTERM and SIGINT are seen through Dispatch signal sources (a C handler may do almost nothing; a
/// source's handler runs on a queue and may take locks and log). Their default action is set to SIG_IGN
/// first, so that one arriving before the source is armed does not kill the process (on Linux libdispatch
/// then installs its own handler, which feeds the source). The handlers are `@Sendable`: a closure formed
/// in an async or main-actor context and run by Dispatch must not inherit that isolation. SIGPIPE is
/// ignored, so that writing to a client that hung up is an error on that request, not the death of the
/// process. Install this before the FastCGI server: its `FCGX_Init` keeps what it finds.
final class ProcessSignals {
    private let sources: [any DispatchSourceSignal]

    init(stopOn numbers: [Int32], handler: @escaping @Sendable (Int32) -> Void) {
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
