import CLibPQ
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
import TextCoding

/// The rows of a statement's result, read in text format where libpq keeps them: the result is held
/// (and freed with the last row that refers to it), not copied. Numbers, booleans and UUIDs are parsed
/// from the value's bytes; only text columns become strings, when asked for.
///
/// Copying every value into a Swift buffer first cost a get ~4.7 k instructions, most of them an
/// unspecialized array allocation and its bookkeeping (bench/README.md); the C responder reads in place too.
public struct PostgresRows: Sendable, RandomAccessCollection {
    let result: PostgresResult

    init(_ result: PostgresResult) {
        self.result = result
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { Int(result.rowCount) }
    public subscript(position: Int) -> PostgresRow {
        precondition(position >= 0 && position < endIndex, "row \(position) of \(endIndex)")
        return PostgresRow(result: result, row: Int32(position), firstColumn: 0)
    }

    /// Rows affected, for INSERT/UPDATE/DELETE without RETURNING (0 for anything else).
    public var affectedRows: Int {
        guard let text = PQcmdTuples(result.pointer) else { return 0 }
        return PostgresRow.integer(UnsafeRawBufferPointer(start: text, count: strlen(text))) ?? 0
    }
}

/// A libpq result, freed when the last value that refers to it goes. `@unchecked Sendable`: libpq never
/// changes a result once it is returned, and reading one from any thread is safe (libpq's documentation:
/// a PGresult is read-only and independent of its connection).
final class PostgresResult: @unchecked Sendable {
    let pointer: OpaquePointer
    let rowCount: Int32
    let columnCount: Int32

    init(_ pointer: OpaquePointer) {
        self.pointer = pointer
        rowCount = PQntuples(pointer)
        columnCount = PQnfields(pointer)
    }

    deinit { PQclear(pointer) }

    /// A one-row result holding `values` as text (nil: NULL), built with libpq's own result API.
    convenience init(row values: [String?]) {
        guard let made = PQmakeEmptyPGresult(nil, PGRES_TUPLES_OK) else { fatalError("libpq could not allocate a result") }
        var name: [CChar] = [0]
        let described = name.withUnsafeMutableBufferPointer { name in
            var columns = [PGresAttDesc](
                repeating: PGresAttDesc(name: name.baseAddress, tableid: 0, columnid: 0, format: 0, typid: 25, typlen: -1, atttypmod: -1),
                count: values.count)
            return PQsetResultAttrs(made, Int32(values.count), &columns)
        }
        precondition(described == 1, "libpq could not describe a result's columns")
        for (column, value) in values.enumerated() {
            // PQsetvalue copies the value; a NULL is a length of -1.
            let stored = if let value {
                value.withCString { PQsetvalue(made, 0, Int32(column), UnsafeMutablePointer(mutating: $0), Int32(value.utf8.count)) }
            } else {
                PQsetvalue(made, 0, Int32(column), nil, -1)
            }
            precondition(stored == 1, "libpq could not store a result's value")
        }
        self.init(made)
    }
}

/// One row; values are addressed by column index, as in the SELECT list. Its values are read from the
/// result, which it keeps alive.
public struct PostgresRow: Sendable {
    let result: PostgresResult
    let row: Int32
    /// The result's column that is this row's column 0 (`columns(from:)`).
    let firstColumn: Int32

    /// A row of these values (nil: NULL).
    public init(values: [String?]) {
        self.init(result: PostgresResult(row: values), row: 0, firstColumn: 0)
    }

    init(result: PostgresResult, row: Int32, firstColumn: Int32) {
        self.result = result
        self.row = row
        self.firstColumn = firstColumn
    }

    public var count: Int { Int(result.columnCount - firstColumn) }

    /// This row's columns from `first` on, numbered from 0: the columns of a wider row handed to a reader
    /// of fewer (e.g. an event's columns after an instance's), without copying them.
    public func columns(from first: Int) -> PostgresRow {
        precondition(first >= 0 && first <= count, "columns from \(first) of \(count)")
        return PostgresRow(result: result, row: row, firstColumn: firstColumn + Int32(first))
    }

    public func isNull(_ column: Int) -> Bool { PQgetisnull(result.pointer, row, index(column)) == 1 }

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

    /// The value's bytes in the result (nil: NULL), valid only inside `body`.
    public func withBytes<T, E: Error>(_ column: Int, _ body: (UnsafeRawBufferPointer?) throws(E) -> T) throws(E) -> T {
        let field = index(column)
        guard PQgetisnull(result.pointer, row, field) == 0 else { return try body(nil) }
        return try body(UnsafeRawBufferPointer(start: PQgetvalue(result.pointer, row, field), count: Int(PQgetlength(result.pointer, row, field))))
    }

    private func index(_ column: Int) -> Int32 {
        precondition(column >= 0 && column < count, "column \(column) of \(count)")
        return firstColumn + Int32(column)
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
