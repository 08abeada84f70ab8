import Foundation

/// Checks real responses against the OpenAPI document: the status is documented for the operation, the
/// content type is the documented one, required headers are present, and the body matches the schema
/// (the JSON Schema subset the document uses: $ref, type, enum, required, properties,
/// additionalProperties, items, minItems, anyOf, pattern, minimum/maximum, minLength/maxLength, format uuid).
public struct OpenAPIValidator: @unchecked Sendable {
    public let document: [String: Any]

    public init(json: String) throws {
        guard let document = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw ShellError(description: "the OpenAPI document is not a JSON object")
        }
        self.document = document
    }

    /// Problems with `response` to `method path`; empty when it conforms.
    public func violations(method: String, path: String, response: HTTPResult) -> [String] {
        let bare = String(path.split(separator: "?", maxSplits: 1).first ?? "")
        guard let (template, item) = pathItem(for: bare) else { return ["\(bare) is not in the document"] }
        guard let operation = item[method.lowercased()] as? [String: Any] else { return ["\(method) \(template) is not documented"] }
        let responses = operation["responses"] as? [String: Any] ?? [:]
        guard var documented = (responses[String(response.status)] ?? responses["default"]) as? [String: Any] else {
            return ["\(method) \(template): status \(response.status) is not documented"]
        }
        documented = resolve(documented)
        var problems: [String] = []
        for (name, header) in documented["headers"] as? [String: Any] ?? [:] {
            let header = resolve(header as? [String: Any] ?? [:])
            if header["required"] as? Bool == true && response.header(name) == nil {
                problems.append("\(method) \(template) \(response.status): required header \(name) is missing")
            }
        }
        guard let content = documented["content"] as? [String: Any] else { return problems }
        let contentType = response.header("content-type")?.split(separator: ";").first.map(String.init) ?? ""
        guard let media = content[contentType] as? [String: Any] else {
            return problems + ["\(method) \(template) \(response.status): content type \(contentType) is not one of \(content.keys.sorted())"]
        }
        if let schema = media["schema"] as? [String: Any] {
            guard let body = try? JSONSerialization.jsonObject(with: Data(response.body), options: [.fragmentsAllowed]) else {
                return problems + ["\(method) \(template) \(response.status): body is not JSON"]
            }
            problems += validate(body, schema, at: "body").map { "\(method) \(template) \(response.status): \($0)" }
        }
        return problems
    }

    private func pathItem(for path: String) -> (String, [String: Any])? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        for (template, item) in document["paths"] as? [String: Any] ?? [:] {
            let parts = template.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == segments.count else { continue }
            if zip(parts, segments).allSatisfy({ $0.hasPrefix("{") || $0 == $1 }) { return (template, item as? [String: Any] ?? [:]) }
        }
        return nil
    }

    private func resolve(_ object: [String: Any]) -> [String: Any] {
        guard let ref = object["$ref"] as? String, ref.hasPrefix("#/") else { return object }
        var current: Any = document
        for part in ref.dropFirst(2).split(separator: "/") { current = (current as? [String: Any])?[String(part)] as Any }
        return resolve(current as? [String: Any] ?? [:])
    }

    /// Problems with `value` against `schema` (which may be a `$ref`); empty when it conforms.
    public func violations(of value: Any, against schema: [String: Any], at path: String) -> [String] {
        validate(value, schema, at: path)
    }

    func validate(_ value: Any, _ rawSchema: [String: Any], at path: String) -> [String] {
        let schema = resolve(rawSchema)
        var problems: [String] = []
        if let options = schema["anyOf"] as? [[String: Any]] {
            if !options.contains(where: { validate(value, $0, at: path).isEmpty }) { problems.append("\(path) matches none of anyOf") }
        }
        if let types = (schema["type"] as? [String]) ?? (schema["type"] as? String).map({ [$0] }) {
            if !types.contains(where: { Self.matches(value, type: $0) }) { return ["\(path): \(value) is not \(types)"] }
        }
        if let allowed = schema["enum"] as? [Any], !allowed.contains(where: { "\($0)" == "\(value)" }) {
            problems.append("\(path): \(value) not in enum")
        }
        if let string = value as? String {
            if let pattern = schema["pattern"] as? String, string.range(of: pattern, options: .regularExpression) == nil {
                problems.append("\(path): \(string) does not match \(pattern)")
            }
            if schema["format"] as? String == "uuid" && UUID(uuidString: string) == nil { problems.append("\(path): \(string) is not a uuid") }
            if let min = schema["minLength"] as? Int, string.count < min { problems.append("\(path): shorter than \(min)") }
            if let max = schema["maxLength"] as? Int, string.count > max { problems.append("\(path): longer than \(max)") }
        }
        if let number = value as? NSNumber {
            if let min = schema["minimum"] as? Double, number.doubleValue < min { problems.append("\(path): below \(min)") }
            if let max = schema["maximum"] as? Double, number.doubleValue > max { problems.append("\(path): above \(max)") }
        }
        if let array = value as? [Any] {
            if let min = schema["minItems"] as? Int, array.count < min { problems.append("\(path): fewer than \(min) items") }
            if let items = schema["items"] as? [String: Any] {
                for (i, item) in array.enumerated() { problems += validate(item, items, at: "\(path)[\(i)]") }
            }
        }
        if let object = value as? [String: Any] {
            for name in schema["required"] as? [String] ?? [] where object[name] == nil { problems.append("\(path).\(name) is required") }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for (name, member) in object {
                if let propertySchema = properties[name] as? [String: Any] {
                    problems += validate(member, propertySchema, at: "\(path).\(name)")
                } else if schema["additionalProperties"] as? Bool == false {
                    problems.append("\(path).\(name) is not allowed")
                } else if let additional = schema["additionalProperties"] as? [String: Any] {
                    problems += validate(member, additional, at: "\(path).\(name)")
                }
            }
        }
        return problems
    }

    static func matches(_ value: Any, type: String) -> Bool {
        switch type {
        case "null": return value is NSNull
        // Foundation bridges JSON numbers and booleans through NSNumber; integers are told by their value.
        case "boolean": return value is Bool
        case "integer": return (value as? NSNumber).map { $0.doubleValue == $0.doubleValue.rounded() } ?? false
        case "number": return value is NSNumber
        case "string": return value is String
        case "array": return value is [Any]
        case "object": return value is [String: Any]
        default: return true
        }
    }
}
