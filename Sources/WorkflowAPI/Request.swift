import Foundation
import HTTPTypes

/// The parts of an HTTP request the handlers use, parsed once.
struct APIRequest {
    let head: HTTPRequest
    let body: [UInt8]
    let path: String
    let segments: [Substring]
    let query: [(String, String)]
    let requestId: String
    /// Headers every response to this request carries, whatever renders it (CORS).
    var responseHeaders: HTTPFields = [:]

    init(head: HTTPRequest, body: [UInt8], requestId: String) {
        self.head = head
        self.body = body
        self.requestId = requestId
        let full = head.path ?? "/"
        let questionMark = full.firstIndex(of: "?")
        path = String(full[..<(questionMark ?? full.endIndex)])
        query = questionMark.map { Self.parseQuery(full[full.index(after: $0)...]) } ?? []
        segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map { $0 }
    }

    func queryValue(_ name: String) -> String? { query.first { $0.0 == name }?.1 }

    /// `a=1&b=x%20y` → [("a","1"), ("b","x y")]; `+` is a space, as browsers send it.
    static func parseQuery(_ text: Substring) -> [(String, String)] {
        text.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                let spaced = s.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
    }

    /// Whether the body is declared as JSON (`application/json` or any `+json` type).
    var hasJSONContentType: Bool {
        guard let field = head.headerFields[.contentType] else { return false }
        let type = field.prefix { $0 != ";" }.trimmingHTTPWhitespace().lowercased()
        return type == "application/json" || (type.hasPrefix("application/") && type.hasSuffix("+json"))
    }
}

extension StringProtocol where SubSequence == Substring {
    /// Without leading and trailing spaces and tabs (HTTP's optional whitespace); cheaper than
    /// Foundation's `trimmingCharacters(in:)`, which bridges through NSString on Linux.
    func trimmingHTTPWhitespace() -> Substring {
        let isSpace = { (c: Character) in c == " " || c == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }) else { return self[endIndex...] }
        let last = lastIndex(where: { !isSpace($0) })!
        return self[first...last]
    }
}
