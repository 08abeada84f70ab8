#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
import TextCoding

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
    public private(set) var sql: String
    public private(set) var binds: [String?]
    /// Planned anew with the bind values at every execution instead of prepared once per connection. For
    /// statements whose best plan depends on the values (a jsonb containment may match one row or half the
    /// table): a prepared statement may switch to a generic plan that cannot see them.
    public var plansEachExecution = false

    public init(stringLiteral value: String) {
        sql = value
        binds = []
    }

    public init(stringInterpolation: StringInterpolation) {
        sql = stringInterpolation.sql
        binds = stringInterpolation.binds
    }

    /// SQL from fixed fragments chosen by code, with binds already numbered to match.
    public init(unsafeSQL sql: String, binds: [String?]) {
        self.sql = sql
        self.binds = binds
    }

    /// The SQL only: bind values are never printed.
    public var description: String { sql }

    public struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var binds: [String?] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            binds.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) { sql += literal }

        public mutating func appendInterpolation(_ value: some PostgresBindable) {
            binds.append(value.postgresText)
            sql += "$\(binds.count)"
        }

        public mutating func appendInterpolation(_ value: (some PostgresBindable)?) {
            binds.append(value?.postgresText)
            sql += "$\(binds.count)"
        }

        /// Inserts SQL text as is. Never pass user data here.
        public mutating func appendInterpolation(unescaped fragment: String) { sql += fragment }
    }
}
