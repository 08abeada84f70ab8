import TextCoding
/// A parsed JSON value. Numbers keep their literal text so nothing is rounded on the way to jsonb.
enum JSONValue: Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in document order (keys are unique: the parser rejects duplicates).
    case object([(key: String, value: JSONValue)])

    static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// Compact JSON text.
    var serialized: String {
        var out = JSONBuffer()
        write(to: &out)
        return out.string
    }

    private func write(to out: inout JSONBuffer) {
        switch self {
        case .null: out.raw("null")
        case .bool(let b): out.raw(b ? "true" : "false")
        case .number(let n): out.raw(n)
        case .string(let s): out.quoted(s)
        case .array(let items):
            out.raw("[")
            for (i, item) in items.enumerated() {
                if i > 0 { out.raw(",") }
                item.write(to: &out)
            }
            out.raw("]")
        case .object(let members):
            out.raw("{")
            for (i, member) in members.enumerated() {
                if i > 0 { out.raw(",") }
                out.quoted(member.key)
                out.raw(":")
                member.value.write(to: &out)
            }
            out.raw("}")
        }
    }
}

/// A request body parsed: its value and, for a top-level object, where each member's value is in the
/// body's bytes.
struct JSONDocument {
    let value: JSONValue
    fileprivate let bytes: [UInt8]
    /// Parallel to the top-level object's members.
    fileprivate let memberRanges: [Range<Int>]
    /// No whitespace between tokens and no escape in any string: every value's text in the body is what
    /// `serialized` would write for it.
    fileprivate let compact: Bool

    subscript(key: String) -> JSONValue? { value[key] }

    /// The compact JSON text of member `key`'s value (`serialized`): the body's own bytes when they are
    /// already compact, as programs send them (writing a create's parameters back out cost ~4 k
    /// instructions).
    func text(ofMember key: String) -> String? {
        guard case .object(let members) = value, let position = members.firstIndex(where: { $0.key == key }) else { return nil }
        guard compact else { return members[position].value.serialized }
        return bytes.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[memberRanges[position]]), as: UTF8.self) }
    }
}

struct JSONParser {
    struct Failure: Error, Equatable {
        let message: String
        let offset: Int
        /// The value is nested deeper than the parse allowed (the rest of it was not read).
        var tooDeep = false
    }

    static let maxDepth = 64
    static let maxNumberLength = 100
    static let maxExponent = 1000

    /// The bytes being parsed, borrowed for the parse: read without an array's bounds checks and
    /// reference counting on every byte.
    private let bytes: UnsafeBufferPointer<UInt8>
    private let maxDepth: Int
    private var index = 0

    /// Set by `skipWhitespace` when it skipped something and by `parseString` at an escape.
    private var compact = true
    /// Where each member's value of the outermost object is (the object at depth 1).
    private var memberRanges: [Range<Int>] = []

    /// `maxDepth`: how many arrays and objects may nest (the outermost one is level 1).
    static func parse(_ bytes: [UInt8], maxDepth: Int = maxDepth) throws(Failure) -> JSONValue {
        try parseDocument(bytes, maxDepth: maxDepth).value
    }

    static func parseDocument(_ bytes: [UInt8], maxDepth: Int = maxDepth) throws(Failure) -> JSONDocument {
        try bytes.withUnsafeBufferPointer { (buffer) throws(Failure) -> JSONDocument in
            guard isUTF8(buffer) else { throw Failure(message: "the body is not valid UTF-8", offset: 0) }
            var parser = JSONParser(bytes: buffer, maxDepth: maxDepth)
            parser.skipWhitespace()
            let value = try parser.parseValue(depth: 0)
            parser.skipWhitespace()
            guard parser.index == buffer.count else { throw parser.failure("unexpected data after the JSON value") }
            return JSONDocument(value: value, bytes: bytes, memberRanges: parser.memberRanges, compact: parser.compact)
        }
    }

