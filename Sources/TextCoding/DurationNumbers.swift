#if canImport(Glibc)
import Glibc
#endif

extension Duration {
    /// Whole nanoseconds (truncated toward zero), for metrics timers and deadlines that take an integer.
    /// Overflows beyond ±292 years.
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

/// The monotonic clock in whole nanoseconds, for timing what a request spends: `ContinuousClock`'s `Duration`
/// arithmetic is 128-bit, and its `components` alone touched ~40 lines of code per request that nothing else
/// on a get runs (bench/README.md).
public enum MonotonicClock {
    public static func nanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
