#if canImport(Glibc)
import Glibc
#endif
import Testing
import TextCoding

@Suite struct DurationNumbersTests {
    @Test func nanosecondsCountWholeNanosecondsTruncatingTowardZero() {
        #expect(Duration.seconds(2).nanoseconds == 2_000_000_000)
        #expect(Duration.milliseconds(1500).nanoseconds == 1_500_000_000)
        #expect(Duration.microseconds(7).nanoseconds == 7_000)
        #expect((Duration.nanoseconds(3) + .init(secondsComponent: 0, attosecondsComponent: 999_999_999)).nanoseconds == 3)
        #expect(Duration.milliseconds(-1500).nanoseconds == -1_500_000_000)
        #expect(Duration.zero.nanoseconds == 0)
    }

    /// The request timer's clock: it measures what `ContinuousClock` measures over the same interval.
    @Test func theMonotonicClockAdvancesWithTheContinuousClock() {
        let (clockStart, start) = (ContinuousClock.now, MonotonicClock.nanoseconds())
        usleep(20_000)
        let (elapsed, measured) = (MonotonicClock.nanoseconds() - start, (ContinuousClock.now - clockStart).nanoseconds)
        #expect(elapsed >= 20_000_000)
        #expect(abs(elapsed - measured) < 5_000_000, "\(elapsed) ns against \(measured) ns")
    }
}
