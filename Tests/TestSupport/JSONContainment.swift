import Foundation

/// PostgreSQL's jsonb containment (`a @> b`) for the in-memory repository, so that its listing filters
/// exactly as the database's does: an object contains another when it has each of its keys with a value
/// that contains that key's value; an array contains another when each of its elements is contained by
/// some element (order and repeats do not matter); scalars must be equal, numbers by value; values of
/// different kinds never contain each other, except that a top-level array contains a top-level scalar
/// it has as an element.
public enum JSONContainment {
    indirect enum Value: Decodable {
        case null, bool(Bool), number(Decimal), string(String), array([Value]), object([String: Value])

        init(from decoder: any Decoder) throws {
            let single = try decoder.singleValueContainer()
            if single.decodeNil() { self = .null }
            else if let value = try? single.decode(Bool.self) { self = .bool(value) }
            else if let value = try? single.decode(Decimal.self) { self = .number(value) }
            else if let value = try? single.decode(String.self) { self = .string(value) }
            else if let value = try? single.decode([Value].self) { self = .array(value) }
            else { self = .object(try single.decode([String: Value].self)) }
        }

        var isContainer: Bool {
            switch self {
            case .array, .object: true
            default: false
            }
        }
    }

    /// Whether the JSON text `container` contains the JSON text `contained`; false when either is not JSON.
    public static func contains(_ container: String, _ contained: String) -> Bool {
        let decoder = JSONDecoder()
        guard let a = try? decoder.decode(Value.self, from: Data(container.utf8)),
            let b = try? decoder.decode(Value.self, from: Data(contained.utf8))
        else { return false }
        if case .array(let items) = a, !b.isContainer { return items.contains { !$0.isContainer && contains(scalar: $0, b) } }
        return contains(a, b)
    }

    static func contains(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.object(let x), .object(let y)):
            return y.allSatisfy { key, value in x[key].map { contains($0, value) } ?? false }
        case (.array(let x), .array(let y)):
            return y.allSatisfy { wanted in
                x.contains { wanted.isContainer ? contains($0, wanted) : !$0.isContainer && contains(scalar: $0, wanted) }
            }
        default:
            return contains(scalar: a, b)
        }
    }

    static func contains(scalar a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case (.bool(let x), .bool(let y)): x == y
        case (.number(let x), .number(let y)): x == y
        case (.string(let x), .string(let y)): x == y
        default: false
        }
    }
}
