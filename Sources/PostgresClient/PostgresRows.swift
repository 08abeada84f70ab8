#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
import TextCoding

/// The result of a statement, read in text format and copied out of libpq at once: every value of every
/// row into one byte buffer. Numbers, booleans and UUIDs are parsed from those bytes; only text columns
/// become strings, when asked for (a String per value cost an allocation each: 21 per instance row).
public struct PostgresRows: Sendable {
    public let rows: [PostgresRow]
    /// Rows affected, for INSERT/UPDATE/DELETE without RETURNING.
    public let affectedRows: Int

    public var first: PostgresRow? { rows.first }
    public var count: Int { rows.count }

    init(values: ResultValues, affectedRows: Int) {
        rows = (0..<values.rowCount).map { PostgresRow(values: values, row: $0) }
        self.affectedRows = affectedRows
    }
}

/// Every value of a result, row by row: `bytes` holds them back to back; `spans[row * columns + column]`
/// says where each is (`length` -1: NULL).
final class ResultValues: Sendable {
    let bytes: [UInt8]
    let spans: [(start: Int32, length: Int32)]
    let columns: Int
    var rowCount: Int { columns == 0 ? 0 : spans.count / columns }

    init(bytes: [UInt8], spans: [(start: Int32, length: Int32)], columns: Int) {
        self.bytes = bytes
        self.spans = spans
        self.columns = columns
    }

    /// One row from strings (nil: NULL).
    convenience init(row: [String?]) {
        var bytes: [UInt8] = []
        var spans: [(start: Int32, length: Int32)] = []
        for value in row {
            guard let value else {
                spans.append((Int32(bytes.count), -1))
                continue
            }
            spans.append((Int32(bytes.count), Int32(value.utf8.count)))
            bytes.append(contentsOf: value.utf8)
        }
        self.init(bytes: bytes, spans: spans, columns: row.count)
    }
}

/// One row; values are addressed by column index, as in the SELECT list.
public struct PostgresRow: Sendable {
    let values: ResultValues
    let row: Int

    init(values: ResultValues, row: Int) {
        self.values = values
        self.row = row
    }

    /// A row of these values (nil: NULL), e.g. columns of a wider row handed to a reader of fewer.
    public init(values: [String?]) {
        self.init(values: ResultValues(row: values), row: 0)
    }

    public var count: Int { values.columns }

    public func isNull(_ column: Int) -> Bool { span(column).length < 0 }

    public func string(_ column: Int) throws(PostgresError) -> String {
        guard let value = optionalString(column) else { throw decodingError(column, "text") }
        return value
    }

    public func optionalString(_ column: Int) -> String? {
        withBytes(column) { $0.map { String(decoding: $0, as: UTF8.self) } }
    }

    public func int(_ column: Int) throws(PostgresError) -> Int {
        guard let value = withBytes(column, { $0.flatMap(Self.integer) }) else { throw decodingError(column, "integer") }
        return value
    }

    public func int64(_ column: Int) throws(PostgresError) -> Int64 {
        guard let value = withBytes(column, { $0.flatMap(Self.integer) }) else { throw decodingError(column, "bigint") }
        return Int64(value)
    }

    public func bool(_ column: Int) throws(PostgresError) -> Bool {
        switch withBytes(column, { $0.flatMap { $0.count == 1 ? $0[0] : nil } }) {
        case UInt8(ascii: "t"): return true
        case UInt8(ascii: "f"): return false
        default: throw decodingError(column, "boolean")
        }
    }

    public func uuid(_ column: Int) throws(PostgresError) -> UUID {
        guard let value = withBytes(column, { $0.flatMap { UUID(utf8: $0) } }) else { throw decodingError(column, "uuid") }
        return value
    }

    private func span(_ column: Int) -> (start: Int32, length: Int32) {
        precondition(column >= 0 && column < values.columns, "column \(column) of \(values.columns)")
        return values.spans[row * values.columns + column]
    }

    /// The value's bytes (nil: NULL), valid only inside `body`.
    private func withBytes<T>(_ column: Int, _ body: (UnsafeRawBufferPointer?) -> T) -> T {
        let (start, length) = span(column)
        guard length >= 0 else { return body(nil) }
        return values.bytes.withUnsafeBytes { all in body(UnsafeRawBufferPointer(rebasing: all[Int(start)..<Int(start + length)])) }
    }

    /// A decimal integer as PostgreSQL writes it (optional minus, digits); nil for anything else or on overflow.
    static func integer(_ text: UnsafeRawBufferPointer) -> Int? {
        var index = 0
        let negative = text.first == UInt8(ascii: "-")
        if negative { index = 1 }
        guard index < text.count else { return nil }
        var value = 0
        if text.count - index <= 18 {
            // At most 18 digits cannot overflow an Int: no overflow checks per digit (timestamps have 16).
            while index < text.count {
                let digit = Int(text[index]) &- 48
                guard digit >= 0 && digit <= 9 else { return nil }
                value = value &* 10 &+ digit
                index += 1
            }
            return negative ? -value : value
        }
        while index < text.count {
            let digit = Int(text[index]) - 48
            guard digit >= 0 && digit <= 9 else { return nil }
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = negative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            guard !overflow1 && !overflow2 else { return nil }
            value = next
            index += 1
        }
        return value
    }

    private func decodingError(_ column: Int, _ type: String) -> PostgresError {
        PostgresError(kind: .decoding, message: "column \(column) is \(isNull(column) ? "NULL" : "not a valid \(type)")")
    }
}
