extension Duration {
    /// Whole nanoseconds (truncated toward zero), for metrics timers and deadlines that take an integer.
    /// Overflows beyond ±292 years.
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
