import Foundation
import Testing
@testable import PostgresClient

@Suite struct PostgresQueryTests {
    @Test func interpolatedValuesBecomeNumberedPlaceholdersAndTravelApart() {
        let id = UUID(uuidString: "0A1B2C3D-0000-4000-8000-00000000000F")!
        let missing: String? = nil
        let query: PostgresQuery = "SELECT * FROM t WHERE id = \(id) AND note = \(missing) AND n IN (\(1), \(2), \(3), \(4), \(5), \(6), \(7), \(8), \(9), \(10)) LIMIT \(unescaped: "5")"
        #expect(query.sql == "SELECT * FROM t WHERE id = $1 AND note = $2 AND n IN ($3, $4, $5, $6, $7, $8, $9, $10, $11, $12) LIMIT 5")
        #expect(query.binds == ["0a1b2c3d-0000-4000-8000-00000000000f", nil, "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"])
        #expect(query.description == query.sql, "bind values are never printed")
    }

    @Test func placeholdersPastNinetyNineAreNumberedToo() {
        var interpolation = PostgresQuery.StringInterpolation(literalCapacity: 0, interpolationCount: 101)
        for n in 1...101 { interpolation.appendInterpolation(n) }
        let query = PostgresQuery(stringInterpolation: interpolation)
        #expect(query.sql.hasSuffix("$99$100$101"))
        #expect(query.binds.count == 101)
    }

    @Test func aStatementIsTheSameKeyWhetherBuiltOrWrittenAsAConstant() {
        let built: PostgresQuery = "SELECT \(1) FROM t"
        let constant = PostgresQuery(unsafeSQL: "SELECT $1 FROM t", binds: ["1"])
        #expect(built.text == constant.text)
        #expect(built.text.hashValue == constant.text.hashValue)
        #expect(Set([built.text, constant.text, PostgresQuery(stringLiteral: "SELECT $1 FROM u").text]).count == 2)
        // Same length and the same hashed tail, different head: equal hashes allowed, never equal keys.
        let tail = String(repeating: "x", count: 300)
        #expect(PostgresQuery(stringLiteral: "SELECT 1 " + tail).text != PostgresQuery(stringLiteral: "SELECT 2 " + tail).text)
    }

    @Test func builtTextReachesLibpqNULTerminated() {
        let built: PostgresQuery = "SELECT \(1)"
        #expect(built.text.withCString { String(cString: $0) } == "SELECT $1")
    }
}

@Suite struct PostgresQueryLiteralTests {
    @Test func aPlainLiteralIsItsOwnText() {
        func text(_ query: PostgresQuery) -> String { query.sql }
        #expect(text("SELECT count(*) FROM t") == "SELECT count(*) FROM t")
    }

    @Test func aPlainLiteralThroughATypedThrowingCall() throws {
        func run(_ query: PostgresQuery) throws(PostgresError) -> String { query.sql }
        #expect(try run("SELECT count(*) FROM t") == "SELECT count(*) FROM t")
        #expect(try run("SELECT to_regclass('half') IS NULL").count == 34)
    }
}
