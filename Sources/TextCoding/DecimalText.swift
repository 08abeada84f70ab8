/// Decimal integers as text, digits written from the last one back into a small buffer. `String(n)` and
/// `"\(n)"` go through the standard library's generic integer-to-text path and a protocol witness: ~190
/// instructions and ~12 instruction-cache misses a call, twice in every response (`Content-Length`,
/// `ETag`; bench/README.md).
public enum DecimalText {
    /// The widest text of an `Int`: a sign and 19 digits.
    static let maxLength = 20

    /// `value` as text, e.g. "-42".
    public static func string(_ value: Int) -> String {
        text(value, quoted: false)
    }

    /// `value` as text in double quotes, e.g. "\"3\"" (an `ETag`).
    public static func quoted(_ value: Int) -> String {
        text(value, quoted: true)
    }

    /// Writes `value`'s text so that it ends just before `end` in `buffer` (which holds at least
    /// `maxLength` bytes before it); returns where the text starts.
    static func write(_ value: Int, endingAt end: Int, in buffer: UnsafeMutableBufferPointer<UInt8>) -> Int {
        var rest = value.magnitude
        var first = end
        repeat {
            first -= 1
            buffer[first] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest % 10)
            rest /= 10
        } while rest > 0
        if value < 0 {
            first -= 1
            buffer[first] = UInt8(ascii: "-")
        }
        return first
    }

    private static func text(_ value: Int, quoted: Bool) -> String {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: maxLength + 2) { scratch in
            var end = scratch.count
            if quoted {
                end -= 1
                scratch[end] = UInt8(ascii: "\"")
            }
            var first = write(value, endingAt: end, in: scratch)
            if quoted {
                first -= 1
                scratch[first] = UInt8(ascii: "\"")
            }
            let text = UnsafeBufferPointer(rebasing: scratch[first...])
            return String(unsafeUninitializedCapacity: text.count) { out in
                _ = out.initialize(fromContentsOf: text)
                return text.count
            }
        }
    }
}
