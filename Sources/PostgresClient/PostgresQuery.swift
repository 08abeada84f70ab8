#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import TextCoding

/// A statement written once (a `static let`), run on every request: prepared on a connection the first
/// time it runs there (session pooling) and found again by its number, where a statement built per request
/// is found by its text. Looking the text up cost a get ~1.9 k instructions of hashing and comparing
/// ~500 bytes (bench/README.md).
public final class PostgresStatement: Sendable {
    public let sql: String
    /// Dense from 0 in the order statements are made: the index of a connection's "prepared" flags.
    let number: Int
    /// Its prepared statement's name on every connection ("w0", "w1"…; text built per request is "s1"…).
    let name: String

    public init(_ sql: String) {
        self.sql = sql
        number = Self.made.add(1, ordering: .relaxed).oldValue
        name = "w\(number)"
    }

    private static let made = Atomic<Int>(0)
}

/// A value that can be sent as a text-format bind parameter.
public protocol PostgresBindable: Sendable {
    var postgresText: String { get }
}

extension String: PostgresBindable { public var postgresText: String { self } }
extension Int: PostgresBindable { public var postgresText: String { String(self) } }
extension Int32: PostgresBindable { public var postgresText: String { String(self) } }
extension Int64: PostgresBindable { public var postgresText: String { String(self) } }
extension Bool: PostgresBindable { public var postgresText: String { self ? "t" : "f" } }
extension UUID: PostgresBindable { public var postgresText: String { lowercaseText } }

/// SQL with bind parameters. Built by string interpolation, every `\(value)` becomes `$n` and the value is
/// sent separately, so user data never becomes SQL text. Raw SQL fragments need `\(unescaped:)`.
public struct PostgresQuery: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    /// The statement as PostgreSQL receives it (interpolated values as `$n`).
    public var sql: String { text.string }
    /// The same, as stored: a constant `String` as written, or the bytes an interpolation appended.
    let text: SQLText
    public private(set) var binds: [String?]
    /// Set for a statement written once: prepared by its number instead of looked up by its text.
    let statement: PostgresStatement?
    /// Planned anew with the bind values at every execution instead of prepared once per connection. For
    /// statements whose best plan depends on the values (a jsonb containment may match one row or half the
    /// table): a prepared statement may switch to a generic plan that cannot see them.
    public var plansEachExecution = false

    public init(stringLiteral value: String) {
        text = .string(value)
        binds = []
        statement = nil
    }

    public init(stringInterpolation: StringInterpolation) {
        text = .bytes(stringInterpolation.sql)
        binds = stringInterpolation.binds
        statement = nil
    }

    /// SQL from fixed fragments chosen by code, with binds already numbered to match.
    public init(unsafeSQL sql: String, binds: [String?]) {
        text = .string(sql)
        self.binds = binds
        statement = nil
    }

    /// A statement written once, with binds numbered to match.
    public init(_ statement: PostgresStatement, binds: [String?]) {
        text = .string(statement.sql)
        self.binds = binds
        self.statement = statement
    }

    /// The SQL only: bind values are never printed.
    public var description: String { sql }

    /// Appends bytes, not `String`s: statements are built on every request, and each append to a
    /// `String` (capacity, uniqueness and ASCII checks) cost ~300 instructions against a few for a byte
    /// copy into reserved room (bench/instructions.sh: ~10 % of a transition's instructions in workflowd).
    public struct StringInterpolation: StringInterpolationProtocol {
        var sql: [UInt8] = []
        var binds: [String?] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            binds.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) { sql.append(contentsOf: literal.utf8) }

        public mutating func appendInterpolation(_ value: some PostgresBindable) {
            binds.append(value.postgresText)
            appendPlaceholder()
        }

        public mutating func appendInterpolation(_ value: (some PostgresBindable)?) {
            binds.append(value?.postgresText)
            appendPlaceholder()
        }

        /// `$n` for the bind just added.
        private mutating func appendPlaceholder() {
            let n = binds.count
            sql.append(UInt8(ascii: "$"))
            if n >= 100 { return sql.append(contentsOf: String(n).utf8) }
            if n >= 10 { sql.append(UInt8(ascii: "0") + UInt8(n / 10)) }
            sql.append(UInt8(ascii: "0") + UInt8(n % 10))
        }

        /// Inserts SQL text as is. Never pass user data here.
        public mutating func appendInterpolation(unescaped fragment: String) { sql.append(contentsOf: fragment.utf8) }
    }
}

/// A statement's text, a constant or built bytes, read as UTF-8 either way. Hashed by its length and its
/// last 64 bytes only (the prepared-name cache looks it up on every query; hashing 256 bytes cost ~2,500
/// instructions, bench/instructions.sh); statements that share both are told apart by `==`, which compares
/// every byte.
enum SQLText: Sendable, Hashable {
    case string(String)
    case bytes([UInt8])

    var string: String {
        switch self {
        case .string(let text): text
        case .bytes(let bytes): String(decoding: bytes, as: UTF8.self)
        }
    }

    func withUTF8<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        switch self {
        case .string(var text): try text.withUTF8(body)
        case .bytes(let bytes): try bytes.withUnsafeBufferPointer(body)
        }
    }

    /// The text NUL-terminated, for libpq.
    func withCString<R>(_ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
        switch self {
        case .string(let text): try text.withCString(body)
        case .bytes(let bytes):
            try withUnsafeTemporaryAllocation(of: CChar.self, capacity: bytes.count + 1) { buffer in
                bytes.withUnsafeBytes { UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                buffer[bytes.count] = 0
                return try body(buffer.baseAddress!)
            }
        }
    }

    func hash(into hasher: inout Hasher) {
        withUTF8 { bytes in
            hasher.combine(bytes.count)
            hasher.combine(bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes.suffix(64))))
        }
    }

    static func == (a: SQLText, b: SQLText) -> Bool {
        a.withUTF8 { x in
            b.withUTF8 { y in x.count == y.count && (x.isEmpty || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0) }
        }
    }
}
