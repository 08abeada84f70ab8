import Foundation

/// RFC 7386 merge patch on JSON text, for the in-memory repository (PostgreSQL's is the SQL function
/// `workflowd_merge_patch`; the contract suite holds the two to the same results).
public enum JSONMergePatch {
    public static func apply(_ patch: String, to target: String) -> String {
        serialize(merge(parse(patch), into: parse(target)))
    }

    /// The members of a JSON object whose keys are in `keys`.
    public static func keeping(_ keys: Set<String>, of object: String) -> String {
        serialize((parse(object) as? [String: Any] ?? [:]).filter { keys.contains($0.key) })
    }

    static func merge(_ patch: Any, into target: Any?) -> Any {
        guard let patch = patch as? [String: Any] else { return patch }
        var result = target as? [String: Any] ?? [:]
        for (key, value) in patch {
            if value is NSNull { result[key] = nil } else { result[key] = merge(value, into: result[key]) }
        }
        return result
    }

    static func parse(_ text: String) -> Any {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) ?? NSNull()
    }

    static func serialize(_ value: Any) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed])) ?? Data("null".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
