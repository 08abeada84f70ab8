import Foundation
import HTTPHead
import HTTPTypes

/// The parts of an HTTP request the handlers use, parsed once.
struct APIRequest {
    let head: RequestHead
    let body: [UInt8]
    let path: String
    let segments: [Substring]
    let query: [(String, String)]
    /// `X-Request-Id` as every response to this request carries it (a legal field value).
    let requestId: String
    /// Headers every response to this request carries, whatever renders it (CORS).
    var responseHeaders = HeaderFields()

    init(head: RequestHead, body: [UInt8], requestId: String) {
        self.head = head
        self.body = body
        self.requestId = requestId
        var full = head.path
        // Searched in the contiguous bytes: "?" is ASCII; `utf8.firstIndex(of:)` walks `String.UTF8View`
        // indices (~2 instructions a byte more, through a generic path).
        let questionMark = full.withUTF8 { bytes in bytes.firstIndex(of: UInt8(ascii: "?")) }
        if let questionMark {
            let index = full.utf8.index(full.utf8.startIndex, offsetBy: questionMark)
            path = String(full[..<index])
            query = Self.parseQuery(full[full.utf8.index(after: index)...])
        } else {
            path = full
            query = []
        }
        segments = Self.segments(of: path)
    }

    /// `/api/v1/x` → ["api", "v1", "x"]: split at every "/", empty segments kept, the leading one dropped.
    /// One pass over the contiguous UTF-8 bytes, each segment cut at its byte offsets: walking
    /// `String.UTF8View` indices cost ~100 instructions a byte, and collecting the slashes' offsets into an
    /// array first cost an allocation per request.
    static func segments(of path: String) -> [Substring] {
        var bytesOfPath = path  // `withUTF8` needs a variable; a native string is not copied
        let utf8 = path.utf8
        func segment(_ from: Int, _ to: Int) -> Substring {
            path[utf8.index(utf8.startIndex, offsetBy: from)..<utf8.index(utf8.startIndex, offsetBy: to)]
        }
        return bytesOfPath.withUTF8 { bytes in
            var parts: [Substring] = []
            parts.reserveCapacity(8)
            var start: Int?
            for offset in bytes.indices where bytes[offset] == UInt8(ascii: "/") {
                if let start { parts.append(segment(start, offset)) }
                start = offset + 1
            }
            if let start { parts.append(segment(start, bytes.count)) }
            return parts
        }
    }

    func queryValue(_ name: String) -> String? { query.first { $0.0 == name }?.1 }

    /// `a=1&b=x%20y` → [("a","1"), ("b","x y")]; `+` is a space, as browsers send it.
    static func parseQuery(_ text: Substring) -> [(String, String)] {
        text.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (formDecoded(parts[0]), parts.count > 1 ? formDecoded(parts[1]) : "")
        }
    }

    /// `+` → space, `%XX` → that byte. Text with a malformed escape, or whose bytes are not UTF-8 once
    /// decoded, comes back with only `+` replaced (as Foundation's `removingPercentEncoding` failing did).
    /// Byte-wise: Foundation bridges through NSString on Linux, on every query parameter.
    static func formDecoded(_ text: Substring) -> String {
        let input = Array(text.utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(input.count)
        var index = 0
        var malformed = false
        while index < input.count {
            let byte = input[index]
            if byte == UInt8(ascii: "%"), !malformed {
                if index + 2 < input.count, let high = hexValue(input[index + 1]), let low = hexValue(input[index + 2]) {
                    bytes.append(high << 4 | low)
                    index += 3
                    continue
                }
                malformed = true
            }
            bytes.append(byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
            index += 1
        }
        if !malformed, let decoded = String(validating: bytes, as: UTF8.self) { return decoded }
        return String(decoding: input.map { $0 == UInt8(ascii: "+") ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Whether the body is declared as JSON (`application/json` or any `+json` type).
    /// On the value's contiguous bytes, without a lowercased copy: it runs on every write (through
    /// `String.UTF8View`s and a zip it cost ~3.5 k instructions a create; bench/instructions.sh).
    var hasJSONContentType: Bool {
        guard var field = head.headerFields.first(.contentType) else { return false }
        return field.withUTF8 { Self.isJSONMediaType($0) }
    }

    static func isJSONMediaType(_ value: UnsafeBufferPointer<UInt8>) -> Bool {
        let isSpace = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        var start = 0, end = value.firstIndex(of: UInt8(ascii: ";")) ?? value.count
        while start < end, isSpace(value[start]) { start += 1 }
        while end > start, isSpace(value[end - 1]) { end -= 1 }
        let type = UnsafeBufferPointer(rebasing: value[start..<end])
        if type.equalsIgnoringASCIICase(literal: "application/json") { return true }
        let prefix: StaticString = "application/", suffix: StaticString = "+json"
        return type.count >= prefix.utf8CodeUnitCount + suffix.utf8CodeUnitCount
            && UnsafeBufferPointer(rebasing: type.prefix(prefix.utf8CodeUnitCount)).equalsIgnoringASCIICase(literal: prefix)
            && UnsafeBufferPointer(rebasing: type.suffix(suffix.utf8CodeUnitCount)).equalsIgnoringASCIICase(literal: suffix)
    }
}

extension Collection<UInt8> {
    /// Whether these bytes spell `lowercase` in any ASCII case (`Bearer `, `Application/JSON`): only A–Z are
    /// folded, byte by byte, without a lowercased copy.
    func equalsIgnoringASCIICase(_ lowercase: some Collection<UInt8>) -> Bool {
        count == lowercase.count && zip(self, lowercase).allSatisfy { sent, expected in
            (UInt8(ascii: "A")...UInt8(ascii: "Z") ~= sent ? sent | 0x20 : sent) == expected
        }
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// `equalsIgnoringASCIICase` against a literal, byte by byte over both buffers (no generic iterators).
    func equalsIgnoringASCIICase(literal lowercase: StaticString) -> Bool {
        guard count == lowercase.utf8CodeUnitCount else { return false }
        let expected = lowercase.utf8Start
        for index in 0..<count {
            let sent = self[index]
            if (UInt8(ascii: "A")...UInt8(ascii: "Z") ~= sent ? sent | 0x20 : sent) != expected[index] { return false }
        }
        return true
    }
}

extension StringProtocol where SubSequence == Substring {
    /// Without leading and trailing spaces and tabs (HTTP's optional whitespace); cheaper than
    /// Foundation's `trimmingCharacters(in:)`, which bridges through NSString on Linux.
    /// Byte-wise: both are ASCII, so the ends found are character boundaries, and no grapheme breaking runs.
    func trimmingHTTPWhitespace() -> Substring {
        let whole = self[...]
        let bytes = whole.utf8
        let isSpace = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }) else { return whole[whole.endIndex...] }
        let last = bytes.lastIndex(where: { !isSpace($0) })!
        return whole[first..<bytes.index(after: last)]
    }
}
