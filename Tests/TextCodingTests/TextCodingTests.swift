import Foundation
import Testing
import TextCoding

@Suite struct UUIDTextTests {
    @Test func formatsAndParsesLikeFoundation() {
        for _ in 0..<1000 {
            let id = UUID()
            #expect(id.lowercaseText == id.uuidString.lowercased())
            #expect(UUID(text: id.uuidString) == id)
            #expect(UUID(text: id.uuidString.lowercased()) == id)
        }
        let fixed = UUID(uuidString: "00FF10E2-9A0B-4C3D-8E4F-A5B6C7D8E9F0")!
        #expect(fixed.lowercaseText == "00ff10e2-9a0b-4c3d-8e4f-a5b6c7d8e9f0")
        let path = "/api/v1/workflows/00ff10e2-9a0b-4c3d-8e4f-a5b6c7d8e9f0/events"
        #expect(UUID(text: path.split(separator: "/")[3]) == fixed, "a Substring, parsed in place")
        #expect(UUID(text: path.split(separator: "/")[2]) == nil)
        #expect(UUID(text: "00Ff10e2-9A0b-4C3d-8E4f-A5b6C7d8E9f0") == fixed, "either case, mixed")
    }

    @Test(arguments: [
        "", "not-a-uuid", "00ff10e2-9a0b-4c3d-8e4f-a5b6c7d8e9f", "00ff10e2-9a0b-4c3d-8e4f-a5b6c7d8e9f00",
        "00ff10e2x9a0b-4c3d-8e4f-a5b6c7d8e9f0", "00ff10e29a0b-4c3d-8e4f-a5b6c7d8e9f0-", "g0ff10e2-9a0b-4c3d-8e4f-a5b6c7d8e9f0",
        "00ff10e2-9a0b-4c3d-8e4f-a5b6c7d8e9f\u{e9}", "{0ff10e2-9a0b-4c3d-8e4f-a5b6c7d8e9f0}",
        "00ff10e2-9a0b-4c3d-8e4f-a5b6c7d8e9fG", "00ff10e2-9a0b-4c3d-8e4f-a5b6c7d8e9f:", "00ff10e2-9a0b-4c3d-8e4f-a5b6c7d8e9f@",
        "/0ff10e2-9a0b-4c3d-8e4f-a5b6c7d8e9f0", "00ff10e2-9a0b-4c3d-8e4f-a5b6c7d8e9f`", "00ff10e2-9a0b+4c3d-8e4f-a5b6c7d8e9f0",
    ])
    func rejectsWhatFoundationRejects(_ text: String) {
        #expect(UUID(text: text) == nil)
        #expect(UUID(uuidString: text) == nil)
    }

    @Test func randomIsVersion4AndUnique() {
        var seen = Set<UUID>()
        for _ in 0..<10_000 {
            let id = UUID.random()
            let text = id.lowercaseText
            #expect(text[text.index(text.startIndex, offsetBy: 14)] == "4")
            #expect("89ab".contains(text[text.index(text.startIndex, offsetBy: 19)]))
            seen.insert(id)
        }
        #expect(seen.count == 10_000)
    }

    @Test func timeOrderedIsVersion7WithItsMillisecondsFirst() {
        let milliseconds: UInt64 = 0x0193_5A2B_3C4D  // 2024-11-23T17:56:43.213Z
        let text = UUID.timeOrdered(unixMilliseconds: milliseconds).lowercaseText
        #expect(text.hasPrefix("01935a2b-3c4d-7"))
        #expect("89ab".contains(text[text.index(text.startIndex, offsetBy: 19)]))
    }

    @Test func timeOrderedIdsSortByTimeAndDifferWithinAMillisecond() {
        let before = UUID.currentUnixMilliseconds()
        let now = UUID.timeOrdered().lowercaseText
        let after = UUID.currentUnixMilliseconds()
        let stamp = UInt64(now.prefix(8) + now.dropFirst(9).prefix(4), radix: 16)!
        #expect((before...after).contains(stamp))
        let earlier = UUID.timeOrdered(unixMilliseconds: 1_000).lowercaseText
        let later = UUID.timeOrdered(unixMilliseconds: 1_001).lowercaseText
        #expect(earlier < later)
        let sameMillisecond = Set((0..<1_000).map { _ in UUID.timeOrdered(unixMilliseconds: 5) })
        #expect(sameMillisecond.count == 1_000)
    }

    @Test func hexEncodesBytes() {
        #expect(Hex.encode([UInt8]()) == "")
        #expect(Hex.encode([0x00, 0x0f, 0xa5, 0xff]) == "000fa5ff")
        let bytes = (0...255).map(UInt8.init)
        #expect(Hex.encode(bytes) == bytes.map { String(format: "%02x", $0) }.joined())
    }
}

@Suite struct RFC3339Tests {
    @Test func writesUTCWithMillisecondsTruncated() {
        #expect(RFC3339.utcMilliseconds(microsecondsSinceEpoch: 0) == "1970-01-01T00:00:00.000Z")
        #expect(RFC3339.utcMilliseconds(microsecondsSinceEpoch: 1_795_780_800_123_999) == "2026-11-27T12:00:00.123Z")
        #expect(RFC3339.utcMilliseconds(microsecondsSinceEpoch: 951_782_400_000_000) == "2000-02-29T00:00:00.000Z")
        #expect(RFC3339.utcMilliseconds(microsecondsSinceEpoch: -1) == "1969-12-31T23:59:59.999Z")
    }

