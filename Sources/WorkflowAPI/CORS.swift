import HTTPHead
import HTTPTypes

/// Cross-origin access for browsers on other origins (`WORKFLOWD_CORS_ORIGINS`). workflowd answers CORS
/// itself rather than nginx so that the allow-list is one setting of the process that every stack
/// (`make run`, tests, the package) already passes `WORKFLOWD_*` to, and so that a preflight knows the
/// path's methods from the route table. No credentials mode: the API authenticates with a bearer token,
/// never a cookie, so `Access-Control-Allow-Credentials` is never sent.
public struct CORSPolicy: Sendable, Equatable {
    /// Exact origins (`scheme://host[:port]`, lower case); empty: same origin only, no CORS headers at all.
    public let allowedOrigins: Set<String>

    /// The request headers a cross-origin client may send (what the API reads beyond the safelisted ones).
    static let allowHeaders = "Authorization, Content-Type, Idempotency-Key, If-Match, Last-Event-ID"
    /// The response headers a cross-origin script may read (beyond the safelisted ones).
    static let exposeHeaders = "ETag, Location, X-Request-Id, Idempotent-Replayed, Retry-After"
    /// How long a browser may reuse a preflight answer.
    static let maxAgeSeconds = "600"

    public init(allowedOrigins: Set<String> = []) {
        self.allowedOrigins = allowedOrigins
    }

    /// The allow-list from a comma- or space-separated list of origins; nil and the offending entry when
    /// one is not an origin (a path, a wildcard or a trailing slash would never match a browser's `Origin`).
    public static func parse(_ text: String) -> (policy: CORSPolicy?, invalid: String?) {
        var origins: Set<String> = []
        for entry in text.split(whereSeparator: { $0 == "," || $0 == " " }) {
            guard let origin = normalizedOrigin(entry) else { return (nil, String(entry)) }
            origins.insert(origin)
        }
        return (CORSPolicy(allowedOrigins: origins), nil)
    }

    /// `https://Example.com:8443` → `https://example.com:8443`; nil for anything but an http(s) origin.
    static func normalizedOrigin(_ text: Substring) -> String? {
        let lower = text.lowercased()
        let scheme: String
        if lower.hasPrefix("http://") { scheme = "http://" } else if lower.hasPrefix("https://") { scheme = "https://" } else { return nil }
        let authority = lower.dropFirst(scheme.count)
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789.-:[]")
        guard !authority.isEmpty, authority.allSatisfy(allowed.contains), authority.first != ":" else { return nil }
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            let port = authority[authority.index(after: colon)...]
            guard !port.isEmpty, port.allSatisfy(\.isNumber), port.count <= 5 else { return nil }
        }
        return scheme + authority
    }

    /// The request's origin when it is on the allow-list.
    func allowedOrigin(_ head: RequestHead) -> String? {
        guard !allowedOrigins.isEmpty, let origin = head.headerFields[.origin], allowedOrigins.contains(origin.lowercased()) else { return nil }
        return origin
    }

    /// The headers every response carries: for an allowed origin, who may read it and which headers it
    /// exposes; `Vary: Origin` whenever CORS is on, since the answer then depends on the requesting origin.
    /// The origin is echoed as sent: it equals an allow-list entry (ignoring case), which holds only
    /// scheme, host and port characters.
    func responseHeaders(_ head: RequestHead) -> HeaderFields {
        guard !allowedOrigins.isEmpty else { return [:] }
        var fields: HeaderFields = [.vary: "Origin"]
        if let origin = allowedOrigin(head) {
            fields[.accessControlAllowOrigin] = origin
            fields[.accessControlExposeHeaders] = Self.exposeHeaders
        }
        return fields
    }

    /// Whether `head` is a preflight (`OPTIONS` with `Access-Control-Request-Method`) from an allowed origin.
    func isAllowedPreflight(_ head: RequestHead) -> Bool {
        head.method == .options && head.headerFields[.accessControlRequestMethod] != nil && allowedOrigin(head) != nil
    }

    /// The answer to an allowed preflight on a path that has `methods` (`Allow`'s list).
    static func preflightHeaders(methods: String) -> HeaderFields {
        [.accessControlAllowMethods: methods, .accessControlAllowHeaders: allowHeaders, .accessControlMaxAge: maxAgeSeconds]
    }
}
