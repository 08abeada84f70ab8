#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// JSON written straight as UTF-8 bytes: the response body itself, with no `String` in between.
/// A `String` append checks capacity, uniqueness and its ASCII and count flags on every piece; a list of
/// 20 instances is ~500 pieces, and the body had to be copied out of the `String` afterwards anyway.
/// The caller keeps the JSON well-formed; the buffer only writes values in their JSON form.
public struct JSONBuffer {
    /// The bytes live in a buffer of the JSONBuffer's own: an append to an `[UInt8]` goes through the
    /// generic `append(contentsOf:)` (~150 instructions a piece, bench/instructions.sh), here it is a
    /// capacity check and a copy. Copy-on-write, like an array. The class only owns the memory (its
    /// properties are constants: a class's variables are checked for exclusive access at run time on
    /// every write); the count is the struct's.
    @usableFromInline final class Storage {
        @usableFromInline let base: UnsafeMutablePointer<UInt8>
        @usableFromInline let capacity: Int

        @usableFromInline init(capacity: Int) {
            self.capacity = Swift.max(capacity, 16)
            base = .allocate(capacity: self.capacity)
        }

        deinit { base.deallocate() }
    }

    @usableFromInline var storage: Storage
    @usableFromInline var count = 0

    public init(reservingCapacity capacity: Int = 256) {
        storage = Storage(capacity: capacity)
    }

    /// The JSON written so far.
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: storage.base, count: count)) }

    /// The JSON written so far, as a `String` (it is valid UTF-8: the buffer writes whole characters).
    public var string: String { String(decoding: UnsafeBufferPointer(start: storage.base, count: count), as: UTF8.self) }

    /// Where the next `extra` bytes go: room made (and the storage made this buffer's own) first.
    @inlinable
    mutating func room(for extra: Int) -> UnsafeMutablePointer<UInt8> {
        if count + extra > storage.capacity || !isKnownUniquelyReferenced(&storage) { grow(by: extra) }
        return storage.base + count
    }

    @usableFromInline
    mutating func grow(by extra: Int) {
        let larger = Storage(capacity: Swift.max(storage.capacity * 2, count + extra))
        larger.base.update(from: storage.base, count: count)
        storage = larger
    }

    @inlinable
    mutating func append(_ byte: UInt8) {
        room(for: 1).pointee = byte
        count += 1
    }

    @inlinable
    mutating func append(_ source: UnsafeBufferPointer<UInt8>) {
        guard let from = source.baseAddress, !source.isEmpty else { return }
        room(for: source.count).update(from: from, count: source.count)
        count += source.count
    }

    /// Text that is already JSON, or the fixed punctuation and names around values.
    @inlinable
    public mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { append($0) }
    }

    /// Text that is already JSON (a jsonb column as PostgreSQL printed it, a document written once).
    /// Disfavoured so that a literal takes the `StaticString` overload above (Swift prefers `String` for a
    /// literal otherwise): a copy from the binary, where this one is a call that borrows the string's bytes
    /// (~120 instructions; an instance's JSON is some twenty literals).
    @inlinable @_disfavoredOverload
    public mutating func raw(_ text: String) {
        var text = text
        text.withUTF8 { append($0) }
    }

    /// `s` as a JSON string literal, quotes included (RFC 8259 escaping: `"`, `\` and control characters;
    /// everything else is copied as it is, which is valid because a `String` is valid UTF-8).
    public mutating func quoted(_ s: String) {
        var s = s
        s.withUTF8 { quoted(utf8: $0) }
    }

    /// `quoted(_:)` of text known to be valid UTF-8.
    mutating func quoted(utf8 text: UnsafeBufferPointer<UInt8>) {
        append(UInt8(ascii: "\""))
        // Most strings (ids, names, statuses) need no escape: one scan over the bytes, then one copy (a scan
        // through `String.UTF8View` cost ~340 instructions for a short string).
        guard Self.needsEscaping(text) else {
            append(text)
            append(UInt8(ascii: "\""))
            return
        }
        for byte in text {
            switch byte {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case UInt8(ascii: "\n"): raw("\\n")
            case UInt8(ascii: "\r"): raw("\\r")
            case UInt8(ascii: "\t"): raw("\\t")
            case ..<0x20:
                raw("\\u00")
                append(Hex.digit(byte >> 4))
                append(Hex.digit(byte & 0x0F))
            default: append(byte)
            }
        }
        append(UInt8(ascii: "\""))
    }

    /// Whether `text` holds a byte that a JSON string literal must escape (`"`, `\`, a control character).
    static func needsEscaping(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        for byte in text where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { return true }
        return false
    }

    /// A decimal integer.
    public mutating func number(_ value: Int) {
        if value >= 0, value < 10 {
            append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: DecimalText.maxLength) { scratch in
            let first = DecimalText.write(value, endingAt: scratch.count, in: scratch)
            append(UnsafeBufferPointer(rebasing: scratch[first...]))
        }
    }

    /// `"1b4e28ba-2fa1-11d2-883f-0016d3cca427"`: quoted, lowercase, as PostgreSQL prints a `uuid`.
    public mutating func quoted(_ id: UUID) {
        append(UInt8(ascii: "\""))
        write(count: 36) { id.writeLowercaseText(to: $0) }
        append(UInt8(ascii: "\""))
    }

    /// `"2026-11-27T10:00:00.123Z"`: quoted RFC 3339 in UTC with milliseconds.
    public mutating func quotedTimestamp(microsecondsSinceEpoch micros: Int64) {
        append(UInt8(ascii: "\""))
        write(count: RFC3339.utcMillisecondsLength) { RFC3339.writeUTCMilliseconds(microsecondsSinceEpoch: micros, to: $0) }
        append(UInt8(ascii: "\""))
    }

    /// Appends the `count` bytes `body` writes (filled on the stack, then copied in one go).
    private mutating func write(count: Int, _ body: (UnsafeMutableBufferPointer<UInt8>) -> Void) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: count) { scratch in
            body(scratch)
            append(UnsafeBufferPointer(scratch))
        }
    }
}
