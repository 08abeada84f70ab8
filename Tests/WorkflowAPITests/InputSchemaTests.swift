import Testing
@testable import WorkflowAPI
import Workflows

@Suite struct InputSchemaTests {
    func json(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

    func violations(_ data: String, _ schema: String) throws -> [String] {
        InputSchema.violations(of: try json(data), against: try json(schema)).map { "\($0.path): \($0.message)" }
    }

    let story = #"""
        {"type": "object", "title": "Story", "required": ["title", "priority"], "additionalProperties": false,
         "properties": {
            "title": {"type": "string", "minLength": 3, "maxLength": 10, "description": "Short"},
            "priority": {"enum": ["low", "high"]},
            "points": {"type": "integer", "minimum": 1, "maximum": 13},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 4}},
            "owner": {"type": ["string", "null"]},
            "version": {"const": 2}
         }}
        """#

    @Test func theSupportedSubsetIsAccepted() throws {
        #expect(InputSchema.problems(in: try json(story)).isEmpty)
    }

    @Test func everyUnsupportedKeywordIsNamedWithItsPath() throws {
        let problems = InputSchema.problems(in: try json(#"""
            {"type": "object", "properties": {"name": {"type": "string", "pattern": "^a"}}, "oneOf": [], "items": {"format": "x"}}
            """#))
        #expect(problems.map(\.0).sorted() == ["/items/format", "/oneOf", "/properties/name/pattern"])
        #expect(problems.first { $0.0 == "/properties/name/pattern" }?.1.contains("\"pattern\" is not a supported keyword") == true)
    }

    @Test func malformedKeywordValuesAreRefused() throws {
        let problems = InputSchema.problems(in: try json(#"""
            {"type": "text", "required": "a", "minLength": -1, "maxLength": 1.5, "minimum": "0", "additionalProperties": {}, "enum": []}
            """#))
        #expect(Set(problems.map(\.0)) == ["/type", "/required", "/minLength", "/maxLength", "/minimum", "/additionalProperties", "/enum"])
        #expect(InputSchema.problems(in: try json("[]")).map(\.1) == ["must be a schema object, not an array"])
    }

    @Test func validInputHasNoViolations() throws {
        #expect(try violations(#"{"title": "Ship", "priority": "high", "points": 5.0, "tags": ["a"], "owner": null, "version": 2.0}"#, story).isEmpty)
    }

    @Test func everyFailingPathIsReportedWithItsReason() throws {
        let found = try violations(#"{"priority": "urgent", "points": 1.5, "tags": ["ok", "toolong", 3], "title": "ab", "extra": 1, "version": 3}"#, story)
        #expect(Set(found) == [
            "/title: must be at least 3 characters",
            "/priority: must be one of \"low\", \"high\"",
            "/points: must be an integer, not a number",
            "/tags/1: must be at most 4 characters",
            "/tags/2: must be a string, not a number",
            "/extra: is not allowed (the schema lists the allowed properties)",
            "/version: must be 2",
        ])
        #expect(try violations(#"{}"#, story) == ["/title: is required", "/priority: is required"])
        #expect(try violations(#"{"title": "abcdefghijk", "priority": "low", "points": 14}"#, story)
            == ["/title: must be at most 10 characters", "/points: must be at most 13"])
        #expect(try violations(#"[1]"#, story) == [": must be an object, not an array"])
    }

    @Test func pointersEscapeTildeAndSlash() throws {
        #expect(try violations(#"{}"#, #"{"type": "object", "required": ["a/b~c"]}"#) == ["/a~1b~0c: is required"])
    }

    @Test func lengthsCountCharactersNotBytes() throws {
        #expect(try violations(#""héé""#, #"{"type": "string", "maxLength": 3}"#).isEmpty)
    }
}
