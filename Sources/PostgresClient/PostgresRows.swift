#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
import TextCoding

/// The result of a statement, read in text format and copied out of libpq at once.
public struct PostgresRows: Sendable {
    public let rows: [PostgresRow]
    /// Rows affected, for INSERT/UPDATE/DELETE without RETURNING.
    public let affectedRows: Int

    public var first: PostgresRow? { rows.first }
    public var count: Int { rows.count }
}

/// One row; values are addressed by column index, as in the SELECT list.
public struct PostgresRow: Sendable {
    let values: [String?]

    public init(values: [String?]) { self.values = values }

    public var count: Int { values.count }

    public func isNull(_ column: Int) -> Bool { values[column] == nil }

    public func string(_ column: Int) throws(PostgresError) -> String {
        guard let value = values[column] else { throw decodingError(column, "text", nil) }
        return value
    }

    public func optionalString(_ column: Int) -> String? { values[column] }

    public func int(_ column: Int) throws(PostgresError) -> Int {
        guard let text = values[column], let value = Int(text) else { throw decodingError(column, "integer", values[column]) }
        return value
    }

    public func int64(_ column: Int) throws(PostgresError) -> Int64 {
        guard let text = values[column], let value = Int64(text) else { throw decodingError(column, "bigint", values[column]) }
        return value
    }

    public func bool(_ column: Int) throws(PostgresError) -> Bool {
        switch values[column] {
        case "t": return true
        case "f": return false
        default: throw decodingError(column, "boolean", values[column])
        }
    }

    public func uuid(_ column: Int) throws(PostgresError) -> UUID {
        guard let text = values[column], let value = UUID(text: text) else { throw decodingError(column, "uuid", values[column]) }
        return value
    }

    private func decodingError(_ column: Int, _ type: String, _ value: String?) -> PostgresError {
        PostgresError(kind: .decoding, message: "column \(column) is \(value == nil ? "NULL" : "not a valid \(type)")")
    }
}
