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

@Suite struct DecimalTextTests {
    /// Every width from one digit to Int's limits, signs included, reads as the standard library writes it.
    @Test func integersReadAsTheStandardLibraryWritesThem() {
        var values = [0, 7, -5, 10, -10, 42, 99, 100, 1_234_567, .max, .min, .max - 1, .min + 1]
        var power = 1
        for _ in 0..<18 {
            power *= 10
            values += [power - 1, power, -power]
        }
        for value in values {
            #expect(DecimalText.string(value) == String(value))
            #expect(DecimalText.quoted(value) == "\"\(value)\"")
        }
    }
}
