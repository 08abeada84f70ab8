public import HTTPTypes

/// Header fields in order, read by name: a request's as the web server sent them, a response's as the
/// API sets them.
///
/// Not `HTTPFields`: that checks every value byte by byte when a field is made and inserts through an
/// unspecialized generic path with an index it builds on the side (bench/README.md counts both). These
/// hold `(name, value)` pairs in an array. A response's values are written to the web server as they are,
/// so whoever sets one from outside text passes it through `legal(_:)` first; the ones the API makes itself
/// (numbers, ids, media types, constants) are legal by construction.
public struct HeaderFields: Sendable, Equatable, RandomAccessCollection, ExpressibleByDictionaryLiteral {
    /// One header field.
    public struct Field: Sendable, Equatable {
        public var name: HTTPField.Name
        public var value: String

        public init(name: HTTPField.Name, value: String) {
            self.name = name
            self.value = value
        }
    }

    private var fields: [Field] = []

    public init() {}

    public init(_ fields: HTTPFields) {
        self.fields = fields.map { Field(name: $0.name, value: $0.value) }
    }

    public init(dictionaryLiteral elements: (HTTPField.Name, String)...) {
        fields = elements.map { Field(name: $0.0, value: $0.1) }
    }

    public mutating func append(_ name: HTTPField.Name, _ value: String) { fields.append(Field(name: name, value: value)) }
    public mutating func append(contentsOf other: HeaderFields) { fields.append(contentsOf: other.fields) }
    public mutating func reserveCapacity(_ capacity: Int) { fields.reserveCapacity(capacity) }

    public var startIndex: Int { fields.startIndex }
    public var endIndex: Int { fields.endIndex }
    public subscript(position: Int) -> Field { fields[position] }

    /// The first value of `name`: for the fields that are sent once (a web server passes each header
    /// it received; `Authorization`, `If-Match`, an idempotency key are single-valued).
    public func first(_ name: HTTPField.Name) -> String? {
        for field in fields where field.name == name { return field.value }
        return nil
    }

    /// Every value of `name` joined as `HTTPFields` joins them: with ", ", or "; " for `Cookie`. Set, it
    /// replaces every field of that name with one (nil removes them).
    public subscript(name: HTTPField.Name) -> String? {
        get {
            var joined: String?
            for field in fields where field.name == name {
                if let text = joined { joined = text + (name == .cookie ? "; " : ", ") + field.value } else { joined = field.value }
            }
            return joined
        }
        set {
            fields.removeAll { $0.name == name }
            if let newValue { append(name, newValue) }
        }
    }

    /// `text` as a field may carry it: a byte no field value may hold (a control character, a line break)
    /// becomes a space, and surrounding whitespace goes, as `HTTPField` does it.
    public static func legal(_ text: String) -> String {
        var text = text
        // Checked here first: `HTTPField`'s check of a value walks it through a generic path (~500
        // instructions for a request id, which every response echoes).
        if text.withUTF8({ isLegalValue($0) }) { return text }
        return HTTPField(name: .contentType, value: text).value
    }

    /// RFC 9110's field-value: visible characters, spaces and tabs, and bytes of 0x80 and above, with no
    /// space or tab at either end.
    static func isLegalValue(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = bytes.first, let last = bytes.last else { return true }
        if first == 0x20 || first == 0x09 || last == 0x20 || last == 0x09 { return false }
        for byte in bytes where (byte < 0x20 && byte != 0x09) || byte == 0x7F { return false }
        return true
    }
}
