import Testing
@testable import PostgresClient

@Suite struct PostgresRowTests {
    /// Integers as PostgreSQL prints them, from one digit to Int64's limits: up to 18 digits take the
    /// unchecked loop, longer ones the checked one, and both refuse what is not a number.
    @Test func integersAreReadFromTheirTextUpToInt64sLimitsAndNothingElse() throws {
        let valid: [(String, Int64)] = [
            ("0", 0), ("7", 7), ("-5", -5), ("1700000000123456", 1_700_000_000_123_456),
            ("999999999999999999", 999_999_999_999_999_999), ("-999999999999999999", -999_999_999_999_999_999),
            ("9223372036854775807", .max), ("-9223372036854775808", .min), ("0000000000000000000042", 42),
        ]
        for (text, expected) in valid {
            #expect(try PostgresRow(values: [text]).int64(0) == expected, "\(text)")
        }
        for text in ["9223372036854775808", "-9223372036854775809", "99999999999999999999", "12a", "1-2", "-", "", " 1", "+1"] {
            #expect(throws: PostgresError.self, "\(text)") { try PostgresRow(values: [text]).int64(0) }
        }
        #expect(throws: PostgresError.self) { try PostgresRow(values: [nil]).int(0) }
        #expect(try PostgresRow(values: ["-42"]).int(0) == -42)
    }

    /// A row made in Swift holds its values as a result from PostgreSQL does: text, empty text and NULL
    /// apart, UTF-8 intact; a reader of fewer columns sees the columns from where it starts, numbered from 0.
    @Test func aRowsValuesAndTheColumnsFromAnyPointAreReadInPlace() throws {
        let row = PostgresRow(values: ["a1", "", nil, "t", "zoë"])
        #expect(row.count == 5)
        #expect(try row.string(0) == "a1")
        #expect(try row.string(1) == "")
        #expect(row.optionalString(2) == nil && row.isNull(2))
        #expect(try row.bool(3))
        #expect(try row.string(4) == "zoë")
        let tail = row.columns(from: 2)
        #expect(tail.count == 3 && tail.isNull(0))
        #expect(try tail.bool(1))
        #expect(try tail.string(2) == "zoë")
        #expect(row.columns(from: 5).count == 0)
        #expect(throws: PostgresError.self) { try row.string(2) }
    }
}
