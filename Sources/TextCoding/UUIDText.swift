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

    /// A time-ordered (version 7, RFC 9562) UUID: the Unix time in milliseconds in the first 48 bits, then
    /// 74 random bits from the CSPRNG. For rows' primary keys: ids made one after another sort together, so
    /// a B-tree takes each insert at the edge of the same few leaf pages instead of a random one — with
    /// version 4 ids, every insert into a table larger than PostgreSQL's shared buffers reads a random leaf
    /// page and writes its full image to the WAL after each checkpoint (bench/README.md, make bench-scale).
    /// The id reveals when it was made, to the millisecond; so does the row's `createdAt`.
    public static func timeOrdered(unixMilliseconds: UInt64 = currentUnixMilliseconds()) -> UUID {
        // A random id (variant bits set) with its first 48 bits replaced by the time, its version by 7.
        var bytes = random().uuid
        withUnsafeMutableBytes(of: &bytes) { raw in
            for index in 0..<6 { raw[index] = UInt8(truncatingIfNeeded: unixMilliseconds >> (40 - 8 * index)) }
            raw[6] = (raw[6] & 0x0F) | 0x70  // version 7
        }
        return UUID(uuid: bytes)
    }

    /// The wall clock in Unix milliseconds, as version 7 UUIDs carry it.
    public static func currentUnixMilliseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(now.tv_sec) * 1000 + UInt64(now.tv_nsec) / 1_000_000
    }

    /// Parses the 8-4-4-4-12 hex form, either case (what `UUID(uuidString:)` accepts); nil otherwise.
    /// In place when the text's bytes are contiguous (a native `String` or a `Substring` of one, such as a
    /// path segment); copied into a `String` first otherwise.
    public init?(text: some StringProtocol) {
        let parsed: UUID?
        if let inPlace = text.utf8.withContiguousStorageIfAvailable({ UUID(utf8: UnsafeRawBufferPointer($0)) }) {
            parsed = inPlace
        } else {
            var copy = String(text)
            parsed = copy.withUTF8 { UUID(utf8: UnsafeRawBufferPointer($0)) }
        }
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

    /// Appends `lowercaseText`'s 36 bytes, for text built as bytes (no `String` per id).
    public func appendLowercaseText(to bytes: inout [UInt8]) {
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: 36))
        bytes.withUnsafeMutableBufferPointer { out in writeLowercaseText(to: UnsafeMutableBufferPointer(rebasing: out[start...])) }
    }

    /// Writes `lowercaseText` into the first 36 bytes of `out`: each byte's two digits copied from
    /// `Hex.pairs` to the offset the 8-4-4-4-12 layout fixes (a loop that decided the dashes per byte cost
    /// ~500 instructions a UUID, digits computed one by one ~300, and a create writes 5-7).
    func writeLowercaseText(to out: UnsafeMutableBufferPointer<UInt8>) {
        precondition(out.count >= 36)
        let base = UnsafeMutableRawPointer(out.baseAddress!)
        let pairs = Hex.pairs
        @inline(__always) func put(_ byte: UInt8, _ offset: Int) {
            base.storeBytes(of: pairs.loadUnaligned(fromByteOffset: Int(byte) &* 2, as: UInt16.self), toByteOffset: offset, as: UInt16.self)
        }
        let u = uuid
        put(u.0, 0); put(u.1, 2); put(u.2, 4); put(u.3, 6)
        put(u.4, 9); put(u.5, 11)
        put(u.6, 14); put(u.7, 16)
        put(u.8, 19); put(u.9, 21)
        put(u.10, 24); put(u.11, 26); put(u.12, 28); put(u.13, 30); put(u.14, 32); put(u.15, 34)
        let dash = UInt8(ascii: "-")
        out[8] = dash; out[13] = dash; out[18] = dash; out[23] = dash
    }
}
