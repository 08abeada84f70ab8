/// JSON string literals, written by hand because Foundation's encoders are slow on Linux and every
/// response, stored event and log line needs them.
public enum JSONString {
    /// `s` as a JSON string literal, quotes included (RFC 8259 escaping).
    public static func quoted(_ s: String) -> String {
        // Most strings (ids, names, statuses) need no escape: one scan of the bytes, one concatenation.
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            return "\"" + s + "\""
        }
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
        return out
    }
}