    /// Every field at its offset, across years 1583–9999 and every millisecond digit: the same text as
    /// Foundation's ISO 8601 formatter writes (which turns Julian before the Gregorian calendar began,
    /// where RFC 3339's proleptic Gregorian dates go on).
    @Test func writesWhatFoundationWrites() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let millis = Int64.random(in: -12_212_553_600_000...253_402_300_799_999, using: &generator)  // 1583…9999
            let written = RFC3339.utcMilliseconds(microsecondsSinceEpoch: millis * 1000)
            #expect(written == formatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1000)), "\(millis)")
        }
    }

    @Test func parsesWhatItWritesAndOffsets() {
        for micros: Int64 in [0, 1_795_780_800_123_000, 951_782_400_000_000, -1000] {
            #expect(RFC3339.microsecondsSinceEpoch(parsing: RFC3339.utcMilliseconds(microsecondsSinceEpoch: micros)) == micros)
        }
        #expect(RFC3339.microsecondsSinceEpoch(parsing: "2026-11-27T14:00:00.5+02:00") == 1_795_780_800_500_000)
        #expect(RFC3339.microsecondsSinceEpoch(parsing: "2026-11-27t12:00:00.1234567z") == 1_795_780_800_123_456)
    }

    @Test(arguments: ["", "2026-11-27", "2026-11-27 12:00:00Z", "2026-02-29T00:00:00Z", "2026-11-27T24:00:00Z",
                      "2026-11-27T12:00:60Z", "2026-11-27T12:00:00", "2026-11-27T12:00:00.Z", "2026-11-27T12:00:00+2:00",
                      "2026-11-27T12:00:00Zjunk", "+2026-11-27T12:00:00Z"])
    func refusesWhatIsNotRFC3339(_ text: String) {
        #expect(RFC3339.microsecondsSinceEpoch(parsing: text) == nil)
    }
}

@Suite struct Base64URLTests {
    @Test func encodesLikeFoundationWithoutPaddingAndDecodesBack() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<64 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let expected = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(Base64URL.encode(bytes) == expected)
            #expect(Base64URL.decode(expected) == bytes)
        }
    }

    @Test func refusesWhatNoEncoderWrites() {
        #expect(Base64URL.decode("a") == nil, "a lone sixth-bit group")
        #expect(Base64URL.decode("ab+c") == nil, "not the url alphabet")
        #expect(Base64URL.decode("YQ==") == nil, "padding")
        #expect(Base64URL.decode("YR") == nil, "leftover bits set")
        #expect(Base64URL.decode("YQ") == [UInt8(ascii: "a")])
    }
}

@Suite struct JSONBufferTests {
    private func written(_ write: (inout JSONBuffer) -> Void) -> String {
        var out = JSONBuffer(reservingCapacity: 4)  // small: every test also grows the buffer
        write(&out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    @Test(arguments: [0, 7, 9, 10, 42, 1000, -1, -10, Int.max, Int.min])
    func numbersAreDecimalLikeSwiftPrintsThem(_ value: Int) {
        #expect(written { $0.number(value) } == String(value))
    }

    @Test func stringsAreEscapedLikeJSONString() throws {
        for text in ["", "plain", "a\"b\\c\nd\r\te\u{01}\u{1F}", "Grüße 👋", "\u{7F}end"] {
            let bytes = written { $0.quoted(text) }
            #expect(bytes == JSONString.quoted(text))
            // And it is the JSON string of the text.
            let decoded = try JSONSerialization.jsonObject(with: Data(bytes.utf8), options: .fragmentsAllowed) as? String
            #expect(decoded == text)
        }
        #expect(written { $0.quoted("a\u{01}") } == #""a\u0001""#)
    }

    @Test func idsAndTimestampsAreQuotedInTheirTextForm() {
        let id = UUID(uuidString: "00FF10E2-9A0B-4C3D-8E4F-A5B6C7D8E9F0")!
        #expect(written { $0.quoted(id) } == "\"00ff10e2-9a0b-4c3d-8e4f-a5b6c7d8e9f0\"")
        for micros: Int64 in [0, 1_795_780_800_123_456, -1_000, 253_402_300_799_999_999] {
            #expect(written { $0.quotedTimestamp(microsecondsSinceEpoch: micros) } == "\"\(RFC3339.utcMilliseconds(microsecondsSinceEpoch: micros))\"")
        }
        #expect(written { $0.quotedTimestamp(microsecondsSinceEpoch: 1_795_780_800_123_456) } == "\"2026-11-27T12:00:00.123Z\"")
    }

    @Test func aCopyIsIndependentOfTheBufferItWasCopiedFrom() {
        var first = JSONBuffer(reservingCapacity: 64)
        first.raw("[1")
        var second = first
        second.raw(",2]")
        first.raw("]")
        #expect(first.string == "[1]")
        #expect(second.string == "[1,2]")
        #expect(second.bytes == Array("[1,2]".utf8))
    }

    @Test func itGrowsPastWhatWasReservedKeepingEveryByte() {
        var out = JSONBuffer(reservingCapacity: 1)
        var expected = ""
        for k in 0..<500 {
            out.number(k)
            out.raw(",")
            out.quoted("é\(k)")
            expected += "\(k),\"é\(k)\""
        }
        #expect(out.string == expected)
    }

    @Test func rawTextIsCopiedAsItIs() {
        let jsonb = #"{"team": "a", "n": [1, 2]}"#
        #expect(written { $0.raw("["); $0.raw(jsonb); $0.raw(","); $0.raw(Substring(jsonb).description); $0.raw("]") } == "[\(jsonb),\(jsonb)]")
    }
}