    /// ASCII is checked eight bytes at a time; anything else through the standard library's validation
    /// (which, asked through `String(validating:)`, also allocates the string).
    static func isUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let raw = UnsafeRawPointer(base)
        var offset = 0
        var high: UInt64 = 0
        while offset &+ 8 <= bytes.count {
            high |= raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            offset &+= 8
        }
        while offset < bytes.count {
            high |= UInt64(base[offset])
            offset &+= 1
        }
        if high & 0x8080_8080_8080_8080 == 0 { return true }
        return String(validating: bytes, as: UTF8.self) != nil
    }

    private init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    private func failure(_ message: String) -> Failure { Failure(message: message, offset: index) }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        let start = index
        while let c = current, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { index += 1 }
        if index != start { compact = false }
    }

    private mutating func parseValue(depth: Int) throws(Failure) -> JSONValue {
        guard let c = current else { throw failure("unexpected end of input") }
        switch c {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw failure("unexpected character")
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(Failure) {
        let expected = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        guard index + expected.count <= bytes.count, bytes[index..<index + expected.count].elementsEqual(expected) else {
            throw failure("invalid literal")
        }
        index += expected.count
    }

    private mutating func parseObject(depth: Int) throws(Failure) -> JSONValue {
        try checkDepth(depth)
        index += 1
        var members: [(key: String, value: JSONValue)] = []
        var keys = Set<String>()  // filled only for an object of more than `scanned` members
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        members.reserveCapacity(Self.reserved)
        if depth == 1 { memberRanges.reserveCapacity(Self.reserved) }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw failure("expected a member name in double quotes") }
            let key = try parseString()
            guard Self.isNew(key, in: members, keys: &keys) else {
                throw failure("duplicate member name \(JSONString.quoted(String(key.prefix(64))))")
            }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw failure("expected ':' after a member name") }
            index += 1
            skipWhitespace()
            let valueStart = index
            members.append((key, try parseValue(depth: depth)))
            if depth == 1 { memberRanges.append(valueStart..<index) }
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"): index += 1; return .object(members)
            default: throw failure("expected ',' or '}' in an object")
            }
        }
    }

    /// Room made for this many members or items at the first one: grown from empty, an array reallocates
    /// at its first, second and third append (~3 k instructions of a create's ~8 k parse).
    static let reserved = 8

    /// Members compared one by one up to this many: most objects are small, and a `Set` hashes every key
    /// and allocates (~5 k instructions per create); past it the set keeps a large object linear.
    static let scanned = 16

    private static func isNew(_ key: String, in members: [(key: String, value: JSONValue)], keys: inout Set<String>) -> Bool {
        if members.count < scanned { return !members.contains { $0.key == key } }
        if keys.isEmpty { keys = Set(members.map(\.key)) }
        return keys.insert(key).inserted
    }

    private mutating func parseArray(depth: Int) throws(Failure) -> JSONValue {
        try checkDepth(depth)
        index += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            index += 1
            return .array(items)
        }
        items.reserveCapacity(Self.reserved)
        while true {
            skipWhitespace()
            items.append(try parseValue(depth: depth))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): index += 1; return .array(items)
            default: throw failure("expected ',' or ']' in an array")
            }
        }
    }

    private func checkDepth(_ depth: Int) throws(Failure) {
        guard depth <= maxDepth else {
            throw Failure(message: "nesting deeper than \(maxDepth) levels", offset: index, tooDeep: true)
        }
    }

    private mutating func parseNumber() throws(Failure) -> String {
        let start = index
        if current == UInt8(ascii: "-") { index += 1 }
        guard let first = current, isDigit(first) else { throw failure("invalid number") }
        if first == UInt8(ascii: "0") {
            index += 1
        } else {
            while let c = current, isDigit(c) { index += 1 }
        }
        if current == UInt8(ascii: ".") {
            index += 1
            guard let c = current, isDigit(c) else { throw failure("invalid number: digits must follow '.'") }
            while let c = current, isDigit(c) { index += 1 }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            let exponentStart = index
            guard let c = current, isDigit(c) else { throw failure("invalid number: digits must follow the exponent") }
            while let c = current, isDigit(c) { index += 1 }
            let exponent = Int(String(decoding: UnsafeBufferPointer(rebasing: bytes[exponentStart..<index].prefix(8)), as: UTF8.self)) ?? Int.max
            guard index - exponentStart <= 8, exponent <= Self.maxExponent else {
                throw failure("number exponent out of range (at most \(Self.maxExponent))")
            }
        }
        guard index - start <= Self.maxNumberLength else { throw failure("number longer than \(Self.maxNumberLength) characters") }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
    }

    private func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    private mutating func parseString() throws(Failure) -> String {
        index += 1
        let start = index
        // Most strings have no escape: the text between the quotes is the string (the body was checked
        // to be UTF-8 as a whole).
        while let c = current, c != UInt8(ascii: "\""), c != UInt8(ascii: "\\"), c >= 0x20 { index += 1 }
        if current == UInt8(ascii: "\"") {
            index += 1
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index - 1]), as: UTF8.self)
        }
        compact = false  // an escape, which `serialized` may write differently
        var utf8 = Array(bytes[start..<index])
        while true {
            guard let c = current else { throw failure("unterminated string") }
            switch c {
            case UInt8(ascii: "\""):
                index += 1
                return String(decoding: utf8, as: UTF8.self)
            case UInt8(ascii: "\\"):
                index += 1
                utf8.append(contentsOf: UTF8.encode(try parseEscape())!)
            case 0..<0x20:
                throw failure("control character in a string")
            default:
                utf8.append(c)
                index += 1
            }
        }
    }

    private mutating func parseEscape() throws(Failure) -> Unicode.Scalar {
        guard let c = current else { throw failure("unterminated escape") }
        index += 1
        switch c {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let unit = try parseHex4()
            if unit == 0 { throw failure("\\u0000 is not allowed in strings") }
            if (0xD800..<0xDC00).contains(unit) {
                guard current == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                    throw failure("unpaired surrogate escape")
                }
                index += 2
                let low = try parseHex4()
                guard (0xDC00..<0xE000).contains(low) else { throw failure("unpaired surrogate escape") }
                return Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))!
            }
            guard let scalar = Unicode.Scalar(unit) else { throw failure("unpaired surrogate escape") }
            return scalar
        default:
            throw failure("invalid escape sequence")
        }
    }

    private mutating func parseHex4() throws(Failure) -> UInt32 {
        guard index + 4 <= bytes.count else { throw failure("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[index]
            let digit: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw failure("invalid \\u escape")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }
}
