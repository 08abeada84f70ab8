/// JSON string literals, written by hand because Foundation's encoders are slow on Linux and every
/// response, stored event and log line needs them.
public enum JSONString {
    /// `s` as a JSON string literal, quotes included (RFC 8259 escaping).
    public static func quoted(_ s: String) -> String {
        // Most strings (ids, names, statuses) need no escape: one scan of the bytes, one concatenation.
        var s = s
        if !s.withUTF8({ JSONBuffer.needsEscaping($0) }) {
            return "\"" + s + "\""
        }
        var out = JSONBuffer(reservingCapacity: s.utf8.count + 8)
        out.quoted(s)
        return out.string
    }
}
