import Workflows
import Testing
@testable import WorkflowAPI

@Suite struct JSONParserTests {
    func parse(_ text: String) throws(JSONParser.Failure) -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

    @Test func parsesObjectsAndKeepsNumberText() throws {
        let value = try parse(#"{"a": [1, -2.5e3, true, false, null], "b": {"c": "d\u00e9\n"}}"#)
        #expect(value["a"] == .array([.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null]))
        #expect(value["b"]?["c"] == .string("dé\n"))
        #expect(value.serialized == #"{"a":[1,-2.5e3,true,false,null],"b":{"c":"dé\n"}}"#)
    }

    @Test func stringsWithAndWithoutEscapesRoundTrip() throws {
        #expect(try parse(#""plain é""#) == .string("plain é"))
        #expect(try parse(#""\"lead\" mid\\ \ttrail\n""#) == .string("\"lead\" mid\\ \ttrail\n"))
        #expect(try parse(#"{"k\u0041":"x\u0001y"}"#).serialized == #"{"kA":"x\u0001y"}"#)
        #expect(try parse(#"["a","b\"c",""]"#).serialized == #"["a","b\"c",""]"#)
    }

    @Test func surrogatePairsDecode() throws {
        #expect(try parse(#""\ud83d\ude00""#) == .string("😀"))
    }

    @Test(arguments: [
        "", "{", "{\"a\":}", "[1,]", "{\"a\":1,}", "01", "1.", "-", "tru", "\"\\x\"", "\"a", "{\"a\" 1}", "[1] 2",
        "\"\\ud800\"", "{'a':1}", "NaN",
    ])
    func malformedInputIsRejected(_ text: String) {
        #expect(throws: JSONParser.Failure.self) { try parse(text) }
    }

    @Test func duplicateKeysAreRejected() throws {
        #expect(throws: JSONParser.Failure.self) { try parse(#"{"a":1,"a":2}"#) }
        // small objects are scanned, large ones use a set: a duplicate at either size, early or late
        for count in [2, JSONParser.scanned - 1, JSONParser.scanned, JSONParser.scanned + 1, 3 * JSONParser.scanned] {
            let members = (0..<count).map { "\"k\($0)\":\($0)" }
            #expect(try parse("{" + members.joined(separator: ",") + "}")["k\(count - 1)"] == .number("\(count - 1)"))
            for duplicate in [0, count - 1] {
                let text = "{" + (members + ["\"k\(duplicate)\":true"]).joined(separator: ",") + "}"
                #expect(throws: JSONParser.Failure.self, "\(count) members, k\(duplicate) again") { try parse(text) }
            }
        }
    }

    @Test func nulCharacterIsRejectedBecauseJsonbCannotStoreIt() {
        #expect(throws: JSONParser.Failure.self) { try parse(#"{"a":"x\u0000y"}"#) }
    }

    @Test func deepNestingIsRejectedCheaply() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONParser.Failure.self) { try parse(deep) }
        let fine = String(repeating: "[", count: 60) + String(repeating: "]", count: 60)
        #expect(throws: Never.self) { try parse(fine) }
    }

    @Test func hugeNumbersAreRejected() {
        #expect(throws: JSONParser.Failure.self) { try parse("1e999999") }
        #expect(throws: JSONParser.Failure.self) { try parse(String(repeating: "9", count: 5000)) }
        #expect(throws: Never.self) { try parse("1e300") }
    }

    /// A member's text is what `serialized` writes for its value, whether the body was compact (its own
    /// bytes are taken) or not (written out).
    @Test(arguments: [
        #"{"workflowId":"create-prd","parameters":{"projectName":"Apollo","priority":3,"tags":["a","b"],"x":null}}"#,
        #"{"parameters": {"projectName": "Apollo", "nested": {"list": [1, 2.5e3, -0, true, false]}}}"#,
        #"{"parameters":{"a":"tab\there"}}"#,
        #"{"parameters":{"slash":"a\/b","unicode":"\u00e9\ud83c\udf89","quote":"say \"hi\""}}"#,
        "{\"parameters\":{\"text\":\"Ärger über Öl 🎉 / ~ \u{7F}\",\"empty\":{},\"none\":[]}}",
        "{\"parameters\":{\"a\":1}\n}",
        "{\"parameters\":\n{\"a\":1}}",
        #"{"a":"x","parameters":{}}"#,
    ])
    func aMembersTextIsWhatSerializingItsValueWrites(_ body: String) throws {
        let document = try JSONParser.parseDocument(Array(body.utf8))
        let value = try #require(document["parameters"])
        #expect(document.text(ofMember: "parameters") == value.serialized)
        #expect(try JSONParser.parse(Array(value.serialized.utf8)) == value)
        #expect(document.text(ofMember: "missing") == nil)
    }

    @Test func invalidUTF8IsRejected() {
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }
    }

    /// ASCII is taken eight bytes at a time: a byte of 0x80 or above anywhere (in a whole word or in the
    /// tail) sends the body through full validation, which takes what is UTF-8 and refuses the rest.
    @Test func utf8IsTakenAndRefusedAtEveryOffset() throws {
        for length in 0...20 {
            let ascii = Array(repeating: UInt8(ascii: "a"), count: length)
            #expect(ascii.withUnsafeBufferPointer { JSONParser.isUTF8($0) })
            for position in 0..<length {
                var text = ascii
                text[position] = 0xFF
                #expect(!text.withUnsafeBufferPointer { JSONParser.isUTF8($0) }, "0xFF at \(position) of \(length)")
                text = Array(ascii[..<position]) + Array("é".utf8) + Array(ascii[position...])
                #expect(text.withUnsafeBufferPointer { JSONParser.isUTF8($0) }, "é at \(position) of \(length)")
                text = Array(ascii[..<position]) + [0xC3] + Array(ascii[position...])
                #expect(!text.withUnsafeBufferPointer { JSONParser.isUTF8($0) }, "a lone lead byte at \(position) of \(length)")
            }
        }
        #expect(try parse(#"{"name":"Ärger über Öl – 漢字 🎉"}"#) == .object([("name", .string("Ärger über Öl – 漢字 🎉"))]))
    }
}

@Suite struct JSONWriterTests {
    @Test func timestampsAreRFC3339UTCWithMilliseconds() {
        #expect(JSONWriter.timestamp(.init(microsecondsSinceEpoch: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(JSONWriter.timestamp(.init(microsecondsSinceEpoch: 1_795_780_800_123_456)) == "2026-11-27T12:00:00.123Z")
        #expect(JSONWriter.timestamp(.init(microsecondsSinceEpoch: 951_782_400_999_999)) == "2000-02-29T00:00:00.999Z")
        #expect(JSONWriter.timestamp(.init(microsecondsSinceEpoch: -1_000)) == "1969-12-31T23:59:59.999Z")
    }

    @Test func logDurationsHaveTwoDecimals() {
        #expect(WorkflowAPI.milliseconds(nanoseconds: 1_234_000) == "1.23")
        #expect(WorkflowAPI.milliseconds(nanoseconds: 5_000_000) == "5.00")
        #expect(WorkflowAPI.milliseconds(nanoseconds: 50_000) == "0.05")
        #expect(WorkflowAPI.milliseconds(nanoseconds: 2_000_000_000) == "2000.00")
    }

    @Test func statesDocumentDerivesFromTheTable() {
        #expect(JSONWriter.states().contains(#""Created":["Running","Cancelled"]"#))
        #expect(JSONWriter.states().contains(#""terminal":["Completed","Failed","Cancelled"]"#))
    }
}
