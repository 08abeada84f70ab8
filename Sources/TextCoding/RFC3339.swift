/// RFC 3339 timestamps in UTC with milliseconds (2026-11-27T10:00:00.123Z), written digit by digit:
/// every response and every log line carries one, and `String(format:)` or a date formatter costs more
/// than the rest of either on Linux.
public enum RFC3339 {
    /// The time `microseconds` after 1970-01-01T00:00:00Z, truncated to milliseconds (years 0–9999).
    public static func utcMilliseconds(microsecondsSinceEpoch micros: Int64) -> String {
        String(unsafeUninitializedCapacity: utcMillisecondsLength) { out in
            writeUTCMilliseconds(microsecondsSinceEpoch: micros, to: out)
            return utcMillisecondsLength
        }
    }

    /// The length of `utcMilliseconds`' text: always 24 bytes.
    static let utcMillisecondsLength = 24

    /// Writes `utcMilliseconds(microsecondsSinceEpoch:)` into the first 24 bytes of `out`: each field's
    /// digits two at a time from `decimalPairs`, at the offsets the format fixes (a loop per field that
    /// divided digit by digit cost ~500 instructions a timestamp; an instance has two).
    static func writeUTCMilliseconds(microsecondsSinceEpoch micros: Int64, to out: UnsafeMutableBufferPointer<UInt8>) {
        precondition(out.count >= utcMillisecondsLength)
        let millis = Int((micros % 1_000_000 + 1_000_000) % 1_000_000 / 1000)
        let seconds = Int((micros - Int64(millis) * 1000).floorDiv(1_000_000))
        let days = seconds.floorDiv(86_400)
        let secondOfDay = seconds - days * 86_400
        let (civilYear, month, day) = civilDate(daysSinceEpoch: days)
        let year = min(max(civilYear, 0), 9999)
        let base = UnsafeMutableRawPointer(out.baseAddress!)
        let pairs = decimalPairs
        @inline(__always) func put(_ value: Int, _ offset: Int) {  // value: 0...99
            base.storeBytes(of: pairs.loadUnaligned(fromByteOffset: value &* 2, as: UInt16.self), toByteOffset: offset, as: UInt16.self)
        }
        put(year / 100, 0); put(year % 100, 2)
        put(month, 5); put(day, 8)
        put(secondOfDay / 3600, 11); put(secondOfDay % 3600 / 60, 14); put(secondOfDay % 60, 17)
        put(millis / 10, 20)
        out[22] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: millis % 10)
        out[4] = UInt8(ascii: "-"); out[7] = UInt8(ascii: "-"); out[10] = UInt8(ascii: "T")
        out[13] = UInt8(ascii: ":"); out[16] = UInt8(ascii: ":"); out[19] = UInt8(ascii: "."); out[23] = UInt8(ascii: "Z")
    }

    /// "00" to "99", a constant in the binary (no lazy initialisation, no bounds check).
    private static var decimalPairs: UnsafeRawPointer {
        let text: StaticString = """
            00010203040506070809101112131415161718192021222324252627282930313233343536373839\
            40414243444546474849505152535455565758596061626364656667686970717273747576777879\
            8081828384858687888990919293949596979899
            """
        return UnsafeRawPointer(text.utf8Start)
    }

    /// Microseconds since the epoch of an RFC 3339 date-time (`2026-11-27T10:00:00Z`,
    /// `2026-11-27T12:00:00.5+02:00`); nil for anything else. Fractions beyond microseconds are truncated;
    /// leap seconds (`:60`) are refused.
    public static func microsecondsSinceEpoch(parsing text: some StringProtocol) -> Int64? {
        let b = Array(text.utf8)
        guard b.count >= 20, b.count <= 64 else { return nil }
        func number(_ from: Int, _ width: Int) -> Int? {
            var value = 0
            for i in from..<from + width {
                guard b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(b[i] - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0, 4), b[4] == UInt8(ascii: "-"), let month = number(5, 2), b[7] == UInt8(ascii: "-"),
            let day = number(8, 2), b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t"), let hour = number(11, 2),
            b[13] == UInt8(ascii: ":"), let minute = number(14, 2), b[16] == UInt8(ascii: ":"), let second = number(17, 2),
            (1...12).contains(month), hour < 24, minute < 60, second < 60
        else { return nil }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard day >= 1, day <= monthDays[month - 1] else { return nil }
        var at = 19
        var micros = 0
        if b[at] == UInt8(ascii: ".") {
            at += 1
            var digits = 0
            while at < b.count, b[at] >= UInt8(ascii: "0"), b[at] <= UInt8(ascii: "9") {
                if digits < 6 { micros = micros * 10 + Int(b[at] - UInt8(ascii: "0")) }
                digits += 1
                at += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 6) { micros *= 10 }
        }
        guard at < b.count else { return nil }
        var offset = 0
        if b[at] == UInt8(ascii: "Z") || b[at] == UInt8(ascii: "z") {
            at += 1
        } else {
            guard b[at] == UInt8(ascii: "+") || b[at] == UInt8(ascii: "-"), at + 6 == b.count,
                let oh = number(at + 1, 2), b[at + 3] == UInt8(ascii: ":"), let om = number(at + 4, 2), oh < 24, om < 60
            else { return nil }
            offset = (oh * 60 + om) * 60 * (b[at] == UInt8(ascii: "-") ? -1 : 1)
            at += 6
        }
        guard at == b.count else { return nil }
        let seconds = daysSinceEpoch(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second - offset
        return Int64(seconds) * 1_000_000 + Int64(micros)
    }

    /// Howard Hinnant's days-from-civil algorithm (proleptic Gregorian), the inverse of `civilDate`.
    static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = y.floorDiv(400)
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
    static func civilDate(daysSinceEpoch: Int) -> (Int, Int, Int) {
        let z = daysSinceEpoch + 719_468
        let era = z.floorDiv(146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

extension BinaryInteger {
    fileprivate func floorDiv(_ divisor: Self) -> Self {
        let q = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? q - 1 : q
    }
}
