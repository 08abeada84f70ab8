#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value guarded by a plain `pthread_mutex_t`, for the locks every request takes.
///
/// Why not the standard library's `Mutex`: on Linux it is a priority-inheritance futex that spins before it
/// sleeps. With more worker threads than cores (workflowd's model: threads block on the database), a thread
/// holding a lock is often preempted; the others then spin out their time slice and go through the kernel's
/// rt-mutex path on lock and unlock. Profiled on a 2-core machine, the pool's lock alone took ~6 % of
/// workflowd's CPU in a get benchmark. glibc's default mutex sleeps on a plain futex at once and unlocks in
/// user space unless someone sleeps, which is what short critical sections under oversubscription want.
///
/// Access goes through `withLock` only; `Value` may be non-Sendable like `Mutex`'s: the closure is the
/// only place it is reached, so it never crosses threads unguarded unless the closure returns it.
///
/// `withLock` is `@inlinable` so each caller gets it specialized and inlined: called across the module
/// boundary it ran as one generic function for every lock (closure context, metadata, dynamic exclusivity
/// checks on `value`), ~3 k instructions and ~130 instruction-cache misses per get (bench/instructions.sh).
/// The value lives behind a pointer for the same reason: a class's stored `var` is checked for exclusive
/// access at run time on every use, which the mutex already guarantees.
public final class Locked<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline let value: UnsafeMutablePointer<Value>

    public init(_ value: Value) {
        self.value = .allocate(capacity: 1)
        self.value.initialize(to: value)
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let status = pthread_mutex_init(mutex, nil)
        precondition(status == 0, "pthread_mutex_init failed: \(status)")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
        value.deinitialize(count: 1)
        value.deallocate()
    }

    /// Runs `body` with the value while holding the lock; never call it again from inside `body`.
    @inlinable
    public func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        lock()
        defer { unlock() }
        return try body(&value.pointee)
    }

    // Out of line: Glibc stays an internal import, and these two calls are all a caller's code holds.
    @usableFromInline func lock() { pthread_mutex_lock(mutex) }
    @usableFromInline func unlock() { pthread_mutex_unlock(mutex) }
}
