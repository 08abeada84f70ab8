import Foundation
import TextCoding
import Workflows

/// The JSON Schema subset an input wait may declare, and the validator of input against it. Pure: the
/// schema is checked when the wait is set (an unsupported keyword is refused, never ignored), and the
/// input when it is provided, reporting every failing instance path.
enum InputSchema {
    static let types: Set<String> = ["object", "string", "number", "integer", "boolean", "array", "null"]
    static let keywords: Set<String> = [
        "type", "properties", "required", "enum", "const", "minLength", "maxLength", "minimum", "maximum", "items",
        "additionalProperties", "title", "description",
    ]

    /// What is wrong with a schema: (JSON Pointer within the schema, message); empty when it is usable.
    static func problems(in schema: JSONValue, at path: String = "") -> [(String, String)] {
        guard case .object(let members) = schema else { return [(path, "must be a schema object, not \(schema.typeName)")] }
        var found: [(String, String)] = []
        for (key, value) in members {
            let here = path + "/" + escape(key)
            guard keywords.contains(key) else {
                found.append((here, "\(JSONString.quoted(key)) is not a supported keyword; use \(keywords.sorted().joined(separator: ", "))"))
                continue
            }
            switch (key, value) {
            case ("type", .string(let name)) where types.contains(name): break
            case ("type", .array(let names)) where !names.isEmpty && names.allSatisfy({ if case .string(let n) = $0 { types.contains(n) } else { false } }): break
            case ("type", _): found.append((here, "must be one of \(types.sorted().joined(separator: ", ")) (or an array of them)"))
            case ("properties", .object(let properties)):
                for (name, property) in properties { found += problems(in: property, at: here + "/" + escape(name)) }
            case ("properties", _): found.append((here, "must be an object of schemas"))
            case ("required", .array(let names)) where names.allSatisfy({ if case .string = $0 { true } else { false } }): break
            case ("required", _): found.append((here, "must be an array of property names"))
            case ("enum", .array(let values)) where !values.isEmpty: break
            case ("enum", _): found.append((here, "must be a non-empty array"))
            case ("const", _), ("title", .string), ("description", .string): break
            case ("title", _), ("description", _): found.append((here, "must be a string"))
            case ("minLength", .number(let n)), ("maxLength", .number(let n)):
                if integer(n).map({ $0 < 0 }) ?? true { found.append((here, "must be a non-negative integer")) }
            case ("minLength", _), ("maxLength", _): found.append((here, "must be a non-negative integer"))
            case ("minimum", .number), ("maximum", .number): break
            case ("minimum", _), ("maximum", _): found.append((here, "must be a number"))
            case ("items", .object): found += problems(in: value, at: here)
            case ("items", _): found.append((here, "must be a schema object"))
            case ("additionalProperties", .bool): break
            case ("additionalProperties", _): found.append((here, "must be true or false"))
            default: break
            }
        }
        return found
    }

    /// Every way `value` fails `schema` (which passed `problems(in:)`), as JSON Pointers into the input.
    static func violations(of value: JSONValue, against schema: JSONValue, at path: String = "") -> [InputViolation] {
        var found: [InputViolation] = []
        func fail(_ message: String, at where: String = path) { found.append(InputViolation(path: `where`, message: message)) }
        if let type = schema["type"] {
            let allowed: [String]
            switch type {
            case .string(let name): allowed = [name]
            case .array(let names): allowed = names.compactMap { if case .string(let n) = $0 { n } else { nil } }
            default: allowed = []
            }
            guard allowed.contains(where: { matches(value, type: $0) }) else {
                fail("must be \(allowed.map(article).joined(separator: " or ")), not \(value.typeName)")
                return found
            }
        }
        if case .array(let options)? = schema["enum"], !options.contains(where: { equal($0, value) }) {
            fail("must be one of \(options.map(\.serialized).joined(separator: ", "))")
        }
        if let expected = schema["const"], !equal(expected, value) { fail("must be \(expected.serialized)") }
        switch value {
        case .string(let text):
            let length = text.unicodeScalars.count
            if case .number(let n)? = schema["minLength"], let min = integer(n), length < min { fail("must be at least \(min) characters") }
            if case .number(let n)? = schema["maxLength"], let max = integer(n), length > max { fail("must be at most \(max) characters") }
        case .number(let text):
            let number = Double(text) ?? .nan
            if case .number(let n)? = schema["minimum"], let min = Double(n), number < min { fail("must be at least \(n)") }
            if case .number(let n)? = schema["maximum"], let max = Double(n), number > max { fail("must be at most \(n)") }
        case .array(let items):
            if let itemSchema = schema["items"] {
                for (i, item) in items.enumerated() { found += violations(of: item, against: itemSchema, at: "\(path)/\(i)") }
            }
        case .object(let members):
            let properties: [(key: String, value: JSONValue)] = if case .object(let p)? = schema["properties"] { p } else { [] }
            if case .array(let required)? = schema["required"] {
                for case .string(let name) in required where value[name] == nil { fail("is required", at: path + "/" + escape(name)) }
            }
            for (key, member) in members {
                if let property = properties.first(where: { $0.key == key }) {
                    found += violations(of: member, against: property.value, at: path + "/" + escape(key))
                } else if schema["additionalProperties"] == .bool(false) {
                    fail("is not allowed (the schema lists the allowed properties)", at: path + "/" + escape(key))
                }
            }
        case .null, .bool: break
        }
        return found
    }

    static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("object", .object), ("string", .string), ("number", .number), ("boolean", .bool), ("array", .array), ("null", .null): true
        case ("integer", .number(let text)): Double(text).map { $0.rounded() == $0 && $0.isFinite } ?? false
        default: false
        }
    }

    /// JSON equality: numbers by value, objects regardless of member order.
    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.number(let x), .number(let y)): return x == y || (Double(x) != nil && Double(x) == Double(y))
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.object(let x), .object(let y)):
            return x.count == y.count && x.allSatisfy { member in y.first { $0.key == member.key }.map { equal(member.value, $0.value) } ?? false }
        default: return a == b
        }
    }

    private static func integer(_ text: String) -> Int? {
        Double(text).flatMap { $0.rounded() == $0 && abs($0) < 1e15 ? Int($0) : nil }
    }

    private static func article(_ type: String) -> String {
        switch type {
        case "object", "integer", "array": "an \(type)"
        case "null": "null"
        default: "a \(type)"
        }
    }

    /// JSON Pointer escaping of one member name.
    static func escape(_ name: String) -> String {
        name.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }
}
