#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// UUID text without Foundation's slow paths: on Linux `UUID(uuidString:)` goes through `sscanf`,
/// `uuidString` through `sprintf`, and `UUID()` may open `/dev/urandom` per call. These run on every
/// request (path ids, database rows, JSON output, new ids), so they work on bytes.
extension UUID {
    /// A random (version 4, RFC 9562) UUID from the system's CSPRNG: `arc4random_buf` (glibc ≥ 2.36:
    /// one `getrandom` for all 16 bytes; `SystemRandomNumberGenerator` makes one per 64-bit `next()`).
    public static func random() -> UUID {
        var bytes = uuid_t(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &bytes) { raw in
            arc4random_buf(raw.baseAddress!, raw.count)
            raw[6] = (raw[6] & 0x0F) | 0x40  // version 4
            raw[8] = (raw[8] & 0x3F) | 0x80  // variant 10
        }
        return UUID(uuid: bytes)
    }

    /// Parses the 8-4-4-4-12 hex form, either case (what `UUID(uuidString:)` accepts); nil otherwise.
    public init?(text: some StringProtocol) {
        var parsed: UUID?
        var copy = String(text)  // a no-op for a native String
        copy.withUTF8 { parsed = UUID(utf8: UnsafeRawBufferPointer($0)) }
        guard let parsed else { return nil }
        self = parsed
    }

    /// Parses 36 bytes of 8-4-4-4-12 hex text.
    public init?(utf8 text: UnsafeRawBufferPointer) {
        guard text.count == 36 else { return nil }
        var bytes = uuid_t(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let ok = withUnsafeMutableBytes(of: &bytes) { out -> Bool in
            var position = 0
            for index in 0..<16 {
                if position == 8 || position == 13 || position == 18 || position == 23 {
                    guard text[position] == UInt8(ascii: "-") else { return false }
                    position += 1
                }
                guard let high = Hex.value(text[position]), let low = Hex.value(text[position + 1]) else { return false }
                out[index] = high << 4 | low
                position += 2
            }
            return true
        }
        guard ok else { return nil }
        self.init(uuid: bytes)
    }

    /// The canonical lowercase 8-4-4-4-12 form (RFC 9562), as PostgreSQL prints a `uuid`.
    public var lowercaseText: String {
        String(unsafeUninitializedCapacity: 36) { out in
            writeLowercaseText(to: out)
            return 36
        }
    }

    /// Writes `lowercaseText` into the first 36 bytes of `out`.
    func writeLowercaseText(to out: UnsafeMutableBufferPointer<UInt8>) {
        withUnsafeBytes(of: uuid) { raw in
            var position = 0
            for index in 0..<16 {
                if index == 4 || index == 6 || index == 8 || index == 10 {
                    out[position] = UInt8(ascii: "-")
                    position += 1
                }
                out[position] = Hex.digit(raw[index] >> 4)
                out[position + 1] = Hex.digit(raw[index] & 0x0F)
                position += 2
            }
        }
    }
}
